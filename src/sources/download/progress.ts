// Download progress on stderr: cli-progress bars (per file + total, speed, ETA) on a TTY, one summary line
// every few seconds otherwise, nothing when quiet. Never stdout.
export interface ProgressSink {
  start(files: Array<{label: string; total: number; done: number}>): void;
  bytes(label: string, n: number): void;
  fileDone(label: string): void;
  end(): void;
}

/**
 * Whether live (redrawn-in-place) progress may be drawn on `stream`: a TTY that reports a width. A terminal that says
 * 0 columns (`script` with no real terminal behind it, `docker run -t`, serial consoles) or none gets plain output,
 * as off a TTY: ora's line count divides by the width, and 0 made it clear lines forever (issue 10).
 */
export function isLiveTerminal(stream: {isTTY?: boolean; columns?: number} = process.stderr): boolean {
  return Boolean(stream.isTTY) && Number.isFinite(stream.columns) && (stream.columns ?? 0) > 0;
}

export const silentProgress: ProgressSink = {start() {}, bytes() {}, fileDone() {}, end() {}};

export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(v >= 100 || i === 0 ? 0 : 1)} ${units[i]}`;
}

function eta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  if (seconds < 60) return `${Math.ceil(seconds)}s`;
  return `${Math.floor(seconds / 60)}m${String(Math.ceil(seconds % 60)).padStart(2, '0')}s`;
}

/** Speed over a sliding window of recent samples. */
class Rate {
  private samples: Array<[number, number]> = [];
  add(total: number): void {
    const now = Date.now();
    this.samples.push([now, total]);
    while (this.samples.length > 2 && now - this.samples[0]![0] > 3000) this.samples.shift();
  }
  perSecond(): number {
    if (this.samples.length < 2) return 0;
    const [t0, b0] = this.samples[0]!;
    const [t1, b1] = this.samples[this.samples.length - 1]!;
    return t1 > t0 ? ((b1 - b0) * 1000) / (t1 - t0) : 0;
  }
}

/** One line every `everyMs` on a non-TTY stream (CI logs). */
export function lineProgress(stream: NodeJS.WritableStream = process.stderr, everyMs = 5000): ProgressSink {
  let total = 0;
  let done = 0;
  let files = 0;
  let filesDone = 0;
  const rate = new Rate();
  let timer: NodeJS.Timeout | undefined;
  const line = () => {
    rate.add(done);
    const r = rate.perSecond();
    stream.write(`pull: ${formatBytes(done)} / ${formatBytes(total)} (${total ? Math.floor((done / total) * 100) : 100}%), ${filesDone}/${files} files, ${formatBytes(r)}/s, ETA ${eta((total - done) / r)}\n`);
  };
  return {
    start(list) {
      files = list.length;
      total = list.reduce((a, f) => a + f.total, 0);
      done = list.reduce((a, f) => a + f.done, 0);
      filesDone = list.filter((f) => f.done >= f.total).length;
      rate.add(done);
      timer = setInterval(line, everyMs);
      timer.unref();
    },
    bytes(_l, n) {
      done += n;
    },
    fileDone() {
      filesDone++;
    },
    end() {
      if (timer) clearInterval(timer);
    },
  };
}

/** cli-progress MultiBar: a total bar and one bar per active file. */
export async function barProgress(stream: NodeJS.WriteStream = process.stderr): Promise<ProgressSink> {
  const cp = (await import('cli-progress')).default;
  const multi = new cp.MultiBar({
    stream,
    clearOnComplete: false,
    hideCursor: true,
    // Speed and ETA come from our own sliding window (cli-progress's ETA says 0s before the first byte).
    format: '{label} |{bar}| {percentage}% {done}/{size} {speed}/s{left}',
    formatValue: (v: number, _o: unknown, type: string) => (type === 'value' || type === 'total' ? formatBytes(v) : String(v)),
    // The bar takes what the label (28) and the figures (about 45) leave of the terminal's width: with the default
    // 40 the line is ~105 columns, and an 80-column terminal cut off the speed and the ETA.
    barsize: Math.max(10, Math.min(40, (stream.columns || 80) - 76)),
    fps: 5,
  }, cp.Presets.shades_classic);
  const bars = new Map<string, {bar: ReturnType<typeof multi.create>; done: number; total: number; rate: Rate}>();
  let totalBar: ReturnType<typeof multi.create> | undefined;
  let done = 0;
  const totalRate = new Rate();
  const payload = (d: number, t: number, r: Rate, label: string) => {
    const speed = r.perSecond();
    return {label, done: formatBytes(d), size: formatBytes(t), speed: formatBytes(speed), left: d >= t ? '' : ` ETA ${speed > 0 ? eta((t - d) / speed) : '?'}`};
  };
  let total = 0;
  return {
    start(list) {
      total = list.reduce((a, f) => a + f.total, 0);
      done = list.reduce((a, f) => a + f.done, 0);
      // The first sample is the start, so the first bytes already give a speed.
      totalRate.add(done);
      totalBar = multi.create(total, done, payload(done, total, totalRate, 'total'.padEnd(28)));
      for (const f of list) {
        if (f.done >= f.total) continue;
        const label = f.label.length > 28 ? '…' + f.label.slice(-27) : f.label.padEnd(28);
        const rate = new Rate();
        rate.add(f.done);
        bars.set(f.label, {bar: multi.create(f.total, f.done, payload(f.done, f.total, rate, label)), done: f.done, total: f.total, rate});
      }
    },
    bytes(label, n) {
      done += n;
      totalRate.add(done);
      totalBar?.update(done, payload(done, total, totalRate, 'total'.padEnd(28)));
      const b = bars.get(label);
      if (b) {
        b.done += n;
        b.rate.add(b.done);
        const l = label.length > 28 ? '…' + label.slice(-27) : label.padEnd(28);
        b.bar.update(b.done, payload(b.done, b.total, b.rate, l));
      }
    },
    fileDone(label) {
      const b = bars.get(label);
      if (b) {
        const l = label.length > 28 ? '…' + label.slice(-27) : label.padEnd(28);
        b.bar.update(b.total, payload(b.total, b.total, b.rate, l));
        b.bar.stop();
      }
    },
    end() {
      multi.stop();
    },
  };
}

/** The right sink for where stderr goes: bars on a TTY, periodic lines otherwise, nothing when quiet. */
export async function progressFor(opts: {quiet?: boolean; stream?: NodeJS.WriteStream} = {}): Promise<ProgressSink> {
  const stream = opts.stream ?? process.stderr;
  if (opts.quiet) return silentProgress;
  if (isLiveTerminal(stream)) return barProgress(stream);
  return lineProgress(stream, Number(process.env.MGEN_PROGRESS_INTERVAL_MS ?? 5000));
}
