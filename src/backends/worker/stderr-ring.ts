// Keeps the last lines a process wrote to stderr (bounded), for --verbose and for death reports.
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
    for (const p of parts) {
      this.lines.push(p);
      if (this.lines.length > this.maxLines) this.lines.shift();
    }
    return parts;
  }

  tail(n = 40): string {
    const all = this.partial ? [...this.lines, this.partial] : this.lines;
    return all.slice(-n).join('\n');
  }

  /** The last line that says something (a Python exception line if there is one). */
  lastMeaningful(): string {
    const all = (this.partial ? [...this.lines, this.partial] : this.lines).map((l) => l.trim()).filter(Boolean);
    for (let i = all.length - 1; i >= 0; i--) if (/^[A-Za-z_.]+(Error|Exception|Interrupt)\b/.test(all[i]!)) return all[i]!;
    return all.at(-1) ?? '';
  }
}
