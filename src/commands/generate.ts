import {Args, Flags} from '@oclif/core';
import {BaseCommand} from '../base-command.js';
import {InterruptedError, UsageError} from '../errors.js';
import {loadFlags, modelIdFrom, parseEmbeddingSpec, sessionOptionsFromFlags} from '../cli/load-flags.js';
import {buildGenerateInput, readPrompt} from '../cli/generate-input.js';
import {renderGenerateResult} from '../cli/generate-render.js';

export default class Generate extends BaseCommand {
  static override description = 'Generate images with a model (provisions the Python runtime on first use)';
  static override examples = [
    '<%= config.bin %> generate builtin:tiny-sd --prompt "a red cube" --width 64 --height 64 --steps 4 --seed 1',
    '<%= config.bin %> generate ./model.safetensors --prompt - < prompt.txt --out "out/{model}-{seed}.png"',
    '<%= config.bin %> generate --from mgen-20261126-120000-1-0.png --seed 2',
  ];
  static override args = {model: Args.string({description: 'MODEL_ID (default: $MODEL_ID, or the one recorded in --from)', required: false})};
  static override flags = {
    prompt: Flags.string({char: 'p', description: 'the prompt (`-` reads it from stdin)'}),
    'negative-prompt': Flags.string({char: 'n', description: 'what to steer away from'}),
    width: Flags.integer({description: 'image width (default: the model family\'s)', min: 8}),
    height: Flags.integer({description: 'image height (default: the model family\'s)', min: 8}),
    steps: Flags.integer({description: 'denoising steps', min: 1}),
    guidance: Flags.string({description: 'guidance (CFG) scale'}),
    seed: Flags.string({description: 'seed (default: random, printed); image n uses seed+n'}),
    'num-images': Flags.integer({description: 'how many images', min: 1}),
    scheduler: Flags.string({description: 'diffusers scheduler class, e.g. EulerDiscreteScheduler'}),
    'prompt-syntax': Flags.string({
      description: 'a1111: (word:1.3), [word], BREAK, long prompts, <lora:name:w> tags and embedding names; plain: the text as written (default: a1111 for sd1/sd2/sdxl)',
      options: ['a1111', 'plain'],
    }),
    param: Flags.string({description: 'an extra pipeline parameter key=value (repeatable; see `mgen schema`)', multiple: true}),
    out: Flags.string({char: 'o', description: 'output file pattern with {seed} {n} {model} {timestamp} (default ./mgen-{timestamp}-{seed}-{n}.png)'}),
    json: Flags.boolean({description: 'print one JSON document: images, seeds, timings'}),
    image: Flags.string({description: 'input image (image-to-image, or inpaint with --mask)'}),
    strength: Flags.string({description: 'how much to change --image (0..1)'}),
    mask: Flags.string({description: 'inpaint mask (white = repaint)'}),
    'control-image': Flags.string({description: 'the ControlNet or T2I-Adapter conditioning image'}),
    frames: Flags.integer({description: 'video: frames to make (default: the family\'s; Wan/CogVideoX 4k+1, LTX 8k+1)', min: 1}),
    fps: Flags.string({description: 'video: frames per second of the file (default: the family\'s)'}),
    duration: Flags.string({description: 'audio: seconds to make (default: the model\'s)'}),
    format: Flags.string({description: 'output format: png; video mp4 (default), webm, gif, webp, png-frames; audio wav (default), flac', options: ['png', 'mp4', 'webm', 'gif', 'webp', 'png-frames', 'wav', 'flac']}),
    from: Flags.string({description: 're-run the request recorded in a PNG made by mgen (or A1111); flags override it'}),
    'no-reuse': Flags.boolean({description: 'do not use a running `mgen serve` for this model'}),
    timeout: Flags.integer({description: 'give up on one generation after this many seconds', min: 1}),
    upscale: Flags.string({description: 'upscale each image afterwards with an upscaler (ESRGAN, SwinIR, DAT, HAT, ...): ID or ID:factor (e.g. builtin:tiny-esrgan:2)'}),
    ...loadFlags,
  };

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Generate);
    // Only what the serve-reuse path needs is loaded before it (the session and progress modules cost ~100 ms).
    const fromPng = flags.from ? await (await import('../backends/from-png.js')).requestFromPng(flags.from) : null;
    const modelId = modelIdFrom(args.model, fromPng?.model);
    const prompt = await readPrompt(flags.prompt, fromPng?.input.prompt);
    const input = buildGenerateInput(flags, prompt, fromPng?.input);
    const opts = sessionOptionsFromFlags(modelId, {
      ...flags,
      base: flags.base ?? fromPng?.base ?? undefined,
      lora: flags.lora ?? fromPng?.loras.map((l) => `${l.id}:${l.scale}`),
      controlnet: flags.controlnet ?? fromPng?.controlnet ?? undefined,
      't2i-adapter': flags['t2i-adapter'] ?? (fromPng?.t2iAdapter ? `${fromPng.t2iAdapter.id}:${fromPng.t2iAdapter.scale}` : undefined),
      vae: flags.vae ?? fromPng?.vae ?? undefined,
    });
    if (!flags.embedding && fromPng?.embeddings.length) opts.embeddings = fromPng.embeddings;
    else if (flags.embedding) opts.embeddings = flags.embedding.map(parseEmbeddingSpec);
    // `<hypernet:name:strength>` in the prompts: hypernetworks to load, out of the text the encoder sees.
    if (/<hypernet:/i.test(`${input.prompt} ${input.negativePrompt ?? ''}`)) {
      const {takeHypernetTags, resolvePromptLora} = await import('../backends/prompt-tags.js');
      const pos = takeHypernetTags(input.prompt, '--prompt');
      const neg = input.negativePrompt ? takeHypernetTags(input.negativePrompt, '--negative-prompt') : null;
      input.prompt = pos.text;
      if (neg) input.negativePrompt = neg.text;
      const tagged = [...pos.tags, ...(neg?.tags ?? [])].map((t) => ({id: resolvePromptLora(t, {env: process.env}), scale: t.scale}));
      opts.hypernetworks = [...(opts.hypernetworks ?? []), ...tagged];
    }
    // The control image and what reads it (a ControlNet or a T2I-Adapter, not both) come together.
    if (opts.controlnet && opts.t2iAdapter) throw new UsageError('--controlnet and --t2i-adapter cannot be combined: pass one of them');
    if (input.controlImage && !opts.controlnet && !opts.t2iAdapter) throw new UsageError('--control-image needs --controlnet or --t2i-adapter MODEL_ID');
    if (opts.controlnet && !input.controlImage) throw new UsageError('--controlnet needs --control-image PATH');
    if (opts.t2iAdapter && !input.controlImage) throw new UsageError('--t2i-adapter needs --control-image PATH');

    // Everything that needs no model is checked now, before a serve is asked or a worker starts (exit 2 at once):
    // the request against the family's rules when the family is known without the network, and the --out folder.
    const {validateRequest, flagName} = await import('../backends/validation.js');
    const {familyWithoutWorker, modelWithoutWorker} = await import('../backends/family-hint.js');
    const model = await modelWithoutWorker(modelId);
    const family = model.family ?? (opts.base ? await familyWithoutWorker(opts.base) : null);
    const {checkMediaRequest} = await import('../backends/media-output.js');
    validateRequest(input, {family, name: flagName});
    checkMediaRequest(input, family);
    model.refuse(); // a local file its header says cannot load (truncated, incomplete NF4, no model): exit 6 now
    (await import('../backends/output-paths.js')).checkOutputTarget(input.out);
    if (opts.t2iAdapter && family) {
      const need = await familyWithoutWorker(opts.t2iAdapter.id);
      if (need) (await import('../backends/plan.js')).checkT2iFamily(need, family, opts.t2iAdapter.id);
    }

    // A running `mgen serve` of the same model takes the request (Ctrl-C drops the connection: it cancels the job).
    const upscale = flags.upscale ? (await import('../backends/upscale.js')).parseUpscaleSpec(flags.upscale) : null;
    if (!flags['no-reuse'] && !upscale) {
      const {generateThroughServe} = await import('../cli/serve-reuse.js');
      const out = await generateThroughServe({modelId, load: opts, input, json: flags.json});
      if (out !== null) {
        process.stdout.write(out);
        return;
      }
    }

    const {openSession} = await import('../backends/session.js');
    const {checkFirstFrame} = await import('../backends/plan.js');
    const {startStage, startStepBar} = await import('../cli/progress.js');

    // Ctrl-C: the first cancels at the next step (exit 130); a second stops the worker at once.
    const ac = new AbortController();
    let interrupts = 0;
    const onSignal = () => {
      interrupts++;
      if (interrupts === 1) ac.abort();
      else process.exit(130); // the exit hook kills the worker
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);

    const stage = await startStage(`preparing ${modelId}`);
    let session: Awaited<ReturnType<typeof openSession>> | undefined;
    try {
      // The user's own local file at the CLI: a message about a file that is not what its name says may quote
      // its first bytes (serve never does).
      const {resolveModelForLoad} = await import('../backends/resolve-model.js');
      const {detectLocalModel} = await import('../backends/detect-local.js');
      session = await openSession({
        ...opts,
        resolve: (id, o) => resolveModelForLoad(id, {...o, detect: (p) => detectLocalModel(p, {quoteContent: true})}),
        image: Boolean(input.image),
        mask: Boolean(input.mask),
        // The clip asked for sizes a video model's decode in the memory plan (VAE tiling).
        video: {width: input.width, height: input.height, frames: input.frames ?? undefined},
        verbose: this.verbose,
        signal: ac.signal,
        // A remote MODEL_ID's family is known once it resolves: checked then, before the model loads.
        validate: (f, checkpoint) => {
          validateRequest(input, {family: f, name: flagName});
          checkMediaRequest(input, f);
          checkFirstFrame(modelId, checkpoint.pipeline, Boolean(input.image));
        },
        onStage: (t) => stage.text(t),
        onNote: (t) => {
          stage.stop();
          this.note(`mgen: ${t}`);
        },
      });
      stage.stop();
      if (input.seed === undefined) {
        const {randomInt} = await import('node:crypto');
        input.seed = randomInt(0, 2 ** 32 - 1);
        if (process.stderr.isTTY) this.note(`seed: ${input.seed}`); // non-TTY: it is in the file name and --json
      }
      // A1111 prompt tags: <lora:name:w> / <lyco:name:w> become this request's LoRAs (resolved against the cache).
      if (input.promptSyntax !== 'plain') {
        const {withPromptLoraTags} = await import('../backends/prompt-tags.js');
        const tagged = withPromptLoraTags({prompt: input.prompt, negative_prompt: input.negativePrompt, loras: [] as Array<{name: string; scale?: number}>, prompt_syntax: input.promptSyntax}, {env: process.env});
        if (tagged.loras.length) {
          Object.assign(input, {prompt: tagged.prompt, negativePrompt: tagged.negative_prompt ?? null});
          input.loras = [...(input.loras ?? []), ...tagged.loras.map((l) => ({id: l.name, scale: l.scale ?? 1}))];
        }
      }
      const bar = await startStepBar('denoising');
      let result;
      try {
        result = await session.generate(input, {
          signal: ac.signal,
          onProgress: (s, n) => bar.update(s, n),
          timeoutMs: flags.timeout ? flags.timeout * 1000 : undefined,
        });
      } finally {
        bar.stop();
      }
      if (ac.signal.aborted) throw new InterruptedError('cancelled');
      if (upscale) {
        // In place: the PNG keeps its parameters text; width/height become the upscaled size.
        const {resolveUpscaler, upscaleFiles} = await import('../backends/upscale.js');
        const file = (await resolveUpscaler(upscale.id, {python: session.runtime.python})).path;
        const files = result.images.map((im) => im.path);
        const up = await upscaleFiles(session.worker, file, files, files, {factor: upscale.factor});
        result.images.forEach((im, i) => Object.assign(im, {width: up.images[i]!.width, height: up.images[i]!.height}));
      }
      process.stdout.write(renderGenerateResult(result, {json: flags.json, session}));
    } catch (err) {
      stage.stop();
      if (ac.signal.aborted) throw err instanceof InterruptedError ? err : new InterruptedError('cancelled');
      // When the worker died, its last words are what explains it.
      const tail = session && !session.worker.alive ? session.worker.stderrTail() : '';
      if (tail && !this.verbose) this.note(`worker stderr (last lines):\n${tail.split('\n').slice(-15).join('\n')}`);
      throw err;
    } finally {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      if (session?.worker.alive) await session.close().catch(() => session?.worker.kill());
    }
  }
}
