import {Flags} from '@oclif/core';
import {BaseCommand} from '../base-command.js';

export default class List extends BaseCommand {
  static override description = 'List cached models: id, revision, size, family, kind, last used';
  static override examples = ['<%= config.bin %> list', '<%= config.bin %> list --json'];
  static override flags = {json: Flags.boolean({description: 'print the list as JSON'})};

  async run(): Promise<void> {
    const {flags} = await this.parse(List);
    const {listCached} = await import('../sources/cache/inventory.js');
    const {listText} = await import('../render/pull.js');
    const models = listCached();
    this.log(flags.json ? JSON.stringify(models) : listText(models));
  }
}
