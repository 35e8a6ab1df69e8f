// Types at the boundaries of the detection library: byte sources, trees, facts and the ModelReport.
// Readers turn bytes into facts; rules (pure) turn facts into conclusions; the report builder merges them.

/** Random access to one file's bytes: a local file or an HTTP resource read by Range. */
export interface ByteSource {
  /** Path or URL, for messages only. */
  readonly name: string;
  size(): Promise<number>;
  /** Reads up to `length` bytes at `offset`; fewer only at end of file. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Counters kept by the source: how many reads and bytes it served (benchmarks, tests). */
  readonly stats: {reads: number; bytes: number};
  /** Releases what the source holds (a file handle); optional, reading again may reopen. */
  close?(): Promise<void>;
}

export interface TreeEntry {
  /** POSIX path relative to the tree root; '' when the tree is a single file. */
  path: string;
  size: number;
  /** sha256 when the listing knows it (HF LFS oid, CivitAI hash). */
  sha256?: string;
}

/** A model as files: a local file or folder, an HF repo at a commit, a CivitAI file. */
export interface ModelTree {
  /** Display name of the root (path, repo id, URL). */
  readonly name: string;
  /** True when the tree is one file rather than a folder. */
  readonly singleFile: boolean;
  list(): Promise<TreeEntry[]>;
  open(path: string): ByteSource;
  /** Reads a small text file (JSON configs) whole. */
  readText(path: string): Promise<string>;
  /** Quote a file's first bytes when it is not what its name says (the CLI on a person's own local files only). */
  readonly quoteContent?: boolean;
}

/** Normalized element types: safetensors names (F32, F16, BF16, F8_E4M3, F8_E5M2, I8, U8, ...),
 * torch storage types mapped to the same names, and GGUF ggml types as 'GGUF_Q4_K' etc. */
export type DType = string;

export interface TensorInfo {
  name: string;
  dtype: DType;
  /** PyTorch order ([out, in, ...]); GGUF readers have already reversed ggml order. */
  shape: number[];
}

export type FileFormat = 'safetensors' | 'pickle' | 'gguf' | 'index' | 'json' | 'other';

export interface SecurityFinding {
  /** `module.name` as referenced by the pickle. */
  global: string;
  severity: 'dangerous' | 'unknown';
  file: string;
}

export interface FileFacts {
  path: string;
  size: number;
  format: FileFormat;
  tensors: TensorInfo[];
  /** safetensors __metadata__, GGUF key/values (stringified), or pickle top-level scalars. */
  metadata: Record<string, string>;
  warnings: string[];
  /** For pickles: every global referenced and the ones outside the allow-list. */
  pickle?: {globals: string[]; findings: SecurityFinding[]; legacy: boolean};
  /** Bytes the header promises but the file lacks (partial download or header-only copy). */
  missingBytes?: number;
}

export interface ComponentFacts {
  name: string;
  /** From model_index.json: [library, className]; null entries for optional components. */
  library: string | null;
  className: string | null;
  /** The component's config.json / scheduler_config.json, when present. */
  config?: Record<string, unknown>;
  files: FileFacts[];
  /** Tensor names from *.safetensors.index.json weight_map when no weight file could be read. */
  indexKeys?: string[];
  present: boolean;
}

export type Layout = 'file' | 'sharded' | 'diffusers' | 'component-folder' | 'folder';

/** Everything the readers learned, with no interpretation. */
export interface Facts {
  layout: Layout;
  /** Root name (file or folder name): a weak hint only, never decisive. */
  name: string;
  files: FileFacts[];
  /** All tensors of the model's weight files (single file or shards), by name. */
  tensors: Map<string, TensorInfo>;
  /** Merged safetensors metadata of the main weight file(s). */
  metadata: Record<string, string>;
  modelIndex?: Record<string, unknown>;
  components: ComponentFacts[];
  /** A lone config.json at the root (single diffusers/transformers component). */
  config?: Record<string, unknown>;
  /** Tensor names from the root's index weight_map when shards could not be read (sharded layout). */
  indexKeys?: string[];
  warnings: string[];
}

export type Kind =
  | 'checkpoint' | 'lora' | 'textual-inversion' | 'controlnet' | 'vae' | 'ip-adapter' | 't2i-adapter'
  | 'text-encoder' | 'clip-vision' | 'upscaler' | 'hypernetwork' | 'aesthetic-embedding' | 'unknown';

export type Family =
  | 'sd1' | 'sd2' | 'sdxl' | 'sdxl-refiner' | 'sd3' | 'flux' | 'flux2' | 'cascade' | 'pixart' | 'kolors'
  | 'auraflow' | 'hunyuandit' | 'cogvideox' | 'ltxv' | 'wan' | 'hunyuanvideo' | 'sana' | 'lumina2' | 'chroma'
  | 'qwen-image' | 'stable-audio' | 'unknown';

export type ReportFormat = 'diffusers' | 'single-file' | 'sharded' | 'gguf' | 'pickle' | 'folder';

export type Task = 'text-to-image' | 'image-to-image' | 'inpaint' | 'text-to-video' | 'image-to-video' | 'text-to-audio' | 'upscale' | 'unknown';

/** A model another one needs to run (an IP-Adapter's image encoder): pulled like a dependency when not beside it. */
export interface Requirement {
  role: 'image-encoder';
  /** A MODEL_ID: a repo, or a folder of one (`h94/IP-Adapter/models/image_encoder`). */
  id: string;
  /** What it is and why this one, for inspect. */
  what: string;
}

export interface Evidence {
  /** Which rule concluded it. */
  rule: string;
  /** What it concluded, e.g. "family=sdxl". */
  claim: string;
  /** The facts it rests on: key names, shapes, config values. */
  facts: string[];
}

export interface ModelReport {
  source: {type: 'local' | 'huggingface' | 'civitai' | 'url' | 'builtin'; id: string; revision?: string; file?: string; [k: string]: unknown};
  format: ReportFormat;
  kind: Kind;
  family: Family;
  variants: string[];
  precision: string;
  parameters: number;
  files: Array<{path: string; size: number; format: FileFormat; dtypes: Record<string, number>}>;
  components: Record<string, {class: string | null; library: string | null; present: boolean}>;
  /** What an all-in-one checkpoint has and lacks (unet/transformer, vae, text encoders). */
  missing: string[];
  base?: {family: Family; suggested: string | null};
  /** Other models it needs beside a base (an IP-Adapter's image encoder), as MODEL_IDs. */
  requires?: Requirement[];
  pipeline: string | null;
  task: Task;
  /** Adapter key format (kohya, peft, diffusers, lycoris-lokr, xlabs, bfl-control, ...), for LoRA-like kinds. */
  adapter_format?: string;
  /** Noise prediction target when known from the files: epsilon, v, edm, flow, or unknown. */
  prediction?: string;
  /** Generation defaults; video families add frames and fps, audio families duration (seconds). */
  defaults: {width: number; height: number; steps: number; guidance_scale: number; frames?: number; fps?: number; duration?: number} | null;
  memory: {weights_bytes: number; estimated_peak_vram_bytes: {fp16: number; bf16: number; fp32: number}};
  security: {pickle: boolean; unsafe_globals: string[]; trust_remote_code_needed: boolean};
  metadata: Record<string, string>;
  evidence: Evidence[];
  warnings: string[];
}
