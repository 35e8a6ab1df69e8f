// Pull benchmark against the loopback hub running in its own process. Baselines in the same run:
// `curl -o` of the single file (also followed by openssl sha256: the same verified download mgen does), and Python huggingface_hub snapshot_download (HF_ENDPOINT at the loopback).
// Data: one 2 GB file; a repo of 20 files totalling 2 GB; a repo with fp32 + fp16 + ckpt + ema + flax/onnx
// copies (bytes mgen pulls by default vs snapshot_download without patterns). Sources are sparse files under
// BENCH_DIR (/tmp); downloads go to /dev/shm and are removed after each run.
// Run: npm run build && MGEN_PYTHON=/tmp/pyprobe/venv/bin/python node bench/pull.mjs [runs=3]
// MGEN_BENCH_BEFORE=<checkout with a built dist/> adds that build's `mgen pull` to the same run (before/after).
import {execFileSync, spawn, spawnSync} from 'node:child_process';
import {createHash} from 'node:crypto';
import {createReadStream, mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import {buildHelpers, ROOT} from './lib/helpers.mjs';

const RUNS = Number(process.argv[2] ?? 3);
console.log(`load average at the start: ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')}`);
const out = buildHelpers();
const files = await import(join(out, 'fixtures', 'files.js'));
const python = process.env.MGEN_PYTHON;
const src = mkdtempSync(join(process.env.BENCH_DIR ?? '/tmp', 'mgen-bench-pull-src-'));
const dst = mkdtempSync(join('/dev/shm', 'mgen-bench-pull-'));
const GB2 = 2_000_000_000;

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

let server;
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
    sha20[n] = await sparseSt(join(repo20, n), GB2 / 20, `w${i}`);
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
  for (const [p, n] of Object.entries(dupFiles)) dupSha[p] = await sparseSt(join(dup, p), n);

  const cfgPath = join(src, 'server.json');
  writeFileSync(cfgPath, JSON.stringify({repos: [
    {id: 'bench/big', dir: big, sha256: {'model.safetensors': bigSha}}, {id: 'bench/repo20', dir: repo20, sha256: sha20}, {id: 'bench/dupes', dir: dup, sha256: dupSha}]}));
  server = spawn(process.execPath, [join(ROOT, 'bench', 'lib', 'hub-server.mjs'), cfgPath], {stdio: ['ignore', 'pipe', 'inherit']});
  const url = await new Promise((resolve) => server.stdout.once('data', (d) => resolve(JSON.parse(d.toString()).url)));
  const mgen = join(ROOT, 'bin', 'mgen');
  const pyEnv = (home) => ({HF_HOME: home, HF_ENDPOINT: url, HF_HUB_DISABLE_TELEMETRY: '1', HF_HUB_DISABLE_PROGRESS_BARS: '1', HF_TOKEN: ''});
  const results = {curl: [], curlSha: [], mgenBig: [], mgenRepo: [], pyRepo: [], pyBig: [], beforeBig: [], beforeRepo: []};
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
  console.log(`\n## pull (loopback hub in its own process, medians of ${RUNS}, downloads to /dev/shm)\n`);
  console.log('| case | mgen pull | baseline | mgen speed / baseline speed |');
  console.log('|---|---|---|---|');
  console.log(line('one 2 GB file', median(results.mgenBig), median(results.curl), GB2, 'curl -o'));
  console.log(line('one 2 GB file', median(results.mgenBig), median(results.curlSha), GB2, 'curl -o && openssl sha256'));
  if (python) console.log(line('one 2 GB file', median(results.mgenBig), median(results.pyBig), GB2, 'snapshot_download'));
  if (python) console.log(line('20 files, 2 GB (mgen --all)', median(results.mgenRepo), median(results.pyRepo), GB2, 'snapshot_download'));
  if (before) {
    console.log(line('one 2 GB file, before', median(results.beforeBig), median(results.curl), GB2, 'curl -o'));
    if (python) console.log(line('20 files, 2 GB, before', median(results.beforeRepo), median(results.pyRepo), GB2, 'snapshot_download'));
  }
  console.log(`\nrepo with fp32 + fp16 + .bin + flax + ckpt + ema copies (${(allBytes / 1e9).toFixed(2)} GB in all): mgen pull by default selects ${dry.files.length} files, ${(dry.bytes_total / 1e9).toFixed(3)} GB; ` +
    `snapshot_download without patterns pulls ${pyDupBytes !== null ? (pyDupBytes / 1e9).toFixed(3) : (allBytes / 1e9).toFixed(3) + ' (every file)'} GB: ${((pyDupBytes ?? allBytes) / dry.bytes_total).toFixed(1)}x more.`);
  console.log(`raw seconds: ${JSON.stringify(results)}`);
  console.log(`load average at the end: ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')}`);
} finally {
  server?.kill('SIGTERM');
  rmSync(src, {recursive: true, force: true});
  rmSync(dst, {recursive: true, force: true});
}
