// Kolors end to end (see families.ts): the tiny KolorsPipeline (ChatGLM text encoder, sentencepiece tokenizer,
// SDXL-style UNet) through inspect, schema, generate and one serve. On that serve: image-to-image runs as the
// pipeline's KolorsImg2ImgPipeline sibling (from_pipe), and A1111's prompt language never applies (ChatGLM is not
// CLIP): the default syntax gives the same pixels as `plain` for a weighted prompt, and `a1111` is refused.
import {expect} from '@jest/globals';
import {buildPng, pixelDigest} from '../helpers/png.js';
import {familySuite} from './families.js';

const BASE = {width: 64, height: 64, steps: 2, seed: 1};

async function post(url: string, body: Record<string, unknown>): Promise<{status: number; json: Record<string, unknown>}> {
  const res = await fetch(`${url}/v1/generate`, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify(body)});
  return {status: res.status, json: (await res.json()) as Record<string, unknown>};
}

function digestOf(json: Record<string, unknown>): string {
  const images = json.images as Array<{b64_json: string}>;
  return pixelDigest(Buffer.from(images[0]!.b64_json, 'base64'));
}

familySuite('kolors', [{
  name: 'tiny-kolors', family: 'kolors', pipeline: 'KolorsPipeline', variants: [],
  params: ['max_sequence_length', 'crops_coords_top_left', 'denoising_end'],
  async onServe(url, t2i) {
    const input = buildPng(64, 64, [], (x, y) => [x * 4, y * 4, 128]).toString('base64');
    const i2i = await post(url, {...BASE, prompt: 'a red cube', image: input, strength: 0.5});
    expect([i2i.status, JSON.stringify(i2i.json).slice(0, 300)]).toEqual([200, expect.any(String)]);
    expect(digestOf(i2i.json)).not.toBe(t2i);

    const weighted = {...BASE, prompt: 'a (red:1.5) cube'};
    const byDefault = await post(url, weighted);
    const plain = await post(url, {...weighted, prompt_syntax: 'plain'});
    expect([byDefault.status, plain.status]).toEqual([200, 200]);
    expect(digestOf(byDefault.json)).toBe(digestOf(plain.json));
    expect(digestOf(plain.json)).not.toBe(t2i); // the brackets reach ChatGLM as written

    const a1111 = await post(url, {...weighted, prompt_syntax: 'a1111'});
    expect(a1111.status).toBe(400);
    expect((a1111.json.error as {message: string}).message).toMatch(/a1111 needs CLIP text encoders.*kolors/);
  },
}]);
