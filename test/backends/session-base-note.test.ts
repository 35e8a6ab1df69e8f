// A bare adapter's base is fetched by openSession: the user hears which base (and why) before anything about the
// network can go wrong. Stand-in worker, resolution injected (the base's resolve fails as an unreachable Hub would).
import {describe, expect, it} from '@jest/globals';
import {mkdtempSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {openSession} from '../../src/backends/session.js';
import type {ResolvedModel} from '../../src/backends/resolve-model.js';
import {NetworkError} from '../../src/errors.js';
import {report} from './report-fixture.js';
import {standInWorker} from './stand-in-worker.js';

describe('openSession: the base a bare adapter needs', () => {
  it('names the base before fetching it: "fetching base ... for this FLUX.1 LoRA", then the network error', async () => {
    const events: string[] = [];
    const env = {...process.env, HF_HOME: mkdtempSync(join(tmpdir(), 'mgen-basenote-')), HF_HUB_OFFLINE: undefined};
    const lora: ResolvedModel = {
      id: '/loras/flux-style.safetensors', pinnedId: '/loras/flux-style.safetensors', path: '/loras/flux-style.safetensors',
      report: report({kind: 'lora', family: 'flux', format: 'single-file'}), configRepo: null, baseId: 'black-forest-labs/FLUX.1-dev',
    };
    const err = await openSession({
      modelId: lora.id, python: await standInWorker(), env,
      onNote: (t) => events.push(`note: ${t}`),
      resolve: async (id) => {
        if (id === lora.id) return lora;
        events.push(`resolve ${id}`);
        throw new NetworkError('cannot reach huggingface.co: fetch failed (ENOTFOUND)');
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect(events).toEqual(['note: fetching base black-forest-labs/FLUX.1-dev for this FLUX.1 LoRA', 'resolve black-forest-labs/FLUX.1-dev']);
  });

  it('says nothing when the user named the base (--base)', async () => {
    const notes: string[] = [];
    const lora: ResolvedModel = {id: '/l.safetensors', pinnedId: '/l.safetensors', path: '/l.safetensors', report: report({kind: 'lora', family: 'flux'}), configRepo: null, baseId: 'black-forest-labs/FLUX.1-dev'};
    await openSession({
      modelId: lora.id, base: 'org/my-flux', python: await standInWorker(), onNote: (t) => notes.push(t),
      resolve: async (id) => {
        if (id === lora.id) return lora;
        throw new NetworkError('down');
      },
    }).catch(() => undefined);
    expect(notes).toEqual([]);
  });
});
