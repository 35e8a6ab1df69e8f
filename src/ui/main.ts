// The playground page `mgen serve` shows at /: the form (form.ts), inputs (inputs.ts), LoRAs (loras.ts), a job
// through POST /v1/jobs and its SSE stream (progress, ETA, Cancel), the gallery kept in IndexedDB (history.ts),
// PNG info through POST /v1/png-info, the status line from /readyz and /v1/model, and the token prompt.
import {$, ApiError, api, authorization, blobOfBase64, dataUrlOf, getToken, setToken, sse} from './api.js';
import {GenForm, type ModelInfo, type Serving} from './form.js';
import {showEntries, type GalleryActions} from './gallery.js';
import {clearHistory, loadHistory, saveEntry, type HistoryEntry} from './history.js';
import {Inputs} from './inputs.js';
import {Loras, type LoraEntry} from './loras.js';

/** Partial images per generated image, shown under the progress bar. */
const PREVIEWS = 3;

interface JobView {
  id: string;
  status: 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';
  position?: number;
  progress?: {step: number; steps: number} | null;
  output?: {images: Array<{b64_json?: string; seed: number; width: number; height: number; media_type?: string}>; timings?: {total_s?: number}};
  error?: {message: string};
}

const form = new GenForm();
const inputs = new Inputs();
const loras = new Loras();
let model: ModelInfo = {};
let serving: Serving = {};
let lastSeed: number | null = null;
let running: {id: string | null; abort: AbortController} | null = null;
let ready = false;

const notify = (text: string): void => {
  $('notice').textContent = text;
};
const fail = (text: string, focus?: HTMLElement): void => {
  $('form-error').textContent = text;
  focus?.focus();
};

const actions: GalleryActions = {
  useAsInput: null,
  useSettings: (e) => {
    form.fill(e.request);
    loras.set((e.request.loras ?? []) as Array<{name: string; scale?: number}>);
    notify('settings loaded into the form');
    $('f-prompt').focus();
  },
  notify,
};

// -- status line ----------------------------------------------------------------------------------------
async function refreshStatus(): Promise<void> {
  const id = model.source?.id ?? model.id ?? 'model';
  let state = 'unreachable';
  let depth = '';
  try {
    const token = getToken();
    const r = await fetch('/readyz', {headers: token ? {authorization: authorization(token)} : {}, cache: 'no-store'});
    const body = (await r.json()) as {ready?: boolean; draining?: boolean; queue_depth?: number};
    state = body.draining ? 'shutting down' : body.ready ? 'ready' : 'loading or restarting';
    depth = ` · queue ${body.queue_depth ?? 0}`;
  } catch {
    // the server is gone: say so
  }
  const kind = [model.family, serving.pipeline ?? model.pipeline].filter((x) => x && x !== 'unknown').join(' ');
  const task = serving.task ?? model.task;
  const gib = (n: number): string => `${(n / 2 ** 30).toFixed(1)} GiB`;
  const runs = [serving.gpu_name ?? serving.device, serving.dtype, serving.offload && serving.offload !== 'none' ? `offload ${serving.offload}` : '']
    .filter(Boolean).join(' ');
  // On CPU the worker reports the machine's RAM: only a GPU's memory says something about the plan.
  const memory = serving.total_memory_bytes && serving.device !== 'cpu' ? ` ${gib(serving.total_memory_bytes)}` : '';
  $('status').textContent = `${id}${kind ? ` · ${kind}` : ''}${task ? ` · ${task}` : ''}${runs ? ` · ${runs}${memory}` : ''} · ${state}${depth}`;
}

// -- boot, token ---------------------------------------------------------------------------------------
async function loadServer(): Promise<void> {
  const [m, schema, loraList, s] = await Promise.all([
    api<ModelInfo>('/v1/model'),
    api<Record<string, unknown>>('/v1/schema'),
    api<{data: LoraEntry[]}>('/v1/loras').catch(() => ({data: []})),
    api<Serving>('/v1/serving').catch(() => ({})),
  ]);
  model = m;
  serving = s;
  form.setup(m, schema);
  inputs.setup(m, s);
  loras.setup(loraList.data, m.family ?? 'unknown');
  if (inputs.takesImage || inputs.takesControl) {
    const zone = inputs.takesImage ? 'image' : 'control';
    actions.useAsInput = (blob) => {
      void dataUrlOf(blob).then((u) => inputs.set(zone, u));
      notify(`${zone === 'image' ? 'input' : 'control'} image set`);
    };
  }
  ready = true;
  $<HTMLButtonElement>('generate').disabled = false;
  // Time to interactive (bench/playground.mjs reads it): the form is built and Generate works. The gallery's
  // history (IndexedDB, slow to open the first time in a profile) fills in after.
  performance.mark('mgen-interactive');
  const history = await loadHistory();
  // A result that finished before the history was read is already shown (and saved): it stays first.
  const shown = new Set([...document.querySelectorAll<HTMLElement>('#gallery-list li')].map((li) => li.dataset.entry));
  showEntries(history.filter((e) => !shown.has(e.id)), actions, 'append');
  await refreshStatus();
  setInterval(() => void refreshStatus(), 10_000);
}

