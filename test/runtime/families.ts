// One suite for the tiny builtin of each image family (families-*.test.ts): `mgen inspect` names the family and its
// pipeline, `mgen schema` lists the family's own parameters, `mgen generate` (the built CLI, the real worker, real
// diffusers on CPU) writes a PNG of the asked size, and one `mgen serve` request per model gives the same pixels.
// Each tiny model is built once (the builtin cache under the test MGEN_HOME); everything runs at 64-128 px, 2 steps.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {readFileSync, writeFileSync} from 'node:fs';
import {mkdtemp, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {readPngInfo} from '../../src/backends/png-metadata.js';
import {buildPng, pixelDigest} from '../helpers/png.js';
import {cli, spawnServe, testPython, tiny} from './support.js';

export interface FamilyCase {
  name: string;
  family: string;
  pipeline: string;
  format?: 'diffusers' | 'single-file';
  variants?: string[];
  /** Parameters of the family's own pipeline that `mgen schema` must list. */
  params: string[];
  size?: number;
  /** --param values generate passes (and the serve request as `params`). */
  extra?: Record<string, unknown>;
  /** An image-to-image model: generate gets --image (and --strength). */
  image?: boolean;
  /** A builtin that must give the same pixels (a transformer-only file holding its base's weights). */
  samePixelsAs?: string;
  /** More requests to the same serve (a case-specific check; the file still starts one serve per model). */
  onServe?: (url: string, digest: string) => Promise<void>;
}

// Explicit load flags (the serves use the same ones); --no-reuse keeps the CLI runs off any running serve.
const LOAD = ['--device', 'cpu', '--dtype', 'float32'];

export function familySuite(label: string, cases: FamilyCase[]): void {
  let out: string;
  let input: string;
  const digests: Record<string, string> = {};

  beforeAll(async () => {
    await testPython();
    out = await mkdtemp(join(tmpdir(), `mgen-${label}-`));
    input = join(out, 'input.png');
    writeFileSync(input, buildPng(64, 64, [], (x, y) => [x * 4, y * 4, 128]));
    for (const c of cases) await tiny(c.name); // one at a time: the builds are CPU-bound (a base builds with its file)
  }, 900_000);
  afterAll(async () => {
    await rm(out, {recursive: true, force: true});
  });

  describe.each(cases.map((c) => [c.name, c] as const))('builtin:%s', (name, c) => {
    const id = `builtin:${name}`;
    const size = c.size ?? 64;
    const request = {prompt: 'a red cube', width: size, height: size, steps: 2, seed: 1};
    const args = () => [
      '--prompt', request.prompt, '--width', String(size), '--height', String(size), '--steps', '2', '--seed', '1', ...LOAD,
      ...Object.entries(c.extra ?? {}).flatMap(([k, v]) => ['--param', `${k}=${JSON.stringify(v)}`]),
      ...(c.image ? ['--image', input, '--strength', '0.5'] : []),
    ];

    it(`inspect reports family ${c.family} and the ${c.pipeline}`, async () => {
      const r = await cli(['inspect', id, '--json']);
      expect(r.code).toBe(0);
      const report = JSON.parse(r.stdout);
      expect(report).toMatchObject({family: c.family, kind: 'checkpoint', format: c.format ?? 'diffusers', pipeline: c.pipeline});
      if (c.variants) expect(report.variants).toEqual(c.variants);
    }, 120_000);

    it(`schema lists the family's own parameters (${c.params.join(', ')})`, async () => {
      const r = await cli(['schema', id, '--json', ...LOAD, ...(c.image ? ['--image'] : [])]);
      expect(r.code).toBe(0);
      const schema = JSON.parse(r.stdout);
      expect(schema.title).toBe(c.pipeline);
      for (const p of c.params) expect(Object.keys(schema.properties)).toContain(p);
    }, 300_000);

    it(`generate writes a ${size}x${size} PNG with the request in its metadata`, async () => {
      const file = join(out, `${name}.png`);
      const r = await cli(['generate', id, ...args(), '--no-reuse', '--out', file, '--json']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout).plan.pipeline).toBe(c.pipeline);
      const png = readFileSync(file);
      const info = readPngInfo(png);
      expect([info.width, info.height]).toEqual([size, size]);
      expect(JSON.parse(info.text.mgen!)).toMatchObject({model: id, request: {seed: 1, width: size, height: size, steps: 2}});
      digests[name] = pixelDigest(png);
      if (c.samePixelsAs) {
        const other = join(out, `${c.samePixelsAs}.png`);
        const b = await cli(['generate', `builtin:${c.samePixelsAs}`, ...args(), '--no-reuse', '--out', other]);
        expect(b.code).toBe(0);
        expect(pixelDigest(readFileSync(other))).toBe(digests[name]);
      }
    }, 600_000);

    it(`one mgen serve request gives the same pixels as the CLI run${c.onServe ? ', then the case\'s own requests' : ''}`, async () => {
      const served = await spawnServe([id, '--no-state', ...LOAD], 300_000);
      try {
        const body: Record<string, unknown> = {...request, ...(c.extra ? {params: c.extra} : {})};
        if (c.image) Object.assign(body, {image: readFileSync(input).toString('base64'), strength: 0.5});
        const res = await fetch(`${served.url}/v1/generate`, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify(body)});
        const text = await res.text();
        expect([res.status, text.slice(0, 300)]).toEqual([200, expect.any(String)]);
        const png = Buffer.from((JSON.parse(text) as {images: Array<{b64_json: string}>}).images[0]!.b64_json, 'base64');
        const info = readPngInfo(png);
        expect([info.width, info.height]).toEqual([size, size]);
        expect(JSON.parse(info.text.mgen!)).toMatchObject({model: id, plan: {pipeline: c.pipeline}});
        expect(pixelDigest(png)).toBe(digests[name]);
        await c.onServe?.(served.url, digests[name]!);
      } finally {
        const exited = new Promise((r) => served.proc.on('exit', r));
        served.proc.kill('SIGTERM');
        await exited;
      }
    }, 400_000);
  });
}
