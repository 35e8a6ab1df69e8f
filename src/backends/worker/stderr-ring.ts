// Keeps the last lines a process wrote to stderr (bounded), for --verbose and for death reports. Progress bars
// (tqdm's `\r`-redrawn `45%|████▌     | 9/20` lines) are dropped: they are no reason for anything and used to end
// up quoted as the reason a worker died.
export class StderrRing {
  private lines: string[] = [];
  private partial = '';
  constructor(private readonly maxLines = 200) {}

  push(chunk: string): string[] {
    const text = this.partial + chunk;
    const parts = text.split(/\r?\n|\r/);
    this.partial = parts.pop() ?? '';
    if (this.partial.length > 8192) {
      parts.push(this.partial);
      this.partial = '';
    }
    const kept = parts.filter((p) => !isProgressBar(p));
    for (const p of kept) {
      this.lines.push(p);
      if (this.lines.length > this.maxLines) this.lines.shift();
    }
    return kept;
  }

  private all(): string[] {
    return this.partial && !isProgressBar(this.partial) ? [...this.lines, this.partial] : this.lines;
  }

  tail(n = 40): string {
    return this.all().slice(-n).join('\n');
  }

  /** The last line that says something: a Python exception line if there is one, else the last line that is not
   *  traceback framing. */
  lastMeaningful(): string {
    const all = this.all().map((l) => l.trim()).filter(Boolean);
    for (let i = all.length - 1; i >= 0; i--) if (EXCEPTION_LINE.test(all[i]!)) return all[i]!;
    for (let i = all.length - 1; i >= 0; i--) if (!TRACEBACK_FRAME.test(all[i]!)) return all[i]!;
    return '';
  }
}

// `ValueError: ...`, `torch.OutOfMemoryError: ...`, `KeyboardInterrupt`, `Fatal Python error: Segmentation fault`.
const EXCEPTION_LINE = /^([A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b|Fatal Python error\b)/;
const TRACEBACK_FRAME = /^(Traceback \(most recent call last\)|File "|\^+$|~+\^*~*$)/;

/** A tqdm-style progress bar line (`Loading pipeline components...:  43%|████▎     | 3/7 [00:01<00:01,  2.6it/s]`). */
export function isProgressBar(line: string): boolean {
  return /\d{1,3}%\|/.test(line) || /\|\s*\d+\/\d+\s*\[[\d:?<, .]*(it\/s|s\/it|B\/s)?/.test(line);
}
