import {describe, expect, it} from '@jest/globals';
import {mkdtempSync, existsSync, writeFileSync, mkdirSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {basename, join} from 'node:path';
import {ServeMetrics} from '../../../src/backends/server/metrics.js';
import {loadKeyFor} from '../../../src/backends/server/load-key.js';
import {cleanStaleStates, loadHash, planHash, readLiveState, removeState, stateFilePath, writeState} from '../../../src/backends/server/state.js';
import type {LoadPlan} from '../../../src/backends/worker/types.js';

const plan = {strategy: 'diffusers-folder', path: '/m', pipeline: 'StableDiffusionPipeline', task: 'text-to-image', dtype: 'float32'} as unknown as LoadPlan;

describe('Prometheus metrics', () => {
  it('renders counters, histograms and gauges in the text format', () => {
    const m = new ServeMetrics();
    m.observeRequest('/v1/generate', 'POST', 200, 0.3);
    m.observeRequest('/v1/generate', 'POST', 429, 0.001);
    m.observeGeneration(20, 2, 1);
    m.gauges = () => ({queueDepth: 3, running: 1, ready: true, gpuFree: 100, gpuTotal: 200});
    const text = m.render();
    expect(text).toContain('mgen_http_requests_total{route="/v1/generate",method="POST",status="200"} 1');
    expect(text).toContain('mgen_http_requests_total{route="/v1/generate",method="POST",status="429"} 1');
    expect(text).toContain('mgen_http_request_duration_seconds_bucket{route="/v1/generate",le="0.5"} 2');
    expect(text).toContain('mgen_http_request_duration_seconds_bucket{route="/v1/generate",le="0.25"} 1');
    expect(text).toContain('mgen_http_request_duration_seconds_count{route="/v1/generate"} 2');
    expect(text).toContain('mgen_queue_depth 3');
    expect(text).toContain('mgen_denoise_steps_per_second 10');
    expect(text).toContain('mgen_gpu_memory_free_bytes 100');
    expect(text).toMatch(/# TYPE mgen_http_request_duration_seconds histogram/);
  });
});

describe('serve state files', () => {
  const key = loadKeyFor({modelId: 'builtin:tiny-sd', dtype: 'float32'});
  const state = (pid: number) => ({pid, url: 'http://127.0.0.1:1', model_id: 'builtin:tiny-sd', load_hash: loadHash(key), plan_hash: planHash(plan), auth: false, started: 'now'});

  it('writes, finds, and removes the state of a live serve', () => {
    const home = mkdtempSync(join(tmpdir(), 'mgen-state-'));
    const file = writeState(home, key, state(process.pid));
    expect(file).toBe(stateFilePath(home, key));
    expect(readLiveState(home, loadKeyFor({modelId: 'builtin:tiny-sd', dtype: 'float32'}))?.url).toBe('http://127.0.0.1:1');
    expect(readLiveState(home, loadKeyFor({modelId: 'builtin:tiny-sd', dtype: 'float16'}))).toBeNull();
    expect(readLiveState(home, loadKeyFor({modelId: 'builtin:other', dtype: 'float32'}))).toBeNull();
    removeState(file);
    expect(existsSync(file)).toBe(false);
  });

  it('keys a local model by its absolute path however it is written', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mgen-model-'));
    const cwd = process.cwd();
    try {
      process.chdir(join(dir, '..'));
      expect(loadKeyFor({modelId: `./${basename(dir)}`})).toEqual(loadKeyFor({modelId: dir}));
    } finally {
      process.chdir(cwd);
    }
  });

  it('ignores and deletes the state of a dead process', () => {
    const home = mkdtempSync(join(tmpdir(), 'mgen-state-'));
    const file = writeState(home, key, state(2 ** 22 + 12345));
    expect(readLiveState(home, key)).toBeNull();
    expect(existsSync(file)).toBe(false);
    mkdirSync(join(home, 'run'), {recursive: true});
    writeFileSync(join(home, 'run', 'junk.json'), '{not json');
    expect(cleanStaleStates(home)).toBe(1);
  });
});
