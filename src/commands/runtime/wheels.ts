import {Args, Flags} from '@oclif/core';
import {BaseCommand} from '../../base-command.js';

export default class RuntimeWheels extends BaseCommand {
  static override description = 'Download the runtime\'s pinned wheels (hash-checked) into a folder, for `runtime install --find-links DIR --no-index` on a machine with no network';
  static override examples = [
    '<%= config.bin %> runtime wheels ./wheels --profile cuda --skip torch   # for a GPU machine that has torch',
    '<%= config.bin %> runtime wheels ./wheels --only diffusers',
  ];
  static override args = {dir: Args.string({description: 'the wheel folder (created; wheels already there are kept)', required: true})};
  static override flags = {
    profile: Flags.string({description: 'requirements profile', options: ['auto', 'cpu', 'cuda'], default: 'auto'}),
    only: Flags.string({description: 'only this package (repeatable)', multiple: true}),
    skip: Flags.string({description: 'leave this package out (repeatable), e.g. torch', multiple: true}),
    python: Flags.string({description: 'the interpreter whose pip downloads; wheels are picked for its Python version and platform (default: the runtime, else python3)'}),
    'python-version': Flags.string({description: 'wheels for another Python version than the downloading one, e.g. 3.12 (pip --python-version)'}),
    platform: Flags.string({description: 'wheels for another platform, e.g. manylinux_2_28_x86_64 (pip --platform)'}),
  };

  async run(): Promise<void> {
    const {args, flags} = await this.parse(RuntimeWheels);
    const {downloadWheels} = await import('../../backends/runtime/wheels.js');
    let python = flags.python;
    if (!python) {
      const {findRuntime} = await import('../../backends/runtime/resolve.js');
      python = (await findRuntime().catch(() => null))?.python;
    }
    const r = await downloadWheels({dir: args.dir, profile: flags.profile as 'auto' | 'cpu' | 'cuda', only: flags.only, skip: flags.skip, python,
      pythonVersion: flags['python-version'], platform: flags.platform});
    process.stdout.write(`${r.files.length} wheel${r.files.length === 1 ? '' : 's'} in ${r.dir} (${r.downloaded} downloaded now)\n`);
  }
}
