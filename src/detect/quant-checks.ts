// Header-level checks of quantized weight files: what the key names alone say cannot load, as report warnings that
// the backends refuse before any worker loads the file (src/backends/loadable.ts).
//   bitsandbytes NF4/FP4: each packed 4-bit weight (U8 `<layer>.weight`) needs its `.absmax` and
//   `.quant_state.bitsandbytes__nf4|fp4` tensors beside it: without them its codes cannot be dequantized.
import type {FileFacts} from './types.js';

const BNB_MARK = /\.(absmax|quant_map|quant_state\.bitsandbytes__(nf4|fp4))$/;
const STATES = ['.quant_state.bitsandbytes__nf4', '.quant_state.bitsandbytes__fp4'];

/** The words every incomplete-4-bit warning carries (the backends find the warning by them). */
export const INCOMPLETE_4BIT = '4-bit weights have no quant_state/absmax tensors';

/** Packed 4-bit weights of a bitsandbytes file that lack their quantization state; 0 for any other file. */
export function incomplete4bitWeights(file: FileFacts): number {
  if (file.format !== 'safetensors' || !file.tensors.some((t) => BNB_MARK.test(t.name))) return 0;
  const names = new Set(file.tensors.map((t) => t.name));
  let missing = 0;
  for (const t of file.tensors) {
    if (t.dtype !== 'U8' || !t.name.endsWith('.weight')) continue;
    if (!names.has(`${t.name}.absmax`) || !STATES.some((s) => names.has(t.name + s))) missing++;
  }
  return missing;
}

/** One warning per incomplete 4-bit file. */
export function quantFileWarnings(files: FileFacts[]): string[] {
  const out: string[] = [];
  for (const f of files) {
    const n = incomplete4bitWeights(f);
    if (n > 0) out.push(`${f.path}: ${n} ${INCOMPLETE_4BIT} (an incomplete NF4/FP4 file)`);
  }
  return out;
}
