// MODEL_ID grammar: every form a user can copy from HuggingFace, CivitAI, a URL or the disk, parsed into
// one typed reference. Parsing never touches the network; pinning to a commit / version happens later.
import {existsSync} from 'node:fs';
import {homedir} from 'node:os';
import {resolve as resolvePath} from 'node:path';
import {UsageError} from '../errors.js';

export type ModelRef =
  | {kind: 'hf'; repo: string; revision?: string; path?: string; endpoint?: string}
  | {kind: 'civitai'; modelId?: number; versionId?: number; endpoint?: string}
  | {kind: 'url'; url: string}
  | {kind: 'local'; path: string}
  | {kind: 'builtin'; name: string};

export const ACCEPTED_FORMS = [
  'org/name, org/name@revision, org/name/path/to/file.safetensors',
  'hf://org/name[@revision][/path]',
  'https://huggingface.co/org/name[/blob|resolve/<revision>/<path>]',
  'civitai:<modelId>[@<versionId>]',
  'https://civitai.com/models/<id>[/<slug>][?modelVersionId=<versionId>]',
  'https://civitai.com/api/download/models/<versionId>',
  'urn:air:<ecosystem>:<type>:civitai:<modelId>[@<versionId>]',
  'https://host/path/to/file (a plain URL)',
  'a local file or folder path',
  'builtin:<name>',
];

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$/;
const REVISION = /^(?:refs\/(?:pr|convert)\/[A-Za-z0-9_.-]+|[A-Za-z0-9][A-Za-z0-9_.-]{0,199})$/;
const MODEL_FILE_EXT = /\.(safetensors|sft|ckpt|pt|pth|bin|gguf|json|onnx|yaml)$/i;

function bad(id: string, why: string): UsageError {
  // The first line names the problem; the accepted forms (~500 characters) go on the lines under it.
  return new UsageError(`invalid MODEL_ID '${id}': ${why}`, {hintLines: ['accepted forms:', ...ACCEPTED_FORMS.map((f) => `  ${f}`)]});
}

function checkRepo(id: string, org: string | undefined, name: string | undefined): string {
  if (!org || !name || !SEGMENT.test(org) || !SEGMENT.test(name) || org.includes('..') || name.includes('..')) {
    throw bad(id, 'a HuggingFace repo is org/name (letters, digits, - _ .)');
  }
  return `${org}/${name}`;
}

function checkRevision(id: string, rev: string): string {
  if (!REVISION.test(rev)) throw bad(id, `bad revision '${rev}'`);
  return rev;
}

/** The --revision flag obeys the same grammar as an @revision in a MODEL_ID (it becomes a refs/ file name). */
export function parseRevisionFlag(rev: string): string {
  if (!REVISION.test(rev)) throw new UsageError(`expected a branch, tag or commit (letters, digits, - _ .) or refs/pr/N, got ${JSON.stringify(rev)}`);
  return rev;
}

function checkPath(id: string, parts: string[]): string | undefined {
  const clean = parts.filter((p) => p !== '');
  if (clean.length === 0) return undefined;
  if (clean.some((p) => p === '..' || p === '.')) throw bad(id, 'a file path inside a repo may not contain . or ..');
  return clean.map((p) => decode(id, p)).join('/');
}

function decode(id: string, part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw bad(id, `malformed %-escape in '${part}'`);
  }
}

function positiveInt(id: string, s: string | undefined | null, what: string): number {
  if (!s || !/^\d{1,12}$/.test(s) || Number(s) === 0) throw bad(id, `${what} must be a positive number`);
  return Number(s);
}

/** `org/name[@rev][/path...]` (also the tail of hf:// ids). A revision like refs/pr/1 is kept whole. */
function parseRepoTail(id: string, tail: string, endpoint?: string): ModelRef {
  const at = tail.indexOf('@');
  if (at >= 0) {
    const [org, name] = tail.slice(0, at).split('/');
    if (tail.slice(0, at).split('/').length !== 2) throw bad(id, 'the @revision goes right after org/name');
    const rest = tail.slice(at + 1);
    const pr = /^(refs\/(?:pr|convert)\/[^/]+)(?:\/(.*))?$/.exec(rest);
    const [rev, ...pathParts] = pr ? [pr[1]!, ...(pr[2] ? pr[2].split('/') : [])] : rest.split('/');
    if (!rev) throw bad(id, 'empty revision after @');
    return {kind: 'hf', repo: checkRepo(id, org, name), revision: checkRevision(id, rev), path: checkPath(id, pathParts), ...(endpoint ? {endpoint} : {})};
  }
  const [org, name, ...pathParts] = tail.split('/');
  return {kind: 'hf', repo: checkRepo(id, org, name), path: checkPath(id, pathParts), ...(endpoint ? {endpoint} : {})};
}

