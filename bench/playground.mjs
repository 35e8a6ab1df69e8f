#!/usr/bin/env node
// The playground page's weight and time to interactive on loopback (issue 15). Goals: HTML+JS+CSS under 100 kB as
// sent (gzip), interactive in under 300 ms.
//   node bench/playground.mjs [--model builtin:tiny-sd] [--n 10] [--cold 5] [--flags "--device cpu --dtype float32"]
// Weight: the bytes `mgen serve` sends for /, its script and its stylesheet to a client that accepts gzip.
// Interactive: Debian's Chromium (headless, fresh profile) from navigation start to the page's 'mgen-interactive'
// mark (the form built from /v1/model, /v1/schema, /v1/serving, /v1/loras and the history read, Generate enabled): the
// first load in each of COLD fresh profiles (empty cache; median) and the median of N reloads in one profile (scripts
// cached as their immutable headers allow). Baseline in the
// same run: the same browser loading /healthz (a one-line JSON document: the floor of a navigation on loopback).
// Needs `npm run build`, a runtime (MGEN_PYTHON or `mgen runtime install`), /usr/bin/chromium (or MGEN_CHROMIUM).
import {spawn} from 'node:child_process';
import {mkdtempSync, rmSync} from 'node:fs';
import {request} from 'node:http';
import {loadavg, tmpdir} from 'node:os';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {chromium} from 'playwright-core';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const MODEL = arg('model', 'builtin:tiny-sd');
const N = Math.max(1, Number(arg('n', 10)));
const COLD = Math.max(1, Number(arg('cold', 5)));
const FLAGS = arg('flags', '--device cpu --dtype float32').split(' ').filter(Boolean);
const CHROMIUM = process.env.MGEN_CHROMIUM ?? '/usr/bin/chromium';
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function startServe() {
  const proc = spawn(process.execPath, [join(ROOT, 'bin', 'mgen'), 'serve', MODEL, ...FLAGS, '--port', '0', '--json', '--no-state'], {stdio: ['ignore', 'pipe', 'pipe']});
  let err = '';
  proc.stderr.on('data', (c) => (err += c));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`serve did not get ready in 5 min: ${err}`)), 300_000);
    proc.stdout.on('data', (c) => {
      out += c;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) {
        clearTimeout(timer);
        resolve({proc, url: JSON.parse(line).url});
      }
    });
    proc.on('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
}

function gzBytes(url) {
  return new Promise((resolve, reject) => {
    request(url, {headers: {'accept-encoding': 'gzip'}}, (res) => {
      const parts = [];
      res.on('data', (c) => parts.push(c));
      res.on('end', () => resolve({bytes: Buffer.concat(parts), encoding: res.headers['content-encoding'] ?? 'identity'}));
    }).on('error', reject).end();
  });
}

const serve = await startServe();
const profiles = [];
const contexts = [];
const launch = async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mgen-bench-chromium-'));
  profiles.push(dir);
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM, headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  contexts.push(ctx);
  return ctx.pages()[0] ?? (await ctx.newPage());
};
const interactive = async (page, reload) => {
  if (reload) await page.reload();
  else await page.goto(`${serve.url}/`);
  await page.waitForFunction(() => performance.getEntriesByName('mgen-interactive').length > 0, undefined, {timeout: 30_000});
  return page.evaluate(() => performance.getEntriesByName('mgen-interactive')[0].startTime);
};
try {
  console.log(`load average at start: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const index = await gzBytes(`${serve.url}/`);
  const html = (await import('node:zlib')).gunzipSync(index.bytes).toString();
  const assets = [...html.matchAll(/(?:src|href)="(\/ui\/[^"]+)"/g)].map((m) => m[1]);
  const rows = [['/', index.bytes.length, index.encoding]];
  for (const a of assets) {
    const r = await gzBytes(`${serve.url}${a}`);
    rows.push([a, r.bytes.length, r.encoding]);
  }
  const total = rows.reduce((n, r) => n + r[1], 0);

  const colds = [];
  for (let i = 0; i < COLD; i++) {
    const p = await launch();
    colds.push(await interactive(p, false));
    await contexts.pop().close();
  }
  const page = await launch();
  await interactive(page, false);
  const warm = [];
  for (let i = 0; i < N; i++) warm.push(await interactive(page, true));
  const floors = [];
  for (let i = 0; i < N; i++) {
    await page.goto(`${serve.url}/healthz`);
    floors.push(await page.evaluate(() => performance.getEntriesByType('navigation')[0].loadEventEnd));
  }
  const first = median(colds);
  console.log('\n| file | bytes sent | encoding |\n|---|---|---|');
  for (const [p, n, e] of rows) console.log(`| ${p} | ${n} | ${e} |`);
  console.log(`| total | ${total} (${(total / 1024).toFixed(1)} kB) | goal < 100 kB: ${total < 100 * 1024 ? 'met' : 'MISSED'} |`);
  const f = median(floors);
  console.log(`\n| measure | page | /healthz floor | ratio | goal |\n|---|---|---|---|---|`);
  console.log(`| first load (fresh profile) to interactive, median of ${COLD} | ${first.toFixed(0)} ms | ${f.toFixed(0)} ms | ${(first / f).toFixed(1)}x | < 300 ms: ${first < 300 ? 'met' : 'MISSED'} |`);
  console.log(`| reload to interactive, median of ${N} | ${median(warm).toFixed(0)} ms | ${f.toFixed(0)} ms | ${(median(warm) / f).toFixed(1)}x | < 300 ms: ${median(warm) < 300 ? 'met' : 'MISSED'} |`);
  console.log(`\nload average at end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}; ratio = page / floor`);
} finally {
  for (const c of contexts) await c.close().catch(() => undefined);
  for (const d of profiles) rmSync(d, {recursive: true, force: true});
  serve.proc.kill('SIGTERM');
}
