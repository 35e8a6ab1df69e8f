// The one place backends call the detection library.
import {detectLocal} from '../detect/index.js';
import type {ModelReport} from '../detect/types.js';

export async function detectLocalModel(path: string): Promise<ModelReport> {
  return detectLocal(path);
}
