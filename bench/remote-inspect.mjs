// Remote inspect benchmark: `detect()` over an HF tree served by the loopback hub, for a 6.9 GB single-file
// SDXL checkpoint and an SDXL diffusers repo (sparse files: real headers, holes for data). Counts HTTP
// requests and bytes the server sent, per file. Baseline in the same run: huggingface_hub's
// HfApi.parse_safetensors_file_metadata on the same safetensors files (Python; MGEN_PYTHON).
// Run: npm run build && MGEN_PYTHON=/tmp/pyprobe/venv/bin/python node bench/remote-inspect.mjs
import {execFileSync} from 'node:child_process';
import {mkdtempSync, rmSync, truncateSync} from 'node:fs';
import {join} from 'node:path';
import {buildHelpers, ROOT} from './lib/helpers.mjs';

const out = buildHelpers();
const {LoopbackHub} = await import(join(out, 'loopback-hub.js'));
const {repoFromFolder} = await import(join(out, 'hub-fixtures.js'));
const files = await import(join(out, 'fixtures', 'files.js'));
const sd = await import(join(out, 'fixtures', 'sd.js'));
const {resolveModel} = await import(join(ROOT, 'dist', 'sources', 'resolve.js'));
const {detect} = await import(join(ROOT, 'dist', 'detect', 'index.js'));

const dir = mkdtempSync(join(process.env.BENCH_DIR ?? '/tmp', 'mgen-bench-inspect-'));
try {
  const single = join(dir, 'single');
  await files.writeSt(join(single, 'sd_xl_base_1.0.safetensors'), sd.sdCheckpoint('sdxl'));
  truncateSync(join(single, 'sd_xl_base_1.0.safetensors'), 6_938_078_334);
  const pipe = join(dir, 'pipe');
  await files.writeDiffusers(pipe, 'StableDiffusionXLPipeline', {
    unet: {lib: 'diffusers', cls: 'UNet2DConditionModel', config: {cross_attention_dim: 2048, in_channels: 4, addition_embed_type: 'text_time'}, specs: sd.diffusersUnet('', {context: 2048, adm: 2816, depth: 10, linearProj: true})},
    vae: {lib: 'diffusers', cls: 'AutoencoderKL', config: {latent_channels: 4}, specs: sd.ldmVae('', 4, 'F16', true)},
    text_encoder: {lib: 'transformers', cls: 'CLIPTextModel', config: {hidden_size: 768}, specs: sd.clipText('text_model.', 768, 12)},
    text_encoder_2: {lib: 'transformers', cls: 'CLIPTextModelWithProjection', config: {hidden_size: 1280}, specs: sd.openClipText('text_model.', 1280, 32)},
    scheduler: {lib: 'diffusers', cls: 'EulerDiscreteScheduler'},
  });
  // Real SDXL component sizes (fp16), as sparse files.
  const sizes = {'unet/diffusion_pytorch_model.safetensors': 5_135_149_760, 'vae/diffusion_pytorch_model.safetensors': 167_335_342,
    'text_encoder/model.safetensors': 246_144_152, 'text_encoder_2/model.safetensors': 1_389_382_176};
  for (const [p, n] of Object.entries(sizes)) truncateSync(join(pipe, p), n);

  const hub = await new LoopbackHub().start();
  hub.addRepo(repoFromFolder('bench/sdxl-single', single));
  hub.addRepo(repoFromFolder('bench/sdxl-pipe', pipe));
  const env = {HF_ENDPOINT: hub.url};
  const rows = [];
  for (const [label, id, total] of [['single file 6.9 GB', 'bench/sdxl-single/sd_xl_base_1.0.safetensors', 6_938_078_334], ['diffusers SDXL repo', 'bench/sdxl-pipe', Object.values(sizes).reduce((a, b) => a + b, 0)]]) {
    // Cold (first in this process) then warm (second run; connections and JIT warm), counted on the warm run.
    const tc = performance.now();
    await detect(...(await resolveModel(id, {env}).then((m) => [m.tree, m.source])));
    const cold = performance.now() - tc;
    const n0 = hub.log.length;
    const t0 = performance.now();
    const m = await resolveModel(id, {env});
    const report = await detect(m.tree, m.source);
    const ms = performance.now() - t0;
    const log = hub.log.slice(n0);
    const bytes = log.reduce((a, l) => a + l.bytes, 0);
    const st = log.filter((l) => l.path.endsWith('.safetensors'));
    const perFile = new Map();
    for (const l of st) {
      const key = l.path.replace(/^\/cdn\/[0-9a-f]{64}\//, '').replace(/^\/[^/]+\/[^/]+\/resolve\/[^/]+\//, '');
      perFile.set(key, (perFile.get(key) ?? 0) + 1);
    }
    rows.push({label, family: report.family, format: report.format, requests: log.length, safetensors_files: perFile.size,
      max_http_per_file: Math.max(...perFile.values()),       range_reads: m.tree.stats.reads, bytes, pct: (bytes / total) * 100, ms, cold});
  }

  // Baseline: huggingface_hub parse_safetensors_file_metadata on each safetensors file.
  let py = [];
  const python = process.env.MGEN_PYTHON;
  if (python) {
    for (const [label, repo, fileList] of [['single file 6.9 GB', 'bench/sdxl-single', ['sd_xl_base_1.0.safetensors']], ['diffusers SDXL repo', 'bench/sdxl-pipe', Object.keys(sizes)]]) {
      const n0 = hub.log.length;
      const code = `import time, json\nfrom huggingface_hub import HfApi\napi = HfApi()\nt = time.perf_counter()\nfor f in ${JSON.stringify(fileList)}:\n    api.parse_safetensors_file_metadata('${repo}', f)\nprint(json.dumps({"ms": (time.perf_counter() - t) * 1000}))`;
      const res = await new Promise((resolve, reject) => {
        import('node:child_process').then(({execFile}) => execFile(python, ['-c', code], {env: {...process.env, HF_ENDPOINT: hub.url, HF_HUB_DISABLE_TELEMETRY: '1', HF_HOME: join(dir, 'pyhf')}}, (e, so, se) => (e ? reject(new Error(se)) : resolve(JSON.parse(so.trim().split('\n').pop())))));
      });
      const log = hub.log.slice(n0);
      py.push({label, requests: log.length, bytes: log.reduce((a, l) => a + l.bytes, 0), ms: res.ms});
    }
  }
  await hub.close();

  console.log('\n## remote inspect (detect over HTTP Range, loopback hub)\n');
  console.log('| model | result | mgen requests | safetensors files | max HTTP requests per file (302 hop included) | mgen bytes | % of model | mgen ms warm (cold) | hf_hub parse_safetensors_file_metadata requests | its bytes | its ms |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const p = py.find((x) => x.label === r.label);
    console.log(`| ${r.label} | ${r.family} ${r.format} | ${r.requests} | ${r.safetensors_files} | ${r.max_http_per_file} | ${r.bytes} | ${r.pct.toFixed(4)}% | ${r.ms.toFixed(0)} (${r.cold.toFixed(0)}) | ${p ? p.requests : '-'} | ${p ? p.bytes : '-'} | ${p ? p.ms.toFixed(0) : '-'} |`);
  }
  const ok = rows.every((r) => r.pct < 0.1);
  console.log(`\ngoal: < 0.1% of the model's bytes: ${ok ? 'met' : 'NOT met'}`);
} finally {
  rmSync(dir, {recursive: true, force: true});
}
