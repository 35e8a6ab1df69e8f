// Prometheus text exposition (format 0.0.4) for the few series serve keeps; no client library needed.

type Labels = Record<string, string>;

const escapeLabel = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const labelText = (l: Labels): string => {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
};
const num = (n: number): string => (Number.isFinite(n) ? String(n) : n > 0 ? '+Inf' : n < 0 ? '-Inf' : 'NaN');

export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

class Counter {
  readonly values = new Map<string, {labels: Labels; value: number}>();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels);
    const cur = this.values.get(key);
    if (cur) cur.value += by;
    else this.values.set(key, {labels, value: by});
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelText(labels))?.value ?? 0;
  }
  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const {labels, value} of this.values.values()) out.push(`${this.name}${labelText(labels)} ${num(value)}`);
    return out;
  }
}

class Histogram {
  private readonly series = new Map<string, {labels: Labels; counts: number[]; sum: number; count: number}>();
  constructor(readonly name: string, readonly help: string, readonly buckets: number[] = LATENCY_BUCKETS) {}
  observe(value: number, labels: Labels = {}): void {
    const key = labelText(labels);
    let s = this.series.get(key);
    if (!s) {
      s = {labels, counts: this.buckets.map(() => 0), sum: 0, count: 0};
      this.series.set(key, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }
  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => out.push(`${this.name}_bucket${labelText({...s.labels, le: num(b)})} ${s.counts[i]}`));
      out.push(`${this.name}_bucket${labelText({...s.labels, le: '+Inf'})} ${s.count}`);
      out.push(`${this.name}_sum${labelText(s.labels)} ${num(s.sum)}`);
      out.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return out;
  }
}

export class ServeMetrics {
  readonly requests = new Counter('mgen_http_requests_total', 'HTTP requests by route, method and status code.');
  readonly requestSeconds = new Histogram('mgen_http_request_duration_seconds', 'HTTP request latency by route.');
  readonly jobs = new Counter('mgen_jobs_total', 'Generation jobs by final status.');
  readonly jobSeconds = new Histogram('mgen_job_run_seconds', 'Time a job spent on the worker.');
  readonly queueWaitSeconds = new Histogram('mgen_job_queue_wait_seconds', 'Time a job waited in the queue.');
  readonly steps = new Counter('mgen_denoise_steps_total', 'Denoising steps run.');
  readonly images = new Counter('mgen_images_total', 'Images generated.');
  readonly workerRestarts = new Counter('mgen_worker_restarts_total', 'Times the worker was restarted after dying.');
  readonly cancelKills = new Counter('mgen_worker_cancel_kills_total', 'Workers killed because a cancelled job did not stop within the grace period.');
  readonly restartWaits = new Counter('mgen_jobs_waited_for_restart_total', 'Jobs that waited for a worker restart (after a cancel kill or a death) instead of failing.');
  stepsPerSecond = 0;

  constructor() {
    // Shown at 0 from the start: an alert on "restarts went up" needs the series before the first one.
    this.cancelKills.inc({}, 0);
    this.restartWaits.inc({}, 0);
  }

  gauges: () => {queueDepth: number; running: number; ready: boolean; gpuFree?: number; gpuTotal?: number} = () => ({
    queueDepth: 0,
    running: 0,
    ready: false,
  });

  observeRequest(route: string, method: string, status: number, seconds: number): void {
    this.requests.inc({route, method, status: String(status)});
    this.requestSeconds.observe(seconds, {route});
  }

  observeGeneration(steps: number, denoiseSeconds: number, images: number): void {
    this.steps.inc({}, steps);
    this.images.inc({}, images);
    if (denoiseSeconds > 0) this.stepsPerSecond = steps / denoiseSeconds;
  }

  render(): string {
    const g = this.gauges();
    const gauge = (name: string, help: string, value: number): string[] => [
      `# HELP ${name} ${help}`,
      `# TYPE ${name} gauge`,
      `${name} ${num(value)}`,
    ];
    const lines = [
      ...this.requests.render(),
      ...this.requestSeconds.render(),
      ...this.jobs.render(),
      ...this.jobSeconds.render(),
      ...this.queueWaitSeconds.render(),
      ...this.steps.render(),
      ...this.images.render(),
      ...this.workerRestarts.render(),
      ...this.cancelKills.render(),
      ...this.restartWaits.render(),
      ...gauge('mgen_queue_depth', 'Jobs waiting for the worker.', g.queueDepth),
      ...gauge('mgen_jobs_running', 'Jobs running on the worker (0 or 1).', g.running),
      ...gauge('mgen_model_loaded', '1 when the model is loaded and the server is ready.', g.ready ? 1 : 0),
      ...gauge('mgen_denoise_steps_per_second', 'Denoising steps per second of the last job.', this.stepsPerSecond),
    ];
    if (g.gpuFree !== undefined) lines.push(...gauge('mgen_gpu_memory_free_bytes', 'Free GPU memory reported by the worker.', g.gpuFree));
    if (g.gpuTotal !== undefined) lines.push(...gauge('mgen_gpu_memory_total_bytes', 'Total GPU memory reported by the worker.', g.gpuTotal));
    return lines.join('\n') + '\n';
  }
}
