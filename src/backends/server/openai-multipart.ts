// multipart/form-data bodies of /v1/images/edits and /variations (what the OpenAI SDKs send): text fields and
// files, from a body fastify has already read in full (within --body-limit). `image[]` is `image`, as the SDKs
// name a list of files.
import {HttpError} from './http-error.js';

export interface FormData {
  fields: Record<string, string>;
  files: Record<string, Buffer[]>;
}

const bad = (message: string): HttpError => new HttpError(400, 'invalid_request_error', message);

export function boundaryOf(contentType: string | undefined): string {
  const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? '');
  const b = m?.[1] ?? m?.[2];
  if (!b) throw bad('multipart/form-data body without a boundary');
  return b;
}

export function parseMultipart(body: Buffer, boundary: string): FormData {
  const out: FormData = {fields: {}, files: {}};
  const delim = Buffer.from(`--${boundary}`);
  let pos = body.indexOf(delim);
  if (pos < 0) throw bad('multipart/form-data body without its boundary');
  for (let parts = 0; ; parts++) {
    if (parts > 64) throw bad('multipart/form-data body with too many parts');
    pos += delim.length;
    if (body.toString('latin1', pos, pos + 2) === '--') break;
    if (body.toString('latin1', pos, pos + 2) === '\r\n') pos += 2;
    const headEnd = body.indexOf('\r\n\r\n', pos);
    if (headEnd < 0) throw bad('multipart/form-data part without headers');
    const head = body.toString('utf8', pos, headEnd);
    const next = body.indexOf(Buffer.from(`\r\n--${boundary}`), headEnd + 4);
    if (next < 0) throw bad('multipart/form-data body is cut short');
    const data = body.subarray(headEnd + 4, next);
    const disposition = /content-disposition:[^\r\n]*/i.exec(head)?.[0] ?? '';
    const name = /\bname="([^"]*)"/i.exec(disposition)?.[1]?.replace(/\[\]$/, '');
    if (!name) throw bad('multipart/form-data part without a name');
    if (/\bfilename\*?=/i.test(disposition) || /content-type:\s*(image|application\/octet-stream)/i.test(head)) (out.files[name] ??= []).push(Buffer.from(data));
    else out.fields[name] = data.toString('utf8');
    pos = next + 2;
  }
  return out;
}

/** Multipart text -> the JSON types the request schema expects (numbers, booleans, null). */
export function coerceFields(fields: Record<string, string>, schema: {properties: Record<string, {type?: string | string[]; enum?: unknown[]}>}): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    const prop = schema.properties[k];
    const types = prop ? [prop.type ?? []].flat() : [];
    if (types.includes('integer') || types.includes('number')) out[k] = v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : v;
    else if (types.includes('boolean')) out[k] = v === 'true' ? true : v === 'false' ? false : v;
    else out[k] = v;
  }
  return out;
}
