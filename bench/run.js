#!/usr/bin/env node
// `npm run bench [name ...]`: runs the benchmarks in bench/ one after another (each compares against its
// baseline in the same run and prints ratios). Build first: the benchmarks time ./bin/mgen as users run it.
import {spawnSync} from 'node:child_process';
import {existsSync} from 'node:fs';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const all = ['startup', 'inspect', 'remote-inspect', 'pull', 'generate', 'serve', 'realsize', 'compile', 'playground', 'dit', 'quant'];
const wanted = process.argv.slice(2).length > 0 ? process.argv.slice(2) : all;
let failed = 0;
for (const name of wanted) {
  const file = join(here, `${name}.mjs`);
  if (!existsSync(file)) {
    console.error(`bench: no benchmark named ${name} (have: ${all.join(', ')})`);
    failed++;
    continue;
  }
  console.log(`\n=== bench ${name}`);
  const r = spawnSync(process.execPath, [file], {stdio: 'inherit'});
  if (r.status !== 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);
