import {Args, Flags} from '@oclif/core';
import {BaseCommand} from '../base-command.js';
import {loadFlags, modelIdFrom, sessionOptionsFromFlags} from '../cli/load-flags.js';

export default class Serve extends BaseCommand {
  static override description =
    'Keep a model loaded behind an HTTP API: native /v1/generate, OpenAI Images, AUTOMATIC1111 /sdapi/v1, async jobs and RunPod-style /run, /runsync, /status';
  static override examples = [
    '<%= config.bin %> serve builtin:tiny-sd --port 7860',
    'MODEL_ID=./model.safetensors MGEN_API_TOKEN=... <%= config.bin %> serve --host 0.0.0.0',
  ];
  static override args = {model: Args.string({description: 'MODEL_ID (default: $MODEL_ID)', required: false})};
  static override flags = {
    host: Flags.string({description: 'address to bind; anything but loopback needs --token (or MGEN_API_TOKEN) or --insecure', default: '127.0.0.1'}),
    port: Flags.integer({description: 'port (0: any free one)', default: 7860, min: 0, max: 65535}),
    token: Flags.string({description: 'require `Authorization: Bearer TOKEN` on every route but /healthz (default: $MGEN_API_TOKEN)'}),
    'api-auth': Flags.string({description: 'also accept HTTP Basic credentials, A1111 style: user:password[,user2:password2] (the --token works as a Basic password too)'}),
    upscaler: Flags.string({description: 'an upscaler MODEL_ID (ESRGAN, SwinIR, DAT, HAT, ...) for /v1/upscale and A1111\'s /sdapi/v1/extra-single-image'}),
    insecure: Flags.boolean({description: 'allow a non-loopback --host without a token'}),
    'max-queue': Flags.integer({description: 'jobs that may wait behind the running one; more get 429', default: 32, min: 0}),
    timeout: Flags.integer({description: 'stop a job that runs longer than this many seconds (0: never)', default: 600, min: 0}),
    'max-size': Flags.integer({description: 'largest width/height a request may ask for', default: 2048, min: 64}),
    'max-steps': Flags.integer({description: 'most denoising steps a request may ask for', default: 150, min: 1}),
    'max-images': Flags.integer({description: 'most images per request', default: 8, min: 1}),
    'body-limit': Flags.integer({description: 'largest request body in MiB (inline input images)', default: 32, min: 1}),
    'no-state': Flags.boolean({description: 'do not advertise this server to `mgen generate` on this machine'}),
    json: Flags.boolean({description: 'print one JSON line {url, model, pid} when ready'}),
    'model-dir': Flags.string({
      description: 'a folder whose files requests may name by path (loras[].name); repeatable. Without it, requests name no local paths',
      multiple: true,
    }),
    'allow-model-urls': Flags.boolean({
      description: 'let requests name plain http(s) URLs of models (fetched into the cache); private, loopback and link-local addresses stay refused',
    }),
    'allow-private-hosts': Flags.string({
      description: 'comma-separated host names or IPs that request model URLs may reach although they are private (implies nothing without --allow-model-urls)',
    }),
    'no-ui': Flags.boolean({description: 'serve the API only, without the playground page at /'}),
    'public-url': Flags.string({description: 'the URL clients reach this server at (behind a proxy): the base of response_format "url" links'}),
    'trust-proxy': Flags.boolean({description: 'build response_format "url" links from a reverse proxy\'s Forwarded / X-Forwarded-Proto / X-Forwarded-Host headers (only behind a proxy that sets them)'}),
    'print-plan': Flags.boolean({
      description: 'decide the load plan (without loading the model), print {model_id, plan, defaults, request_schema, family, mapped_params} as JSON and exit (bench/serve.mjs loads its plain-Python baseline from it)',
    }),
    ...loadFlags,
  };

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Serve);
    const {parseApiAuth, resolveToken} = await import('../backends/server/auth.js');
    const {openSession} = await import('../backends/session.js');
    const {checkBindable, guardServeProcess, startServe} = await import('../backends/server/server.js');
    const {loadKeyFor} = await import('../backends/server/load-key.js');
    const {mgenHome} = await import('../backends/paths.js');
    const {startStage} = await import('../cli/progress.js');

    const modelId = modelIdFrom(args.model);
    const apiAuth = parseApiAuth(flags['api-auth']);
    this.secrets.push(flags['api-auth'], ...(apiAuth?.values() ?? []));
    const token = resolveToken({host: flags.host, token: flags.token, envToken: process.env.MGEN_API_TOKEN, insecure: flags.insecure, apiAuth: apiAuth !== null});
    this.secrets.push(token ?? undefined, flags.token, process.env.MGEN_API_TOKEN);
    const {UsageError} = await import('../errors.js');
    const publicUrl = flags['public-url'] ?? null;
    if (publicUrl !== null && !/^https?:\/\/[^/\s]+(\/\S*)?$/i.test(publicUrl)) throw new UsageError(`--public-url ${publicUrl}: expected an http(s) URL`);
    const {RequestModelPolicy} = await import('../backends/request-model-policy.js');
    const policy = new RequestModelPolicy({
      modelDirs: flags['model-dir'] ?? [],
      allowUrls: flags['allow-model-urls'],
      privateHosts: (flags['allow-private-hosts'] ?? '').split(',').map((h) => h.trim()).filter(Boolean),
    });
    const opts = sessionOptionsFromFlags(modelId, flags);
    // A busy port is found now, not after minutes of loading.
    if (!flags['print-plan']) await checkBindable(flags.host, flags.port);

    const ac = new AbortController();
    const onEarlySignal = (): void => ac.abort();
    process.once('SIGINT', onEarlySignal);
    process.once('SIGTERM', onEarlySignal);
    const stage = await startStage(`preparing ${modelId}`);
    const open = () => openSession({...opts, planOnly: flags['print-plan'], verbose: this.verbose, signal: ac.signal, onStage: (t) => stage.text(t), onNote: (t) => this.note(`mgen: ${t}`)});
    let session;
    try {
      session = await open();
    } finally {
      stage.stop();
      process.removeListener('SIGINT', onEarlySignal);
      process.removeListener('SIGTERM', onEarlySignal);
    }
    if (flags['print-plan']) {
      const {MAPPED_PIPELINE_PARAMS, nativeRequestSchema} = await import('../backends/server/native.js');
      const {DEFAULT_CAPS} = await import('../backends/server/types.js');
      const caps = {...DEFAULT_CAPS, maxSize: flags['max-size'], maxSteps: flags['max-steps'], maxImages: flags['max-images']};
      const report = session.model.report;
      // The model is not loaded here: the pipeline's own __call__ parameters join the request schema when it is,
      // leaving out `mapped_params` (the ones our fields stand for).
      const doc = {
        model_id: modelId,
        plan: session.plan,
        defaults: report.defaults,
        request_schema: nativeRequestSchema(null, caps),
        mapped_params: [...MAPPED_PIPELINE_PARAMS],
        family: report.kind === 'checkpoint' ? report.family : (report.base?.family ?? report.family),
      };
      await session.close().catch(() => session.worker.kill());
      process.stdout.write(JSON.stringify(doc) + '\n');
      return;
    }
    // From here on, a stray rejection in a request's path is logged and the server keeps its queue.
    guardServeProcess((line) => process.stderr.write(`mgen serve: ${line}\n`));
    let upscaler = null;
    if (flags.upscaler) {
      const {resolveUpscaler} = await import('../backends/upscale.js');
      try {
        upscaler = {id: flags.upscaler, ...(await resolveUpscaler(flags.upscaler, {python: session.runtime.python}))};
      } catch (err) {
        await session.close().catch(() => session.worker.kill());
        throw err;
      }
    }
    const running = await startServe({
      modelId,
      upscaler,
      report: session.model.report,
      session,
      reopen: () => openSession({...opts, verbose: this.verbose}),
      host: flags.host,
      port: flags.port,
      token,
      apiAuth,
      maxQueue: flags['max-queue'],
      timeoutS: flags.timeout,
      caps: {maxSize: flags['max-size'], maxSteps: flags['max-steps'], maxImages: flags['max-images']},
      bodyLimit: flags['body-limit'] * 1024 * 1024,
      home: flags['no-state'] ? null : mgenHome(),
      loadKey: loadKeyFor(opts),
      log: (line) => this.note(`mgen serve: ${line}`),
      policy,
      publicUrl,
      trustProxy: flags['trust-proxy'],
      ui: !flags['no-ui'],
    }).catch(async (err: unknown) => {
      await session.close().catch(() => session.worker.kill());
      throw err;
    });

    this.note(`mgen serve: ${policy.describe()}`);
    if (flags.json) process.stdout.write(JSON.stringify({url: running.url, model: modelId, pid: process.pid}) + '\n');
    else process.stdout.write(`mgen serve: ${modelId} ready at ${running.url}${token ? ' (bearer token required)' : apiAuth ? ' (HTTP Basic credentials required)' : ''}\n`);

    // SIGTERM/SIGINT: stop taking work (503), finish what was accepted, exit 0. A second signal cancels it all.
    await new Promise<void>((resolve) => {
      let signals = 0;
      const onSignal = (sig: NodeJS.Signals): void => {
        signals++;
        if (signals === 1) {
          this.note(`mgen serve: ${sig}: finishing accepted jobs, taking no new ones`);
          void running.close().then(resolve, resolve);
        } else {
          this.note('mgen serve: cancelling the remaining jobs');
          running.serve.queue.cancelAll('cancelled: server shutdown');
        }
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
    });
    process.exitCode = 0;
    // Nothing should be left, but a stray handle must not keep a drained server alive.
    setTimeout(() => process.exit(0), 3000).unref();
  }
}
