// The tiny DiT builtins end to end: builtin:tiny-flux and builtin:tiny-sd3 through `mgen inspect`, `mgen schema`,
// `mgen generate` (the built CLI, the real worker, real diffusers on CPU) and one `mgen serve` request (tiny-flux).
// Each tiny model is built once (the builtin cache under the test MGEN_HOME).
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import type {ChildProcessWithoutNullStreams} from 'node:child_process';
import {existsSync, readFileSync} from 'node:fs';
import {mkdtemp, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {readPngInfo} from '../../src/backends/png-metadata.js';
import {pixelDigest} from '../helpers/png.js';
import {cli, spawnServe, testPython, tiny} from './support.js';

const FAMILIES = {'tiny-flux': {family: 'flux', pipeline: 'FluxPipeline'}, 'tiny-sd3': {family: 'sd3', pipeline: 'StableDiffusion3Pipeline'}} as const;
// Explicit load flags (the serve below uses the same ones); --no-reuse keeps the CLI runs off any running serve.
const LOAD = ['--device', 'cpu', '--dtype', 'float32'];
const SMALL = ['--prompt', 'a red cube', '--width', '64', '--height', '64', '--steps', '2', '--seed', '1'];
let out: string;
const digests: Record<string, string> = {};

beforeAll(async () => {
  await testPython();
  out = await mkdtemp(join(tmpdir(), 'mgen-tiny-dit-'));
  await Promise.all(Object.keys(FAMILIES).map(tiny));
}, 600_000);
afterAll(async () => {
  await rm(out, {recursive: true, force: true});
});

describe.each(Object.entries(FAMILIES))('builtin:%s', (name, want) => {
  const id = `builtin:${name}`;

  it(`inspect reports family ${want.family} and the ${want.pipeline}`, async () => {
    const r = await cli(['inspect', id, '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({family: want.family, kind: 'checkpoint', format: 'diffusers', pipeline: want.pipeline});
  }, 120_000);

  it('schema lists the family\'s own max_sequence_length', async () => {
    const r = await cli(['schema', id, '--json']);
    expect(r.code).toBe(0);
    const schema = JSON.parse(r.stdout);
    expect(schema.title).toBe(want.pipeline);
    expect(schema.properties.max_sequence_length).toMatchObject({type: 'integer'});
  }, 180_000);

  it('generate writes a 64x64 PNG; the same seed gives the same pixels; --param max_sequence_length reaches the pipeline', async () => {
    const a = await cli(['generate', id, ...SMALL, ...LOAD, '--no-reuse', '--out', join(out, `${name}-a.png`), '--json']);
    expect(a.stderr).toBe('');
    expect(a.code).toBe(0);
    const doc = JSON.parse(a.stdout);
    expect(doc.plan.pipeline).toBe(want.pipeline);
    const bufA = readFileSync(join(out, `${name}-a.png`));
    const info = readPngInfo(bufA);
    expect([info.width, info.height]).toEqual([64, 64]);
    expect(JSON.parse(info.text.mgen!)).toMatchObject({model: id, request: {seed: 1, width: 64, height: 64, steps: 2}});
    digests[name] = pixelDigest(bufA);

    const b = await cli(['generate', id, ...SMALL, ...LOAD, '--no-reuse', '--out', join(out, `${name}-b.png`)]);
    expect(b.code).toBe(0);
    expect(pixelDigest(readFileSync(join(out, `${name}-b.png`)))).toBe(digests[name]);

    // A shorter T5 sequence is a different conditioning: accepted, and it changes the image.
    const c = await cli(['generate', id, ...SMALL, ...LOAD, '--no-reuse', '--param', 'max_sequence_length=16', '--out', join(out, `${name}-c.png`)]);
    expect(c.stderr).toBe('');
    expect(c.code).toBe(0);
    expect(pixelDigest(readFileSync(join(out, `${name}-c.png`)))).not.toBe(digests[name]);
  }, 400_000);

  it('refuses a size that is not a multiple of 16 with exit 2, before building or loading anything', async () => {
    // A fresh MGEN_HOME: the builtin's family is known by name, so nothing gets built there.
    const home = join(out, `home-${name}`);
    const r = await cli(['generate', id, '--prompt', 'x', '--width', '72', '--height', '64', '--no-reuse', '--out', join(out, 'never.png')], {env: {MGEN_HOME: home}});
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--width 72 is not a multiple of 16 for ${want.family} (try 64 or 80)`);
    expect(existsSync(home)).toBe(false);
  }, 120_000);
});

describe('mgen serve builtin:tiny-flux', () => {
  let serve: ChildProcessWithoutNullStreams;
  let url = '';

  beforeAll(async () => {
    const started = await spawnServe(['builtin:tiny-flux', '--no-state', ...LOAD], 300_000);
    serve = started.proc;
    url = started.url;
  }, 320_000);
  afterAll(async () => {
    if (serve && serve.exitCode === null) {
      const exited = new Promise((r) => serve.on('exit', r));
      serve.kill('SIGTERM');
      await exited;
    }
  }, 60_000);

  it('answers one /v1/generate request with a PNG of the same pixels as the CLI run', async () => {
    const res = await fetch(`${url}/v1/generate`, {
      method: 'POST',
      headers: {'content-type': 'application/json'},
      body: JSON.stringify({prompt: 'a red cube', width: 64, height: 64, steps: 2, seed: 1}),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {images: Array<{b64_json: string}>};
    expect(body.images).toHaveLength(1);
    const png = Buffer.from(body.images[0]!.b64_json, 'base64');
    const info = readPngInfo(png);
    expect([info.width, info.height]).toEqual([64, 64]);
    expect(JSON.parse(info.text.mgen!)).toMatchObject({model: 'builtin:tiny-flux', plan: {pipeline: 'FluxPipeline'}});
    expect(pixelDigest(png)).toBe(digests['tiny-flux']);
  }, 300_000);
});