function askToken(message: string): void {
  const dlg = $<HTMLDialogElement>('auth-dialog');
  $('auth-error').textContent = message;
  if (!dlg.open) dlg.showModal();
  $('auth-token').focus();
}

async function boot(): Promise<void> {
  try {
    await loadServer();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      $('status').textContent = 'this server needs its API token';
      askToken(getToken() ? 'that token was refused' : '');
    } else {
      fail(`cannot reach the server: ${(err as Error).message}`);
    }
  }
}

$('auth-form').addEventListener('submit', (e) => {
  e.preventDefault();
  setToken($<HTMLInputElement>('auth-token').value.trim());
  $<HTMLDialogElement>('auth-dialog').close();
  // The first token loads the page; a later one (the server's token changed) only needs the next call to work.
  if (ready) void refreshStatus();
  else void boot();
});

// -- generate ----------------------------------------------------------------------------------------
const fmt = (s: number): string => (s >= 60 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${s.toFixed(s < 10 ? 1 : 0)} s`);

async function generate(): Promise<void> {
  if (running || !ready) return;
  fail('');
  notify('');
  const r = form.read();
  if (!r.request) return fail(r.error ?? 'invalid', r.focus);
  const inp = inputs.read();
  if (inp.error) return fail(inp.error);
  const request: Record<string, unknown> = {...r.request, ...inp.fields};
  const l = loras.read();
  if (l.length) request.loras = l;
  const abort = new AbortController();
  running = {id: null, abort};
  const bar = $<HTMLProgressElement>('progress-bar');
  const text = $('progress-text');
  $('progress').hidden = false;
  bar.value = 0;
  text.textContent = 'submitting…';
  $<HTMLButtonElement>('generate').disabled = true;
  $<HTMLButtonElement>('cancel').disabled = false;
  const t0 = performance.now();
  let first: {t: number; step: number} | null = null;
  try {
    // A few partial images while it denoises (the worker decodes the latents; none for pipelines that cannot).
    let job = await api<JobView>('/v1/jobs', {body: {input: {...request, response_format: 'b64_json'}, previews: PREVIEWS}, signal: abort.signal});
    const preview = $<HTMLImageElement>('progress-preview');
    preview.hidden = true;
    running.id = job.id;
    const progress = (p: {step: number; steps: number}): void => {
      const now = performance.now();
      if (!first) first = {t: now, step: p.step};
      bar.max = p.steps;
      bar.value = p.step;
      const rate = p.step > first.step ? (now - first.t) / 1000 / (p.step - first.step) : null;
      text.textContent = `step ${p.step}/${p.steps}${rate !== null && p.step < p.steps ? ` · ETA ${fmt(rate * (p.steps - p.step))}` : ''}`;
    };
    for await (const ev of sse(`/v1/jobs/${encodeURIComponent(job.id)}/events`, abort.signal)) {
      const d = ev.data as JobView & {step?: number; steps?: number};
      if (ev.event === 'progress' && typeof d.step === 'number' && typeof d.steps === 'number') progress({step: d.step, steps: d.steps});
      else if (ev.event === 'preview' && typeof (ev.data as {b64_json?: unknown}).b64_json === 'string') {
        if (preview.src) URL.revokeObjectURL(preview.src);
        preview.src = URL.createObjectURL(blobOfBase64((ev.data as {b64_json: string}).b64_json));
        preview.hidden = false;
      }
      else if (ev.event === 'position' && typeof d.position === 'number' && !first) text.textContent = `queued (position ${d.position})`;
      else if (ev.event === 'status') {
        if (d.status === 'queued') text.textContent = `queued${d.position ? ` (position ${d.position})` : ''}`;
        else if (d.status === 'running' && !first) text.textContent = 'running…';
        if (d.progress) progress(d.progress);
      } else if (ev.event === 'done') {
        job = d;
        break;
      }
    }
    if (job.status !== 'completed' && job.status !== 'failed' && job.status !== 'cancelled') job = await api<JobView>(`/v1/jobs/${encodeURIComponent(job.id)}`);
    if (job.status === 'cancelled') {
      text.textContent = 'cancelled';
      return;
    }
    if (job.status !== 'completed' || !job.output) {
      text.textContent = 'failed';
      return fail(job.error?.message ?? `job ${job.status}`);
    }
    const seconds = (performance.now() - t0) / 1000;
    bar.value = bar.max;
    text.textContent = `done in ${fmt(seconds)}`;
    await addResult(job, request, seconds);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) askToken('the token was refused');
    if (!abort.signal.aborted) {
      text.textContent = 'failed';
      fail((err as Error).message);
    } else text.textContent = 'cancelled';
  } finally {
    running = null;
    $<HTMLButtonElement>('generate').disabled = false;
    $<HTMLButtonElement>('cancel').disabled = true;
  }
}

async function addResult(job: JobView, request: Record<string, unknown>, seconds: number): Promise<void> {
  // Video and audio results keep their media type, so the gallery plays them inline.
  const images = (job.output?.images ?? []).filter((i) => i.b64_json).map((i) => ({blob: blobOfBase64(i.b64_json!, i.media_type ?? 'image/png'), seed: i.seed, width: i.width, height: i.height}));
  if (!images.length) return;
  lastSeed = images[0]!.seed;
  let parameters: string | null = null;
  try {
    const info = await api<{parameters: string | null}>('/v1/png-info', {body: {image: job.output!.images[0]!.b64_json}});
    parameters = info.parameters;
  } catch {
    // The image has no text chunk (another model's output format): nothing to copy.
  }
  // The history keeps the settings, not the input images (they can be megabytes each).
  const kept = Object.fromEntries(Object.entries(request).filter(([k]) => k !== 'image' && k !== 'mask' && k !== 'control_image'));
  const entry: HistoryEntry = {id: job.id, created: Date.now(), model: model.source?.id ?? model.id ?? '', request: kept, images, parameters, seconds};
  showEntries([entry], actions, 'prepend');
  await saveEntry(entry).catch((e: Error) => notify(`not kept in history: ${e.message}`));
}

async function cancel(): Promise<void> {
  const r = running;
  if (!r) return;
  $<HTMLButtonElement>('cancel').disabled = true;
  $('progress-text').textContent = 'cancelling…';
  if (!r.id) return r.abort.abort();
  try {
    await api(`/v1/jobs/${encodeURIComponent(r.id)}`, {method: 'DELETE'});
  } catch (err) {
    // Already finished (409): the stream says how it ended.
    if (!(err instanceof ApiError && err.status === 409)) fail((err as Error).message);
  }
}

// -- PNG info, drop and paste ----------------------------------------------------------------------------
async function loadPngInfo(file: File): Promise<void> {
  fail('');
  try {
    const info = await api<{source: string; request: Record<string, unknown>}>('/v1/png-info', {body: {image: await dataUrlOf(file)}});
    form.fill(info.request);
    loras.set((info.request.loras ?? []) as Array<{name: string; scale?: number}>);
    notify(`loaded the parameters of ${file.name} (${info.source === 'mgen' ? 'mgen' : 'A1111 text'})`);
  } catch (err) {
    fail(`${file.name}: ${(err as Error).message}`);
  }
}

document.addEventListener('dragover', (e) => {
  if (!e.dataTransfer?.types.includes('Files')) return;
  e.preventDefault();
  document.body.classList.add('dragging');
});
document.addEventListener('dragleave', (e) => {
  if (!e.relatedTarget) document.body.classList.remove('dragging');
});
document.addEventListener('drop', (e) => {
  document.body.classList.remove('dragging');
  const file = e.dataTransfer?.files[0];
  if (!file) return;
  e.preventDefault();
  if (file.type === 'image/png' || /\.png$/i.test(file.name)) void loadPngInfo(file);
  else fail(`${file.name}: drop a PNG to load its parameters (or drop images on the input box)`);
});
document.addEventListener('paste', (e) => {
  const file = [...(e.clipboardData?.files ?? [])].find((f) => f.type.startsWith('image/'));
  if (!file || !inputs.takesImage) return;
  e.preventDefault();
  void dataUrlOf(file).then((u) => inputs.set('image', u));
  notify('pasted image set as input');
});
$<HTMLInputElement>('pnginfo-file').addEventListener('change', (e) => {
  const input = e.target as HTMLInputElement;
  const f = input.files?.[0];
  if (f) void loadPngInfo(f).finally(() => (input.value = ''));
});

// -- buttons -------------------------------------------------------------------------------------------
$('gen-form').addEventListener('submit', (e) => {
  e.preventDefault();
  void generate();
});
// Ctrl+Enter (Cmd+Enter) generates from anywhere in the form.
$('gen-form').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    void generate();
  }
});
$('cancel').addEventListener('click', () => void cancel());
$('seed-dice').addEventListener('click', () => {
  $<HTMLInputElement>('f-seed').value = String(crypto.getRandomValues(new Uint32Array(1))[0]);
});
$('seed-reuse').addEventListener('click', () => {
  if (lastSeed === null) return notify('no seed yet: generate first');
  $<HTMLInputElement>('f-seed').value = String(lastSeed);
});
$('history-clear').addEventListener('click', () => {
  void clearHistory().then(() => showEntries([], actions));
});

$<HTMLButtonElement>('generate').disabled = true;
void boot();
