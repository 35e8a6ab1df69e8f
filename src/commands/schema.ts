import {Args, Flags} from '@oclif/core';
import {BaseCommand} from '../base-command.js';
import {loadFlags, modelIdFrom, sessionOptionsFromFlags} from '../cli/load-flags.js';

export default class Schema extends BaseCommand {
  static override description = 'Print the parameters the model\'s pipeline accepts (what --param can set), from the loaded pipeline';
  static override examples = ['<%= config.bin %> schema builtin:tiny-sd', '<%= config.bin %> schema ./model.safetensors --json'];
  static override args = {model: Args.string({description: 'MODEL_ID (default: $MODEL_ID)', required: false})};
  static override flags = {
    json: Flags.boolean({description: 'print the JSON Schema (2020-12)'}),
    image: Flags.boolean({description: 'the image-to-image pipeline\'s parameters'}),
    inpaint: Flags.boolean({description: 'the inpainting pipeline\'s parameters'}),
    ...loadFlags,
  };

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Schema);
    const {openSession} = await import('../backends/session.js');
    const {startStage} = await import('../cli/progress.js');
    const {renderSchemaTable, withMgenDefaults} = await import('../cli/schema-render.js');
    const modelId = modelIdFrom(args.model);
    const stage = await startStage(`loading ${modelId}`);
    const session = await openSession({
      ...sessionOptionsFromFlags(modelId, flags),
      task: flags.inpaint ? 'inpaint' : flags.image ? 'image-to-image' : 'text-to-image',
      image: flags.image || flags.inpaint,
      mask: flags.inpaint,
      verbose: this.verbose,
      onStage: (t) => stage.text(t),
      onNote: (t) => this.note(`mgen: ${t}`),
    }).finally(() => stage.stop());
    try {
      // The defaults shown are the ones a request without flags gets: the report's family defaults, as generate uses.
      const defaults = session.model.report.defaults ?? {width: 512, height: 512, steps: 30, guidance_scale: 7.5};
      const schema = withMgenDefaults(await session.schema(), defaults, session.plan.task);
      process.stdout.write(flags.json ? JSON.stringify(schema, null, 2) + '\n' : renderSchemaTable(schema, session.load.pipeline));
    } finally {
      await session.close().catch(() => session.worker.kill());
    }
  }
}
