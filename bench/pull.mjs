// Pull benchmark against the loopback hub running in its own process. Baselines in the same run:
// `curl -o` of the single file (also followed by openssl sha256: the same verified download mgen does), and Python huggingface_hub snapshot_download (HF_ENDPOINT at the loopback).
// Data: one 2 GB file; a repo of 20 files totalling 2 GB; a repo with fp32 + fp16 + ckpt + ema + flax/onnx
// copies (bytes mgen pulls by default vs snapshot_download without patterns). Sources are sparse files under
// BENCH_DIR (/tmp); downloads go to /dev/shm and are removed after each run.
// A second scenario stands for a CDN that limits each connection (as real ones do; on bare loopback every tool is
// CPU-bound and the first table only compares CPU cost): a second hub process paces every body to --cap-mbps
// megabits/s per connection, and one file of about --cap-seconds at that rate is fetched by `curl -o`, `mgen pull`
// (which opens more connections when one is slow) and snapshot_download.
// Run: npm run build && MGEN_PYTHON=/tmp/pyprobe/venv/bin/python node bench/pull.mjs [runs=3] [--cap-mbps 100]
//   [--cap-seconds 15] [--scale 1]
// --cap-mbps 0 skips the capped scenario; --scale shrinks the uncapped data (e.g. 0.01 for a smoke run).
// MGEN_BENCH_BEFORE=<checkout with a built dist/> adds that build's `mgen pull` to the same run (before/after).
import {execFileSync, spawn, spawnSync} from 'node:child_process';
import {createHash} from 'node:crypto';
import {createReadStream, mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import {buildHelpers, ROOT} from './lib/helpers.mjs';

const args = process.argv.slice(2);
/** `--name N` from the command line (removed from args), or dflt. */
function numFlag(name, dflt) {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name} wants a number >= 0, got ${args[i + 1]}`);
  args.splice(i, 2);
  return v;
}
const CAP_MBPS = numFlag('--cap-mbps', 100);
const CAP_SECONDS = numFlag('--cap-seconds', 15);
const SCALE = numFlag('--scale', 1);
const RUNS = Number(args[0] ?? 3);
if (!(RUNS >= 1) || SCALE <= 0 || SCALE > 1 || (CAP_MBPS > 0 && CAP_SECONDS <= 0)) throw new Error('usage: node bench/pull.mjs [runs>=1] [--cap-mbps N] [--cap-seconds N] [--scale 0<S<=1]');
console.log(`load average at the start: ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')}`);
const out = buildHelpers();
const files = await import(join(out, 'fixtures', 'files.js'));
const python = process.env.MGEN_PYTHON;
const src = mkdtempSync(join(process.env.BENCH_DIR ?? '/tmp', 'mgen-bench-pull-src-'));
const dst = mkdtempSync(join('/dev/shm', 'mgen-bench-pull-'));
const GB2 = Math.round(2_000_000_000 * SCALE);
const CAP_RATE = (CAP_MBPS * 1e6) / 8;
const CAP_SIZE = Math.round(CAP_RATE * CAP_SECONDS);
const sizeName = (n) => (n >= 1e9 ? `${+(n / 1e9).toFixed(1)} GB` : `${+(n / 1e6).toFixed(1)} MB`);

async function sparseSt(path, size, name = 'w') {
  await files.writeSt(path, [{name, dtype: 'F16', shape: [8]}]);
  truncateSync(path, size);
  const h = createHash('sha256');
  for await (const c of createReadStream(path, {highWaterMark: 8 << 20})) h.update(c);
  return h.digest('hex');
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function timed(cmd, args, env) {
  const t = performance.now();
  const r = spawnSync(cmd, args, {env: {...process.env, ...env}, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20});
  const s = (performance.now() - t) / 1000;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return {s, stdout: r.stdout.toString()};
}

/** Starts hub-server.mjs on a config; resolves with its process and URL. */
async function startServer(cfgPath) {
  const proc = spawn(process.execPath, [join(ROOT, 'bench', 'lib', 'hub-server.mjs'), cfgPath], {stdio: ['ignore', 'pipe', 'inherit']});
  const url = await new Promise((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`hub-server exited (${code}) before it served`)));
    proc.stdout.once('data', (d) => resolve(JSON.parse(d.toString()).url));
  });
  proc.removeAllListeners('exit');
  return {proc, url};
}

