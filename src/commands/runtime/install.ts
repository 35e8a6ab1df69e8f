import {Flags} from '@oclif/core';
import {BaseCommand} from '../../base-command.js';

export default class RuntimeInstall extends BaseCommand {
  static override description = 'Provision the Python runtime (a venv with torch + diffusers under $MGEN_HOME/runtime); a no-op when it is ready';
  static override examples = [
    '<%= config.bin %> runtime install',
    '<%= config.bin %> runtime install --profile cpu',
    '<%= config.bin %> runtime install --python /usr/bin/python3 --system-site-packages   # reuse a torch the machine has',
  ];
  static override flags = {
    profile: Flags.string({description: 'requirements profile (auto: cuda when nvidia-smi works)', options: ['auto', 'cpu', 'cuda'], default: 'auto'}),
    python: Flags.string({description: 'the interpreter to build the venv from (default: python3)'}),
    'system-site-packages': Flags.boolean({description: 'let the venv see the interpreter\'s packages (and keep its torch)'}),
    'find-links': Flags.string({description: 'a folder of wheels for pip'}),
    'no-index': Flags.boolean({description: 'install only from --find-links (offline)'}),
    'torch-index-url': Flags.string({description: 'an extra index for torch wheels, e.g. https://download.pytorch.org/whl/cpu'}),
    force: Flags.boolean({description: 'rebuild even when the runtime is ready'}),
    json: Flags.boolean({description: 'print the runtime stamp as JSON'}),
    extra: Flags.string({description: 'also install an optional requirement set on top (python-runtime/requirements/<extra>.txt)', options: ['runpod'], multiple: true}),
  };

  async run(): Promise<void> {
    const {flags} = await this.parse(RuntimeInstall);
    const {installRuntime} = await import('../../backends/runtime/install.js');
    if (process.env.MGEN_PYTHON && !flags.force) {
      this.note(`mgen: MGEN_PYTHON is set (${process.env.MGEN_PYTHON}); nothing to provision`);
    }
    const {startStage} = await import('../../cli/progress.js');
    const stage = await startStage('checking the runtime');
    const r = await installRuntime({
      profile: flags.profile as 'auto' | 'cpu' | 'cuda',
      python: flags.python,
      systemSitePackages: flags['system-site-packages'],
      findLinks: flags['find-links'],
      noIndex: flags['no-index'],
      torchIndexUrl: flags['torch-index-url'],
      force: flags.force,
      onProgress: (t) => stage.text(t),
    }).finally(() => stage.stop());
    for (const extra of flags.extra ?? []) {
      const {installExtra} = await import('../../backends/runtime/extras.js');
      await installExtra({python: r.stamp.python, extra, findLinks: flags['find-links'], noIndex: flags['no-index'], onProgress: (t) => this.note(t)});
    }
    const v = r.stamp.versions;
    const wanted = flags.python !== undefined && (r.stamp.base_python !== flags.python || r.stamp.system_site_packages !== flags['system-site-packages']);
    if (!r.installed && wanted) {
      this.note(`mgen: the runtime was made from ${r.stamp.base_python}${r.stamp.system_site_packages ? ' with --system-site-packages' : ''}; add --force to rebuild it from ${flags.python}`);
    }
    if (flags.json) {
      process.stdout.write(JSON.stringify({...r.stamp, venv: r.venvDir, installed: r.installed, seconds: r.seconds}, null, 2) + '\n');
      return;
    }
    const what = r.installed ? `installed in ${r.seconds.toFixed(0)} s` : 'already installed';
    process.stdout.write(`runtime ${r.stamp.profile}-${r.stamp.hash} ${what}: python ${v.python}, torch ${v.torch}, diffusers ${v.diffusers}, transformers ${v.transformers}${v.cuda ? `, CUDA ${v.cuda}` : ''} (${r.stamp.python})\n`);
  }
}
