import {Args, Flags} from '@oclif/core';
import {BaseCommand} from '../base-command.js';

export default class Rm extends BaseCommand {
  static override description = 'Remove a cached model: its snapshot(s) and the blobs no other snapshot uses';
  static override examples = ['<%= config.bin %> rm org/name', '<%= config.bin %> rm org/name@<commit>', '<%= config.bin %> rm civitai:4201'];
  static override args = {model: Args.string({description: 'MODEL_ID of a cached model', required: true})};
  static override flags = {json: Flags.boolean({description: 'print what was removed as JSON'})};

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Rm);
    const {removeCached} = await import('../sources/cache/inventory.js');
    const {rmText} = await import('../render/pull.js');
    const r = removeCached(args.model);
    this.log(flags.json ? JSON.stringify(r) : rmText(r));
  }
}
