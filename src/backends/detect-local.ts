// The one place backends call the detection library.
import {detectLocal} from '../detect/index.js';
import type {ModelReport} from '../detect/types.js';

/** `quoteContent`: only for the CLI on a user's own files (serve's messages never quote file content). */
export async function detectLocalModel(path: string, opts: {quoteContent?: boolean} = {}): Promise<ModelReport> {
  return detectLocal(path, opts);
}
