// The one place backends call the detection library (src/detect, owned by the rules/readers work).
import type {ModelReport} from '../detect/types.js';

type DetectModule = {detectLocal: (path: string) => Promise<ModelReport>};

export async function detectLocalModel(path: string): Promise<ModelReport> {
  // A variable specifier until src/detect/index.ts lands on this branch.
  const spec = '../detect/index.js';
  const mod = (await import(spec)) as DetectModule;
  return mod.detectLocal(path);
}
