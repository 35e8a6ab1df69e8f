// Fixture builders for the loopback servers: safetensors files from a key/shape list, and repos shaped like
// real ones (a diffusers pipeline with fp16 variants and the duplicates a pull must skip, a single-file repo).
import {readdirSync, statSync} from 'node:fs';
import {join} from 'node:path';
import {commitOf, type HubFile, type HubRepo} from './loopback-hub.js';

const BYTES: Record<string, number> = {F32: 4, F16: 2, BF16: 2, I64: 8, U8: 1};

export function safetensors(tensors: Array<[string, string, number[]]>, metadata?: Record<string, string>): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let off = 0;
  for (const [name, dtype, shape] of tensors) {
    const n = shape.reduce((a, b) => a * b, 1) * (BYTES[dtype] ?? 4);
    header[name] = {dtype, shape, data_offsets: [off, off + n]};
    off += n;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  // Data is deterministic but not all zero, so a wrong byte changes the sha256.
  const data = Buffer.alloc(off);
  for (let i = 0; i < off; i += 97) data[i] = (i / 97) & 0xff;
  return Buffer.concat([len, Buffer.from(json), data]);
}

const json = (o: unknown) => Buffer.from(JSON.stringify(o, null, 2));

export function tinyUnet(dtype = 'F32'): Buffer {
  return safetensors([
    ['conv_in.weight', dtype, [32, 4, 3, 3]],
    ['down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight', dtype, [32, 768]],
    ['conv_out.weight', dtype, [4, 32, 3, 3]],
  ]);
}

/** A diffusers SD1-like pipeline repo with fp16 variants plus flax/onnx/ckpt/ema duplicates. */
export function diffusersRepo(id = 'org/tiny-sd', opts: {withVariant?: boolean; extra?: HubFile[]} = {}): HubRepo {
  const withVariant = opts.withVariant ?? true;
  const files: HubFile[] = [
    {path: 'model_index.json', content: json({_class_name: 'StableDiffusionPipeline', _diffusers_version: '0.30.0',
      unet: ['diffusers', 'UNet2DConditionModel'], vae: ['diffusers', 'AutoencoderKL'], text_encoder: ['transformers', 'CLIPTextModel'],
      tokenizer: ['transformers', 'CLIPTokenizer'], scheduler: ['diffusers', 'PNDMScheduler'], safety_checker: [null, null], feature_extractor: [null, null]})},
    {path: 'README.md', content: Buffer.from('---\nlicense: openrail\n---\n# tiny\n')},
    {path: 'unet/config.json', content: json({_class_name: 'UNet2DConditionModel', cross_attention_dim: 768, in_channels: 4, sample_size: 64})},
    {path: 'unet/diffusion_pytorch_model.safetensors', content: tinyUnet('F32')},
    {path: 'unet/diffusion_pytorch_model.bin', content: Buffer.alloc(5000, 7)},
    {path: 'unet/diffusion_flax_model.msgpack', content: Buffer.alloc(4000, 3)},
    {path: 'vae/config.json', content: json({_class_name: 'AutoencoderKL', latent_channels: 4})},
    {path: 'vae/diffusion_pytorch_model.safetensors', content: safetensors([['encoder.conv_in.weight', 'F32', [8, 3, 3, 3]]])},
    {path: 'text_encoder/config.json', content: json({architectures: ['CLIPTextModel'], hidden_size: 768})},
    {path: 'text_encoder/model.safetensors', content: safetensors([['text_model.embeddings.token_embedding.weight', 'F32', [100, 16]]])},
    {path: 'tokenizer/vocab.json', content: json({a: 0, b: 1})},
    {path: 'tokenizer/merges.txt', content: Buffer.from('#version: 0.2\na b\n')},
    {path: 'tokenizer/tokenizer_config.json', content: json({model_max_length: 77})},
    {path: 'scheduler/scheduler_config.json', content: json({_class_name: 'PNDMScheduler', num_train_timesteps: 1000})},
    {path: 'v1-5-pruned.ckpt', content: Buffer.alloc(9000, 1)},
    {path: 'v1-5-pruned-emaonly.safetensors', content: safetensors([['model.diffusion_model.input_blocks.0.0.weight', 'F32', [32, 4, 3, 3]]])},
    {path: 'onnx/unet/model.onnx', content: Buffer.alloc(3000, 2)},
    ...(opts.extra ?? []),
  ];
  if (withVariant) {
    files.push(
      {path: 'unet/diffusion_pytorch_model.fp16.safetensors', content: tinyUnet('F16')},
      {path: 'vae/diffusion_pytorch_model.fp16.safetensors', content: safetensors([['encoder.conv_in.weight', 'F16', [8, 3, 3, 3]]])},
    );
  }
  return {id, commit: commitOf(id), files, license: 'openrail'};
}

export function singleFileRepo(id = 'org/single', names = ['model.safetensors']): HubRepo {
  return {
    id,
    commit: commitOf(id),
    files: [
      {path: 'README.md', content: Buffer.from('# single\n')},
      ...names.map((n, i) => ({path: n, content: safetensors([['model.diffusion_model.input_blocks.0.0.weight', i % 2 ? 'F16' : 'F32', [32, 4, 3, 3]]], {i: String(i)})})),
    ],
  };
}

/** A repo whose files are those of a folder on disk (served from disk: sparse files stay cheap). */
export function repoFromFolder(id: string, dir: string, opts: {sha256?: Record<string, string>} = {}): HubRepo {
  const files: HubFile[] = [];
  const walk = (d: string, prefix: string) => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p, `${prefix}${n}/`);
      else files.push({path: prefix + n, diskPath: p, ...(opts.sha256?.[prefix + n] ? {sha256: opts.sha256[prefix + n]} : {}), lfs: /\.(safetensors|bin|ckpt|gguf)$/.test(n)});
    }
  };
  walk(dir, '');
  return {id, commit: commitOf(id), files};
}
