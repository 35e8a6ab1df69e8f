import {Args, Flags} from '@oclif/core';
import {existsSync} from 'node:fs';
import {basename, dirname, extname, resolve} from 'node:path';
import {BaseCommand} from '../base-command.js';
import {NotFoundError, UsageError} from '../errors.js';

export default class Upscale extends BaseCommand {
  static override description = 'Upscale images with a super-resolution file (ESRGAN / Real-ESRGAN, SwinIR, DAT, HAT, ...: whatever spandrel loads), tiled so large images fit';
  static override examples = [
    '<%= config.bin %> upscale builtin:tiny-esrgan photo.png',
    '<%= config.bin %> upscale ./4x-UltraSharp.pth a.png b.png --scale 2 --out "up/{name}.png"',
    '<%= config.bin %> upscale ./HAT_SRx4_ImageNet-pretrain.pth photo.png --tile 128',
  ];
  static override strict = false;
  static override args = {
    model: Args.string({description: 'the upscaler MODEL_ID (a local .pth/.safetensors, builtin:tiny-esrgan, tiny-swinir, tiny-dat, tiny-hat, or a Hub file)', required: true}),
    images: Args.string({description: 'one or more input images', required: true}),
  };
  static override flags = {
    scale: Flags.string({description: 'output size factor (default: the model\'s own, e.g. 4); other factors resize its output'}),
    out: Flags.string({char: 'o', description: 'output pattern with {name} (input file name without extension) (default ./{name}-up.png)'}),
    tile: Flags.integer({description: 'tile size in input pixels (smaller uses less memory)', min: 16, default: 256}),
    json: Flags.boolean({description: 'print one JSON document'}),
  };

  async run(): Promise<void> {
    const {argv, flags} = await this.parse(Upscale);
    const [modelId, ...images] = argv as string[];
    if (!images.length) throw new UsageError('no input image given', {hint: 'mgen upscale MODEL_ID IMAGE...'});
    for (const p of images) if (!existsSync(p)) throw new NotFoundError(`input image not found: ${p}`);
    const {parseFactor, resolveUpscaler, upscaleFiles} = await import('../backends/upscale.js');
    const scale = flags.scale === undefined ? undefined : parseFactor(flags.scale, '--scale');
    const pattern = flags.out ?? '{name}-up.png';
    const outputs = images.map((p) => resolve(pattern.replaceAll('{name}', basename(p, extname(p)))));
    if (new Set(outputs).size !== outputs.length) throw new UsageError('--out names the same file for several images', {hint: 'put {name} in --out'});
    for (const o of outputs) if (!existsSync(dirname(o))) throw new NotFoundError(`output folder not found: ${dirname(o)}`);

    const {ensureRuntime} = await import('../backends/runtime/resolve.js');
    const {startWorker} = await import('../backends/worker/index.js');
    const runtime = process.env.MGEN_PYTHON ? {python: process.env.MGEN_PYTHON} : await ensureRuntime({});
    const file = (await resolveUpscaler(modelId, {python: runtime.python})).path;
    const worker = await startWorker({python: runtime.python, verbose: this.verbose});
    try {
      const r = await upscaleFiles(worker, file, images.map((p) => resolve(p)), outputs, {factor: scale, tile: flags.tile});
      if (flags.json) process.stdout.write(JSON.stringify({model: modelId, architecture: r.architecture, native_scale: r.native_scale, images: r.images}, null, 2) + '\n');
      else for (const im of r.images) process.stdout.write(`${im.path} (${im.width}x${im.height})\n`);
    } finally {
      await worker.shutdown().catch(() => worker.kill());
    }
  }
}
