import {Args, Flags} from '@oclif/core';
import {BaseCommand} from '../base-command.js';
import {UsageError} from '../errors.js';

export default class Inspect extends BaseCommand {
  static override description = 'Say what a model is (family, kind, precision, memory, how to load it) without loading weights';
  static override examples = [
    '<%= config.bin %> inspect ./sd_xl_base_1.0.safetensors',
    '<%= config.bin %> inspect ./my-lora.safetensors --json',
    '<%= config.bin %> inspect ./model --keys --filter "*attn2.to_k*"',
    'MODEL_ID=./flux1-dev.safetensors <%= config.bin %> inspect',
  ];
  static override args = {model: Args.string({description: 'MODEL_ID: a local file or folder (default: $MODEL_ID)', required: false})};
  static override flags = {
    json: Flags.boolean({description: 'print the ModelReport as JSON'}),
    keys: Flags.boolean({description: 'list tensors (name, dtype, shape) instead of the summary'}),
    filter: Flags.string({description: 'with --keys: only names matching this glob (* and ?)', dependsOn: ['keys']}),
  };

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Inspect);
    const id = args.model ?? process.env.MODEL_ID;
    if (!id) throw new UsageError('no model given', {hint: 'pass MODEL_ID as an argument or set $MODEL_ID'});
    const {openModel} = await import('../detect/open-model.js');
    const {CountingTree} = await import('../detect/counting-tree.js');
    const opened = await openModel(id);
    const tree = new CountingTree(opened.tree);
    const started = process.hrtime.bigint();
    const render = await import('../render/inspect-text.js');
    if (flags.keys) {
      const {collectFacts} = await import('../detect/collect-facts.js');
      const facts = await collectFacts(tree);
      const tensors = [...facts.tensors.values()].map((tensor) => ({tensor}));
      for (const c of facts.components) for (const f of c.files) for (const tensor of f.tensors) tensors.push({component: c.name, tensor} as never);
      if (flags.json) process.stdout.write(JSON.stringify(tensors.map(({tensor, component}: {tensor: {name: string; dtype: string; shape: number[]}; component?: string}) => ({component, ...tensor}))) + '\n');
      else process.stdout.write(render.renderKeys(tensors, flags.filter));
    } else {
      const {detect} = await import('../detect/index.js');
      const report = await detect(tree, opened.source);
      if (flags.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
      else process.stdout.write(render.renderInspect(report, render.makeStyle(render.colorEnabled())));
    }
    if (process.env.MGEN_STATS === '1') {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const s = tree.stats;
      this.note(`mgen-stats ${JSON.stringify({files_opened: s.opened, reads: s.reads, bytes: s.bytes, text_files: s.textFiles, text_bytes: s.textBytes, detect_ms: Math.round(ms * 10) / 10})}`);
    }
  }
}
