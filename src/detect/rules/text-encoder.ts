// Standalone text encoders: CLIP text (HF `text_model.*` or OpenCLIP), T5 / UMT5 (`encoder.block.*` + `shared`),
// and LLM encoders by config class or GGUF arch. Family stays `unknown`: one encoder serves many families.
import type {Facts} from '../types.js';
import type {Rule, RuleMatch} from '../rule-types.js';
import {configClass, rootView} from '../analyze/keys.js';
import {ggufArch} from '../analyze/dit.js';

const CLIP_WIDTH: Record<number, string> = {768: 'clip-l', 1024: 'openclip-h', 1280: 'clip-g'};
const TEXT_CLASSES = /^(CLIPTextModel(WithProjection)?|T5EncoderModel|UMT5EncoderModel|ChatGLMModel|BertModel|Gemma\w*Model|Gemma\w*ForCausalLM|Llama\w*|Qwen\w*|Mistral\w*|MT5EncoderModel|Glm\w*)$/;

export function matchTextEncoder(facts: Facts): RuleMatch | null {
  const root = rootView(facts);
  const v = root.hasPrefix('transformer.text_model.') ? root.sub('transformer.') : root;
  const evidence: string[] = [];
  const variants: string[] = [];
  let specificity = 0;
  if (v.has('text_model.embeddings.token_embedding.weight') && !v.hasPrefix('vision_model.')) {
    const w = v.dim('text_model.embeddings.token_embedding.weight', 1);
    evidence.push(v.describe('text_model.embeddings.token_embedding.weight'), `${v.maxIndex('text_model.encoder.layers.') + 1} layers`);
    if (w !== undefined && CLIP_WIDTH[w]) variants.push(CLIP_WIDTH[w]);
    specificity = 45;
  } else if (v.has('token_embedding.weight') && v.hasPrefix('transformer.resblocks.') && !v.hasPrefix('visual.')) {
    const w = v.dim('token_embedding.weight', 1);
    evidence.push(v.describe('token_embedding.weight'), 'OpenCLIP text tower');
    if (w !== undefined && CLIP_WIDTH[w]) variants.push(CLIP_WIDTH[w]);
    specificity = 45;
  } else if (v.hasPrefix('encoder.block.0.layer.0.SelfAttention.') && (v.has('shared.weight') || v.has('encoder.embed_tokens.weight'))) {
    const emb = v.has('shared.weight') ? 'shared.weight' : 'encoder.embed_tokens.weight';
    const vocab = v.dim(emb, 0);
    evidence.push(v.describe(emb), `${v.maxIndex('encoder.block.') + 1} blocks`);
    variants.push(vocab !== undefined && vocab > 200000 ? 'umt5' : 't5');
    if (v.dim(emb, 1) === 4096) variants.push('xxl');
    specificity = 45;
  }
  const cls = configClass(facts.config);
  if (cls && TEXT_CLASSES.test(cls)) {
    evidence.push(`config.json class ${cls}`);
    specificity = Math.max(specificity, 45);
  }
  const arch = ggufArch(facts);
  if (arch && ['t5', 't5encoder', 'llama', 'qwen2vl', 'qwen3', 'qwen3vl', 'gemma2', 'gemma3', 'umt5'].includes(arch)) {
    evidence.push(`GGUF general.architecture=${arch}`);
    variants.push(arch);
    specificity = Math.max(specificity, 45);
  }
  if (specificity === 0) return null;
  return {rule: 'text-encoder', kind: 'text-encoder', family: 'unknown', variants, specificity, evidence};
}

export const textEncoderRule: Rule = {id: 'text-encoder', match: matchTextEncoder};
