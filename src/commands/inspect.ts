import {Args, Flags} from '@oclif/core';
import {BaseCommand} from '../base-command.js';
import {NotFoundError} from '../errors.js';

export default class Inspect extends BaseCommand {
  static override description = 'Say what a model is (family, kind, precision, memory, how to load it) without loading weights';
  static override args = {model: Args.string({description: 'MODEL_ID: a local file or folder (default: $MODEL_ID)', required: false})};
  static override flags = {json: Flags.boolean({description: 'print the ModelReport as JSON'})};

  async run(): Promise<void> {
    const {args} = await this.parse(Inspect);
    throw new NotFoundError(`no such file or folder: ${args.model ?? process.env.MODEL_ID ?? ''}`);
  }
}