let server;
let capServer;
try {
  // 1. one 2 GB file
  const big = join(src, 'big');
  mkdirSync(big, {recursive: true});
  const bigSha = await sparseSt(join(big, 'model.safetensors'), GB2);
  // 2. 20 files, 2 GB in all
  const repo20 = join(src, 'repo20');
  mkdirSync(repo20, {recursive: true});
  const sha20 = {};
  for (let i = 0; i < 20; i++) {
    const n = `model-${String(i + 1).padStart(5, '0')}-of-00020.safetensors`;
    sha20[n] = await sparseSt(join(repo20, n), Math.round(GB2 / 20), `w${i}`);
  }
  // 3. a repo with duplicate copies (sizes of an SD 1.5 repo, scaled down 10x)
  const dup = join(src, 'dupes');
  const dupSha = {};
  await files.writeDiffusers(dup, 'StableDiffusionPipeline', {
    unet: {lib: 'diffusers', cls: 'UNet2DConditionModel'}, vae: {lib: 'diffusers', cls: 'AutoencoderKL'},
    text_encoder: {lib: 'transformers', cls: 'CLIPTextModel'}, tokenizer: {lib: 'transformers', cls: 'CLIPTokenizer'}, scheduler: {lib: 'diffusers', cls: 'PNDMScheduler'},
  });
  const dupFiles = {
    'unet/diffusion_pytorch_model.safetensors': 343_849_000, 'unet/diffusion_pytorch_model.fp16.safetensors': 171_926_000,
    'unet/diffusion_pytorch_model.bin': 343_877_000, 'unet/diffusion_pytorch_model.fp16.bin': 171_940_000, 'unet/diffusion_flax_model.msgpack': 343_847_000,
    'vae/diffusion_pytorch_model.safetensors': 33_466_000, 'vae/diffusion_pytorch_model.fp16.safetensors': 16_734_000, 'vae/diffusion_pytorch_model.bin': 33_480_000,
    'text_encoder/model.safetensors': 49_207_000, 'text_encoder/model.fp16.safetensors': 24_610_000, 'text_encoder/pytorch_model.bin': 49_207_000,
    'v1-5-pruned.ckpt': 742_728_000, 'v1-5-pruned.safetensors': 742_708_000, 'v1-5-pruned-emaonly.ckpt': 427_171_000, 'v1-5-pruned-emaonly.safetensors': 426_723_000,
  };
  for (const p of Object.keys(dupFiles)) dupFiles[p] = Math.round(dupFiles[p] * SCALE);
  for (const [p, n] of Object.entries(dupFiles)) dupSha[p] = await sparseSt(join(dup, p), n);
  // 4. (capped link) one file of about CAP_SECONDS at the cap
  const capped = join(src, 'capped');
  let cappedSha;
  if (CAP_MBPS > 0) {
    mkdirSync(capped, {recursive: true});
    cappedSha = await sparseSt(join(capped, 'model.safetensors'), CAP_SIZE);
  }

  const cfgPath = join(src, 'server.json');
  writeFileSync(cfgPath, JSON.stringify({repos: [
    {id: 'bench/big', dir: big, sha256: {'model.safetensors': bigSha}}, {id: 'bench/repo20', dir: repo20, sha256: sha20}, {id: 'bench/dupes', dir: dup, sha256: dupSha}]}));
  let url;
  ({proc: server, url} = await startServer(cfgPath));
  const mgen = join(ROOT, 'bin', 'mgen');
  const pyEnv = (home) => ({HF_HOME: home, HF_ENDPOINT: url, HF_HUB_DISABLE_TELEMETRY: '1', HF_HUB_DISABLE_PROGRESS_BARS: '1', HF_TOKEN: ''});
  const results = {curl: [], curlSha: [], mgenBig: [], mgenBigTransfer: [], mgenRepo: [], pyRepo: [], pyBig: [], beforeBig: [], beforeRepo: []};
  const before = process.env.MGEN_BENCH_BEFORE ? join(process.env.MGEN_BENCH_BEFORE, 'bin', 'mgen') : undefined;
  for (let run = 0; run < RUNS; run++) {
    const o = join(dst, 'curl.out');
    results.curl.push(timed('curl', ['-sSL', '-o', o, `${url}/bench/big/resolve/main/model.safetensors`], {}).s);
    rmSync(o, {force: true});
    // The same work as mgen's verified download: fetch, then check the sha256 (with OpenSSL's sha256, which uses the CPU's SHA extensions as Node's does; coreutils' sha256sum does not and took 4x longer).
    const cs = timed('sh', ['-c', 'curl -sSL -o "$1" "$2" && openssl dgst -sha256 -r "$1"', 'sh', o, `${url}/bench/big/resolve/main/model.safetensors`], {});
    if (!cs.stdout.startsWith(bigSha)) throw new Error('curl + sha256sum gave another hash');
    results.curlSha.push(cs.s);
    rmSync(o, {force: true});
    const h1 = join(dst, 'mgen-hf');
    const r1 = timed(mgen, ['pull', 'bench/big', '--json'], {HF_HOME: h1, HF_ENDPOINT: url, MGEN_HOME: join(dst, 'mgen-home')});
    if (JSON.parse(r1.stdout).bytes_downloaded !== GB2) throw new Error('mgen did not download the whole file');
    results.mgenBig.push(r1.s);
    results.mgenBigTransfer.push(JSON.parse(r1.stdout).download_seconds);
    rmSync(h1, {recursive: true, force: true});
    const r2 = timed(mgen, ['pull', 'bench/repo20', '--all', '--json'], {HF_HOME: h1, HF_ENDPOINT: url, MGEN_HOME: join(dst, 'mgen-home')});
    results.mgenRepo.push(r2.s);
    rmSync(h1, {recursive: true, force: true});
    if (before) {
      const env = {HF_HOME: h1, HF_ENDPOINT: url, MGEN_HOME: join(dst, 'mgen-home-before')};
      results.beforeBig.push(timed(before, ['pull', 'bench/big', '--json'], env).s);
      rmSync(h1, {recursive: true, force: true});
      results.beforeRepo.push(timed(before, ['pull', 'bench/repo20', '--all', '--json'], env).s);
      rmSync(h1, {recursive: true, force: true});
    }
    if (python) {
      const h2 = join(dst, 'py-hf');
      results.pyRepo.push(timed(python, ['-c', "from huggingface_hub import snapshot_download; snapshot_download('bench/repo20')"], pyEnv(h2)).s);
      rmSync(h2, {recursive: true, force: true});
      results.pyBig.push(timed(python, ['-c', "from huggingface_hub import snapshot_download; snapshot_download('bench/big')"], pyEnv(h2)).s);
      rmSync(h2, {recursive: true, force: true});
    }
  }
  // Default selection vs snapshot_download without patterns (which takes every file).
  const dry = JSON.parse(timed(mgen, ['pull', 'bench/dupes', '--dry-run', '--json'], {HF_HOME: join(dst, 'x'), HF_ENDPOINT: url}).stdout);
  const allBytes = Object.values(dupFiles).reduce((a, b) => a + b, 0);
  let pyDupBytes = null;
  if (python) {
    const h3 = join(dst, 'py-dup');
    const code = "from huggingface_hub import snapshot_download, scan_cache_dir\nsnapshot_download('bench/dupes')\nprint(scan_cache_dir().size_on_disk)";
    pyDupBytes = Number(timed(python, ['-c', code], {...pyEnv(h3)}).stdout.trim().split('\n').pop());
    rmSync(h3, {recursive: true, force: true});
  }
  const mbps = (bytes, s) => bytes / s / 1e6;
  const line = (name, ours, base, bytes, baseName) => `| ${name} | ${mbps(bytes, ours).toFixed(0)} MB/s (${ours.toFixed(2)} s) | ${baseName} ${base ? `${mbps(bytes, base).toFixed(0)} MB/s (${base.toFixed(2)} s)` : '-'} | ${base ? (base / ours).toFixed(2) + 'x' : '-'} |`;
  console.log(`\n## pull (loopback hub in its own process, medians of ${RUNS}, downloads to /dev/shm${SCALE !== 1 ? `, data scaled by ${SCALE}` : ''})\n`);
  console.log('| case | mgen pull | baseline | mgen speed / baseline speed |');
  console.log('|---|---|---|---|');
  console.log(line(`one ${sizeName(GB2)} file`, median(results.mgenBig), median(results.curl), GB2, 'curl -o'));
  console.log(line(`one ${sizeName(GB2)} file`, median(results.mgenBig), median(results.curlSha), GB2, 'curl -o && openssl sha256'));
  // The transfer alone (mgen's own download_seconds: first request to last verified byte), without the CLI's start-up and API calls.
  console.log(line(`one ${sizeName(GB2)} file, mgen's transfer only`, median(results.mgenBigTransfer), median(results.curl), GB2, 'curl -o'));
  if (python) console.log(line(`one ${sizeName(GB2)} file`, median(results.mgenBig), median(results.pyBig), GB2, 'snapshot_download'));
  if (python) console.log(line(`20 files, ${sizeName(GB2)} (mgen --all)`, median(results.mgenRepo), median(results.pyRepo), GB2, 'snapshot_download'));
  if (before) {
    console.log(line(`one ${sizeName(GB2)} file, before`, median(results.beforeBig), median(results.curl), GB2, 'curl -o'));
    if (python) console.log(line(`20 files, ${sizeName(GB2)}, before`, median(results.beforeRepo), median(results.pyRepo), GB2, 'snapshot_download'));
  }
  console.log(`\nrepo with fp32 + fp16 + .bin + flax + ckpt + ema copies (${(allBytes / 1e9).toFixed(2)} GB in all): mgen pull by default selects ${dry.files.length} files, ${(dry.bytes_total / 1e9).toFixed(3)} GB; ` +
    `snapshot_download without patterns pulls ${pyDupBytes !== null ? (pyDupBytes / 1e9).toFixed(3) : (allBytes / 1e9).toFixed(3) + ' (every file)'} GB: ${((pyDupBytes ?? allBytes) / dry.bytes_total).toFixed(1)}x more.`);
  console.log(`raw seconds: ${JSON.stringify(results)}`);

  if (CAP_MBPS > 0) {
    // A link that caps each connection: a second hub process pacing every body to CAP_RATE per connection.
    const capCfg = join(src, 'server-capped.json');
    writeFileSync(capCfg, JSON.stringify({bodyBytesPerSecond: CAP_RATE, repos: [{id: 'bench/capped', dir: capped, sha256: {'model.safetensors': cappedSha}}]}));
    let capUrl;
    ({proc: capServer, url: capUrl} = await startServer(capCfg));
    const capT = {curl: [], mgen: [], py: []};
    const fileUrl = `${capUrl}/bench/capped/resolve/main/model.safetensors`;
    for (let run = 0; run < RUNS; run++) {
      const o = join(dst, 'curl-capped.out');
      capT.curl.push(timed('curl', ['-sSL', '-o', o, fileUrl], {}).s);
      rmSync(o, {force: true});
      const h1 = join(dst, 'mgen-hf-capped');
      const r = timed(mgen, ['pull', 'bench/capped', '--json'], {HF_HOME: h1, HF_ENDPOINT: capUrl, MGEN_HOME: join(dst, 'mgen-home')});
      if (JSON.parse(r.stdout).bytes_downloaded !== CAP_SIZE) throw new Error('mgen did not download the whole capped file');
      capT.mgen.push(r.s);
      rmSync(h1, {recursive: true, force: true});
      if (python) {
        const h2 = join(dst, 'py-hf-capped');
        const py = {...pyEnv(h2), HF_ENDPOINT: capUrl};
        capT.py.push(timed(python, ['-c', "from huggingface_hub import snapshot_download; snapshot_download('bench/capped')"], py).s);
        rmSync(h2, {recursive: true, force: true});
      }
    }
    const m = median(capT.mgen);
    console.log(`\n## pull over a link capped at ${CAP_MBPS} Mbit/s (${(CAP_RATE / 1e6).toFixed(1)} MB/s) per connection ` +
      `(loopback hub in its own process pacing each body, one ${sizeName(CAP_SIZE)} file, medians of ${RUNS})\n`);
    console.log('| case | mgen pull | baseline | mgen speed / baseline speed |');
    console.log('|---|---|---|---|');
    console.log(line(`one ${sizeName(CAP_SIZE)} file`, m, median(capT.curl), CAP_SIZE, 'curl -o'));
    if (python) console.log(line(`one ${sizeName(CAP_SIZE)} file`, m, median(capT.py), CAP_SIZE, 'snapshot_download'));
    console.log(`raw seconds (capped): ${JSON.stringify(capT)}`);
  }
  console.log(`load average at the end: ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')}`);
} finally {
  server?.kill('SIGTERM');
  capServer?.kill('SIGTERM');
  rmSync(src, {recursive: true, force: true});
  rmSync(dst, {recursive: true, force: true});
}
