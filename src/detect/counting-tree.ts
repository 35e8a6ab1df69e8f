// A ModelTree wrapper that counts what detection read: files opened, reads and bytes (MGEN_STATS=1, benchmarks).
import type {ByteSource, ModelTree, TreeEntry} from './types.js';

export interface ReadStats {
  opened: number;
  reads: number;
  bytes: number;
  textFiles: number;
  textBytes: number;
}

export class CountingTree implements ModelTree {
  readonly stats: ReadStats = {opened: 0, reads: 0, bytes: 0, textFiles: 0, textBytes: 0};
  constructor(private readonly inner: ModelTree) {}

  get name(): string {
    return this.inner.name;
  }
  get singleFile(): boolean {
    return this.inner.singleFile;
  }
  get quoteContent(): boolean | undefined {
    return this.inner.quoteContent;
  }
  list(): Promise<TreeEntry[]> {
    return this.inner.list();
  }
  async readText(path: string): Promise<string> {
    const text = await this.inner.readText(path);
    this.stats.textFiles++;
    this.stats.textBytes += Buffer.byteLength(text);
    return text;
  }
  open(path: string): ByteSource {
    const src = this.inner.open(path);
    const stats = this.stats;
    stats.opened++;
    return {
      name: src.name,
      stats: src.stats,
      size: () => src.size(),
      async read(offset: number, length: number) {
        const b = await src.read(offset, length);
        stats.reads++;
        stats.bytes += b.length;
        return b;
      },
      close: src.close ? () => src.close!() : undefined,
    };
  }
}
