import {Args, Flags} from '@oclif/core';
import {BaseCommand} from '../base-command.js';

export default class Pull extends BaseCommand {
  static override description = 'Download what a model needs into the shared cache (HF hub layout; CivitAI/URL files by sha256)';
  static override examples = [
    '<%= config.bin %> pull stabilityai/sdxl-turbo --variant fp16',
    '<%= config.bin %> pull civitai:4201@130072',
    '<%= config.bin %> pull org/name --dry-run',
    '<%= config.bin %> pull org/name --include "unet/*" --json',
  ];
  static override args = {model: Args.string({description: 'MODEL_ID (default: $MODEL_ID)', required: false})};
  static override flags = {
    revision: Flags.string({description: 'branch, tag or commit (HF)', parse: async (v) => (await import('../sources/model-id.js')).parseRevisionFlag(v)}),
    variant: Flags.string({description: 'weights variant to prefer, e.g. fp16 (falls back to the default files)'}),
    all: Flags.boolean({description: 'every file of the repo'}),
    include: Flags.string({description: 'only files matching this glob (repeatable)', multiple: true}),
    exclude: Flags.string({description: 'skip files matching this glob (repeatable)', multiple: true}),
    file: Flags.string({description: 'the file to pull when a repo or CivitAI version has several'}),
    'dry-run': Flags.boolean({description: 'print the file list and total bytes; write nothing'}),
    json: Flags.boolean({description: 'print a JSON summary'}),
    offline: Flags.boolean({description: 'use the cache only (also HF_HUB_OFFLINE=1)'}),
    token: Flags.string({description: 'HF or CivitAI token (default HF_TOKEN / CIVITAI_TOKEN)'}),
    endpoint: Flags.string({description: 'HF Hub endpoint (default HF_ENDPOINT or https://huggingface.co)'}),
  };

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Pull);
    this.secrets.push(flags.token);
    // Detection (for the summary stored after the pull) loads while the download runs, not after it.
    const detect = flags['dry-run'] ? undefined : import('../detect/index.js');
    detect?.catch(() => undefined);
    const {pull} = await import('../sources/pull.js');
    const {progressFor, formatBytes} = await import('../sources/download/progress.js');
    const {asker} = await import('../sources/ask.js');
    const {pullJson, pullText} = await import('../render/pull.js');
    const ac = new AbortController();
    const onSigint = () => ac.abort();
    process.once('SIGINT', onSigint);
    const askHf = asker<string>('Several weight files: which one?');
    const askCiv = asker<import('../sources/civitai/client.js').CivitaiFile>('Several files fit: which one?');
    // What the pull turned out to be (its detection, for the summary): an IP-Adapter brings its image encoder.
    let pulled: {path: string; report: import('../detect/types.js').ModelReport} | undefined;
    const summarize = async (path: string) => {
      const {detectLocal} = await (detect ?? import('../detect/index.js'));
      const r = await detectLocal(path);
      pulled ??= {path, report: r};
      return {family: r.family, kind: r.kind, format: r.format, precision: r.precision};
    };
    try {
      const result = await pull(args.model, {
        revision: flags.revision, variant: flags.variant, all: flags.all, include: flags.include, exclude: flags.exclude, file: flags.file,
        dryRun: flags['dry-run'], offline: flags.offline, token: flags.token, endpoint: flags.endpoint, signal: ac.signal,
        progress: flags['dry-run'] ? undefined : await progressFor(),
        note: (m) => this.note(m),
        summarize,
        ...(askHf ? {chooseHfFile: (c) => askHf(c.map((x) => ({name: `${x.path} (${formatBytes(x.size)})`, value: x.path})))} : {}),
        ...(askCiv ? {chooseCivitaiFile: (c) => askCiv(c.map((x) => ({name: `${x.name} (${formatBytes(x.sizeKB * 1024)})`, value: x})))} : {}),
      });
      const deps: typeof result[] = [];
      if (pulled) {
        const {imageEncoderToPull} = await import('../backends/ip-adapter.js');
        const need = imageEncoderToPull(pulled.path, pulled.report);
        if (need) {
          this.note(`pulling image encoder ${need} for this IP-Adapter`);
          deps.push(await pull(need, {offline: flags.offline, token: flags.token, endpoint: flags.endpoint, signal: ac.signal, progress: await progressFor(), note: (m) => this.note(m), summarize}));
        }
      }
      this.log(flags.json ? pullJson(result, deps) : pullText(result, deps));
    } finally {
      process.off('SIGINT', onSigint);
    }
  }
}
