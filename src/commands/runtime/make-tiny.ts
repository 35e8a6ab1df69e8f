import {Args} from '@oclif/core';
import {BaseCommand} from '../../base-command.js';

export default class RuntimeMakeTiny extends BaseCommand {
  static override description = 'Build a tiny random-weight model (for tests and demos) into a folder, with the runtime';
  static override examples = ['<%= config.bin %> runtime make-tiny tiny-sd ./tiny-sd', '<%= config.bin %> runtime make-tiny tiny-sd-lora-kohya ./lora',
    '<%= config.bin %> runtime make-tiny tiny-flux ./tiny-flux'];
  static override args = {
    name: Args.string({description: 'tiny-sd, tiny-sd-single, tiny-sdxl, tiny-sd-lora-kohya, tiny-sd-lora-peft, tiny-sd-ti, tiny-sd-controlnet, tiny-sd-controlnet-single, tiny-flux, tiny-sd3', required: true}),
    dir: Args.string({description: 'output folder (absent or empty)', required: true}),
  };

  async run(): Promise<void> {
    const {args} = await this.parse(RuntimeMakeTiny);
    const {ensureRuntime} = await import('../../backends/runtime/resolve.js');
    const {makeTiny, builtinName} = await import('../../backends/builtin.js');
    const {startStage} = await import('../../cli/progress.js');
    builtinName(`builtin:${args.name}`);
    const stage = await startStage(`building ${args.name}`);
    const m = await (async () => {
      const rt = await ensureRuntime({onProgress: (t) => stage.text(t)});
      stage.text(`building ${args.name}`);
      return makeTiny(args.name, args.dir, {python: rt.python});
    })().finally(() => stage.stop());
    process.stdout.write(`${args.dir}: ${m.name} (${m.layout}, ${m.files.length} files)\n`);
  }
}