function stripUndefined(ref: ModelRef): ModelRef {
  return Object.fromEntries(Object.entries(ref).filter(([, v]) => v !== undefined)) as ModelRef;
}

function parseHfUrl(id: string, u: URL, endpoint?: string): ModelRef {
  const parts = u.pathname.split('/').filter((p) => p !== '');
  const [org, name, verb, rev, ...pathParts] = parts;
  if (parts.length > 0 && ['api', 'datasets', 'spaces'].includes(parts[0]!)) throw bad(id, 'only model repos are supported');
  const repo = checkRepo(id, org, name);
  if (verb === undefined) return stripUndefined({kind: 'hf', repo, endpoint});
  if (verb === 'tree' && rev) return stripUndefined({kind: 'hf', repo, revision: checkRevision(id, decode(id, rev)), path: checkPath(id, pathParts), endpoint});
  if ((verb === 'blob' || verb === 'resolve') && rev && pathParts.length > 0) {
    return stripUndefined({kind: 'hf', repo, revision: checkRevision(id, decode(id, rev)), path: checkPath(id, pathParts), endpoint});
  }
  throw bad(id, 'a HuggingFace URL is https://huggingface.co/org/name[/blob|resolve/<revision>/<path>]');
}

function parseCivitaiUrl(id: string, u: URL, endpoint?: string): ModelRef {
  const parts = u.pathname.split('/').filter((p) => p !== '');
  const ep = endpoint ? {endpoint} : {};
  if (parts[0] === 'models' && parts.length >= 2) {
    const modelId = positiveInt(id, parts[1], 'the CivitAI model id');
    const v = u.searchParams.get('modelVersionId');
    return {kind: 'civitai', modelId, ...(v !== null ? {versionId: positiveInt(id, v, 'modelVersionId')} : {}), ...ep};
  }
  if (parts[0] === 'api' && parts[1] === 'download' && parts[2] === 'models' && parts.length === 4) {
    return {kind: 'civitai', versionId: positiveInt(id, parts[3], 'the CivitAI version id'), ...ep};
  }
  throw bad(id, 'a CivitAI URL is https://civitai.com/models/<id>[/<slug>][?modelVersionId=<vid>] or /api/download/models/<vid>');
}

function sameOrigin(u: URL, base: string | undefined): boolean {
  if (!base) return false;
  try {
    const b = new URL(base);
    return b.host === u.host && (b.pathname === '/' || u.pathname.startsWith(b.pathname.replace(/\/$/, '') + '/'));
  } catch {
    return false;
  }
}

function stripBase(u: URL, base: string): URL {
  const b = new URL(base).pathname.replace(/\/$/, '');
  const out = new URL(u.toString());
  out.pathname = u.pathname.slice(b.length) || '/';
  return out;
}

export interface ParseOptions {
  env?: NodeJS.ProcessEnv;
  /** Existence test for local paths (tests inject it). */
  exists?: (p: string) => boolean;
  cwd?: string;
}

