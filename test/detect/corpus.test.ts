// Detection on every case of the shared real-world corpus (../shared/corpus/detect), through the real readers.
// Labels are the peers' (see the corpus README); only vocabulary is translated here, never answers.
import {describe, expect, test, afterAll} from '@jest/globals';
import {readFileSync, existsSync} from 'node:fs';
import {join, resolve} from 'node:path';
import {detectLocal} from '../../src/detect/index.js';
import type {ModelReport} from '../../src/detect/types.js';

const CORPUS = resolve(process.cwd(), '../shared/corpus/detect');

interface Case {
  id: string;
  target: string;
  family: string;
  kind: string;
  variant: string | null;
  label_confidence: string | null;
}

/** The corpus' vocabulary for a few variants differs from mgen's; the meaning is the same. */
const VARIANT_VOCABULARY: Record<string, string> = {'decoder (stage B)': 'decoder', 'prior (stage C)': 'prior', 'sd-x4-upscaler': 'x4-upscaler'};

const cases: Case[] = existsSync(join(CORPUS, 'index.json')) ? (JSON.parse(readFileSync(join(CORPUS, 'index.json'), 'utf8')) as {cases: Case[]}).cases : [];
const scored: Array<{id: string; ok: boolean; got: string; want: string}> = [];

function kindOk(c: Case, r: ModelReport): boolean {
  if (c.kind === 'pipeline') return r.kind === 'checkpoint' && r.format === 'diffusers';
  if (c.kind === 'other') return true; // outside the normalized list: unknown or anything more specific
  return r.kind === c.kind;
}

function familyOk(c: Case, r: ModelReport): boolean {
  if (c.family !== 'other') return r.family === c.family;
  // "other" bases are models mgen does not support: a LoRA for one must not be claimed for a supported family.
  return r.family === 'unknown' || r.kind !== 'lora';
}

function variantOk(c: Case, r: ModelReport): boolean {
  if (!c.variant) return true;
  const want = VARIANT_VOCABULARY[c.variant] ?? c.variant;
  return r.variants.includes(want);
}

describe('detection corpus', () => {
  test('the corpus is present and has cases', () => {
    expect(cases.length).toBeGreaterThan(0);
  });

  test.each(cases.map((c) => [c.id, c] as const))('%s', async (_id, c) => {
    const r = await detectLocal(join(CORPUS, c.id, c.target));
    const got = `${r.kind}/${r.family} [${r.variants.join(',')}] (${r.format})`;
    const want = `${c.kind}/${c.family}${c.variant ? ` [${c.variant}]` : ''}${c.label_confidence ? ` (label ${c.label_confidence})` : ''}`;
    const ok = kindOk(c, r) && familyOk(c, r) && variantOk(c, r);
    scored.push({id: c.id, ok, got, want});
    expect({id: c.id, got, kind: kindOk(c, r), family: familyOk(c, r), variant: variantOk(c, r)}).toEqual({id: c.id, got, kind: true, family: true, variant: true});
  });

  afterAll(() => {
    const pass = scored.filter((s) => s.ok).length;
    const lines = scored.map((s) => `${s.ok ? 'ok  ' : 'FAIL'} ${s.id}: got ${s.got}; want ${s.want}`);
    process.stderr.write(`\ncorpus score ${pass}/${scored.length}\n${lines.join('\n')}\n`);
  });
});
