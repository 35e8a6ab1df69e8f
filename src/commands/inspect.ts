import {Args, Flags} from '@oclif/core';
import {BaseCommand} from '../base-command.js';
import {UsageError} from '../errors.js';
import type {TensorInfo} from '../detect/types.js';

export default class Inspect extends BaseCommand {
  static override description = 'Say what a model is (family, kind, precision, memory, how to load it) without loading weights';
  static override examples = [
    '<%= config.bin %> inspect ./sd_xl_base_1.0.safetensors',
    '<%= config.bin %> inspect ./my-lora.safetensors --json',
    '<%= config.bin %> inspect ./model --keys --filter "*attn2.to_k*"',
    'MODEL_ID=./flux1-dev.safetensors <%= config.bin %> inspect',
  ];
  static override args = {model: Args.string({description: 'MODEL_ID: local path, org/name[@rev][/file], hf://, civitai:ID[@VER], AIR, https URL or builtin:NAME (default: $MODEL_ID)', required: false})};
  static override flags = {
    json: Flags.boolean({description: 'print the ModelReport as JSON'}),
    keys: Flags.boolean({description: 'list tensors (name, dtype, shape) instead of the summary'}),
    filter: Flags.string({description: 'with --keys: only names matching this glob (* and ?)'}),
    revision: Flags.string({description: 'branch, tag or commit (HF)', parse: async (v) => (await import('../sources/model-id.js')).parseRevisionFlag(v)}),
    file: Flags.string({description: 'the file to inspect when a repo or CivitAI version has several'}),
    offline: Flags.boolean({description: 'use the cache only (also HF_HUB_OFFLINE=1)'}),
    vram: Flags.string({description: 'say which --memory / --quantize makes the model fit this much GPU memory (8GiB, 12GB, or "local": the local GPU\'s free memory)'}),
    token: Flags.string({description: 'HF or CivitAI token (default HF_TOKEN / CIVITAI_TOKEN)'}),
    endpoint: Flags.string({description: 'HF Hub endpoint (default HF_ENDPOINT or https://huggingface.co)'}),
  };

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Inspect);
    if (flags.filter !== undefined && !flags.keys) throw new UsageError('--filter works only with --keys');
    this.secrets.push(flags.token);
    const {openForInspect} = await import('../cli/open-for-inspect.js');
    const {CountingTree} = await import('../detect/counting-tree.js');
    const opened = await openForInspect(args.model, {token: flags.token, endpoint: flags.endpoint, revision: flags.revision, file: flags.file, offline: flags.offline});
    const tree = new CountingTree(opened.tree);
    const started = process.hrtime.bigint();
    const render = await import('../render/inspect-text.js');
    if (flags.keys) {
      const {collectFacts} = await import('../detect/collect-facts.js');
      const facts = await collectFacts(tree);
      const all: Array<{component?: string; tensor: TensorInfo}> = [...facts.tensors.values()].map((tensor) => ({tensor}));
      for (const c of facts.components) for (const f of c.files) for (const tensor of f.tensors) all.push({component: c.name, tensor});
      const rows = render.filterKeys(all, flags.filter);
      if (flags.json) process.stdout.write(JSON.stringify(rows.map(({component, tensor}) => ({...(component ? {component} : {}), ...tensor}))) + '\n');
      else process.stdout.write(render.renderKeys(rows));
    } else {
      const {detect} = await import('../detect/index.js');
      const report = await detect(tree, opened.source);
      if (opened.civitai) {
        const {compareBaseModel} = await import('../sources/civitai/metadata.js');
        const w = compareBaseModel(opened.civitai.baseModel, report.family);
        if (w) report.warnings.push(w);
      }
      const fit = flags.vram ? await (await import('../cli/vram-fit.js')).fitFor(report, flags.vram) : null;
      if (flags.json) process.stdout.write(JSON.stringify(fit ? {...report, fit} : report, null, 2) + '\n');
      else {
        const text = render.renderInspect(report, render.makeStyle(render.colorEnabled()));
        // The fit line in the summary's label column (as wide as the widest label, e.g. `prediction`).
        const width = /^ {2}kind( +)/m.exec(text)?.[1]?.length ?? 7;
        process.stdout.write(text + (fit ? `  ${'fit'.padEnd(4 + width)}${fit.line}\n` : ''));
      }
      // A pickle that references code execution is a hostile file: the report is printed, and the exit is 6.
      const {dangerousGlobals} = await import('../detect/readers/pickle-security.js');
      const dangerous = dangerousGlobals(report.security.unsafe_globals);
      if (dangerous.length > 0) {
        const {InvalidModelError} = await import('../errors.js');
        const {escapeControl} = await import('../render/escape-control.js');
        const shown = dangerous.slice(0, 5).map((g) => escapeControl(g.length > 80 ? `${g.slice(0, 80)}...` : g)).join(', ');
        throw new InvalidModelError(`unsafe pickle: references ${shown}${dangerous.length > 5 ? ` and ${dangerous.length - 5} more` : ''} (code execution on load; never load this file)`);
      }
    }
    if (process.env.MGEN_STATS === '1') {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const s = tree.stats;
      this.note(`mgen-stats ${JSON.stringify({files_opened: s.opened, reads: s.reads, bytes: s.bytes, text_files: s.textFiles, text_bytes: s.textBytes, detect_ms: Math.round(ms * 10) / 10})}`);
    }
  }
}