/** Parses one MODEL_ID. Throws UsageError (exit 2) listing the accepted forms when it is malformed. */
export function parseModelId(input: string, opts: ParseOptions = {}): ModelRef {
  const env = opts.env ?? process.env;
  const exists = opts.exists ?? existsSync;
  const id = input.trim();
  if (id === '') throw bad(input, 'it is empty');

  // An existing path wins over every other reading (a folder named org/name in the cwd).
  if (!/^[a-z][a-z0-9+.-]*:/i.test(id) || /^[A-Za-z]:[\\/]/.test(id)) {
    const expanded = id.startsWith('~/') ? homedir() + id.slice(1) : id;
    const abs = resolvePath(opts.cwd ?? process.cwd(), expanded);
    if (exists(abs)) return {kind: 'local', path: abs};
    if (/^(\/|\.\/|\.\.\/|~\/|\.$|\.\.$)/.test(id) || (!id.includes('/') && MODEL_FILE_EXT.test(id))) return {kind: 'local', path: abs};
  }

  const scheme = /^([a-z][a-z0-9+.-]*):(.*)$/is.exec(id);
  if (scheme) {
    const s = scheme[1]!.toLowerCase();
    const rest = scheme[2]!;
    if (s === 'hf') {
      const tail = rest.replace(/^\/\//, '');
      if (tail === '') throw bad(id, 'hf:// needs org/name');
      return stripUndefined(parseRepoTail(id, tail.replace(/^models\//, '')));
    }
    if (s === 'civitai') {
      const m = /^(?:\/\/)?([^@]*)(?:@(.*))?$/.exec(rest)!;
      const modelId = positiveInt(id, m[1], 'the CivitAI model id');
      return {kind: 'civitai', modelId, ...(m[2] !== undefined ? {versionId: positiveInt(id, m[2], 'the CivitAI version id')} : {})};
    }
    if (s === 'urn') {
      // urn:air:<ecosystem>:<type>:<source>:<id>[@<version>][:<layer>][.<format>]
      const m = /^air:([a-z0-9_.-]+):([a-z0-9_.-]+):([a-z]+):([^@:]+?)(?:@([^:.]+))?(?::([^.]+))?(?:\.([a-z0-9]+))?$/i.exec(rest);
      if (!m) throw bad(id, 'an AIR is urn:air:<ecosystem>:<type>:civitai:<modelId>@<versionId>');
      const source = m[3]!.toLowerCase();
      if (source === 'civitai') {
        const modelId = positiveInt(id, m[4], 'the CivitAI model id');
        return {kind: 'civitai', modelId, ...(m[5] !== undefined ? {versionId: positiveInt(id, m[5], 'the CivitAI version id')} : {})};
      }
      if (source === 'huggingface' || source === 'hf') {
        return stripUndefined(parseRepoTail(id, m[4]! + (m[5] ? `@${m[5]}` : '')));
      }
      throw bad(id, `unsupported AIR source '${m[3]}' (civitai or huggingface)`);
    }
    if (s === 'builtin') {
      if (!/^[a-z0-9][a-z0-9_.-]*$/i.test(rest)) throw bad(id, 'builtin:<name> needs a name');
      return {kind: 'builtin', name: rest};
    }
    if (s === 'http' || s === 'https') {
      let u: URL;
      try {
        u = new URL(id);
      } catch {
        throw bad(id, 'not a valid URL');
      }
      const hfEndpoint = env.HF_ENDPOINT;
      const civEndpoint = env.CIVITAI_ENDPOINT;
      const host = u.hostname.toLowerCase();
      if (host === 'huggingface.co' || host === 'www.huggingface.co' || host === 'hf.co') return parseHfUrl(id, u);
      if (sameOrigin(u, hfEndpoint)) return parseHfUrl(id, stripBase(u, hfEndpoint!), hfEndpoint);
      if (host === 'civitai.com' || host === 'www.civitai.com' || host === 'civitai.green') return parseCivitaiUrl(id, u);
      if (sameOrigin(u, civEndpoint)) return parseCivitaiUrl(id, stripBase(u, civEndpoint!), civEndpoint);
      if (u.pathname === '/' || u.pathname === '') throw bad(id, 'a URL must name a file');
      return {kind: 'url', url: u.toString()};
    }
    if (!/^[A-Za-z]:[\\/]/.test(id)) throw bad(id, `unknown scheme '${s}:'`);
  }

  if (id.includes('/')) return stripUndefined(parseRepoTail(id, id));
  throw bad(id, 'not an existing path, and a HuggingFace id needs org/name');
}

/** The MODEL_ID argument, else $MODEL_ID; UsageError when neither is given. */
export function modelIdFromArgs(arg: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const v = arg ?? env.MODEL_ID;
  if (v === undefined || v.trim() === '') {
    throw new UsageError('no MODEL_ID given', {hint: 'pass it as an argument or set MODEL_ID'});
  }
  return v;
}

/** A canonical display string for a reference (used as the cache key for non-HF sources and in messages). */
export function formatModelRef(ref: ModelRef): string {
  switch (ref.kind) {
    case 'hf':
      return `${ref.repo}${ref.revision ? '@' + ref.revision : ''}${ref.path ? '/' + ref.path : ''}`;
    case 'civitai':
      return `civitai:${ref.modelId ?? ''}${ref.versionId !== undefined ? '@' + ref.versionId : ''}`;
    case 'url':
      return ref.url;
    case 'local':
      return ref.path;
    case 'builtin':
      return `builtin:${ref.name}`;
  }
}
