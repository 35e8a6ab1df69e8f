// Bench support: transpiles test/helpers (loopback servers, fixture writers) with @swc/core into bench/out/
// so the benchmarks reuse exactly the servers the tests use, and runs commands with timing.
import {transformFileSync} from '@swc/core';
import {mkdirSync, readdirSync, statSync, writeFileSync} from 'node:fs';
import {dirname, join, relative} from 'node:path';
import {fileURLToPath} from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const OUT = join(ROOT, 'bench', 'out', 'helpers');

export function buildHelpers() {
  const src = join(ROOT, 'test', 'helpers');
  const walk = (d) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (n.endsWith('.ts')) {
        const {code} = transformFileSync(p, {jsc: {parser: {syntax: 'typescript'}, target: 'es2022'}, module: {type: 'es6'}});
        const dest = join(OUT, relative(src, p)).replace(/\.ts$/, '.js');
        mkdirSync(dirname(dest), {recursive: true});
        // Imports of src/ point at the compiled dist/ (one folder deeper: bench/out/helpers).
        writeFileSync(dest, code.replace(/(['"])((?:\.\.\/)+)src\//g, '$1$2../dist/'));
      }
    }
  };
  walk(src);
  return OUT;
}

export function fmtMB(bytes) {
  return (bytes / 1e6).toFixed(1);
}
