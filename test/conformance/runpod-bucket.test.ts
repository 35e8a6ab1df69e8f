// The RunPod handler with a bucket configured (BUCKET_ENDPOINT_URL / BUCKET_ACCESS_KEY_ID / BUCKET_SECRET_ACCESS_KEY,
// as RunPod's own workers read them): under the pinned SDK's local API (`--rp_serve_api`), forwarding to one
// `mgen serve builtin:tiny-wan`, each output file goes up through the SDK's rp_upload (boto3) to a loopback server
// that speaks enough S3 (PutObject, multipart upload, presigned GET), and the job's output carries the presigned URL
// instead of base64. A bucket that refuses the upload fails the job with one line naming the bucket problem.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import http from 'node:http';
import {spawnServe, tiny, type SpawnedServe} from '../runtime/support.js';
import {spawnRunpodHandler, type RunpodHandler} from './support.js';

const ACCESS_KEY = 'AKIDMGENTEST';
const SECRET_KEY = 'mgen-test-secret-key-0123456789';

/** A loopback S3 stand-in: objects by "/bucket/key", multipart uploads, and a switch that answers 403 to every write. */
class LoopbackS3 {
  objects = new Map<string, {body: Buffer; contentType: string; credential: string}>();
  uploads = new Map<string, {path: string; contentType: string; credential: string; parts: Map<number, Buffer>}>();
  operations: string[] = [];
  refuse = false;
  url = '';
  private server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => this.answer(req, res, Buffer.concat(chunks)));
  });

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as {port: number}).port}`;
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }

  private answer(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void {
    const url = new URL(req.url ?? '/', this.url);
    const path = decodeURIComponent(url.pathname);
    const credential = /Credential=([^/]+)\//.exec(String(req.headers.authorization ?? ''))?.[1] ?? '';
    const xml = (status: number, text: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, {'content-type': 'application/xml', ...headers});
      res.end(text ? `<?xml version="1.0" encoding="UTF-8"?>${text}` : '');
    };
    const etag = `"${body.length.toString(16)}"`;
    if (req.method === 'GET') {
      const obj = this.objects.get(path);
      if (!obj || !url.searchParams.get('X-Amz-Signature')) return xml(404, '<Error><Code>NoSuchKey</Code></Error>');
      res.writeHead(200, {'content-type': obj.contentType, 'content-length': obj.body.length});
      return void res.end(obj.body);
    }
    if (this.refuse) {
      this.operations.push(`refused ${req.method}`);
      return xml(403, '<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>');
    }
    const uploadId = url.searchParams.get('uploadId');
    if (req.method === 'POST' && url.searchParams.has('uploads')) {
      const id = `up${this.uploads.size + 1}`;
      this.uploads.set(id, {path, contentType: String(req.headers['content-type'] ?? ''), credential, parts: new Map()});
      this.operations.push('CreateMultipartUpload');
      const [, bucket, ...key] = path.split('/');
      return xml(200, `<InitiateMultipartUploadResult><Bucket>${bucket}</Bucket><Key>${key.join('/')}</Key><UploadId>${id}</UploadId></InitiateMultipartUploadResult>`);
    }
    if (req.method === 'PUT' && uploadId) {
      this.uploads.get(uploadId)!.parts.set(Number(url.searchParams.get('partNumber')), body);
      this.operations.push('UploadPart');
      return xml(200, '', {etag});
    }
    if (req.method === 'POST' && uploadId) {
      const up = this.uploads.get(uploadId)!;
      const parts = [...up.parts.entries()].sort((a, b) => a[0] - b[0]).map(([, b]) => b);
      this.objects.set(up.path, {body: Buffer.concat(parts), contentType: up.contentType, credential: up.credential});
      this.operations.push('CompleteMultipartUpload');
      return xml(200, `<CompleteMultipartUploadResult><Location>${this.url}${up.path}</Location><ETag>${etag}</ETag></CompleteMultipartUploadResult>`);
    }
    if (req.method === 'PUT') {
      this.objects.set(path, {body, contentType: String(req.headers['content-type'] ?? ''), credential});
      this.operations.push('PutObject');
      return xml(200, '', {etag});
    }
    xml(400, '<Error><Code>NotImplemented</Code></Error>');
  }
}

const s3 = new LoopbackS3();
let serve: SpawnedServe;
let handler: RunpodHandler | undefined;
let api = '';

beforeAll(async () => {
  await tiny('tiny-wan');
  await s3.start();
  serve = await spawnServe(['builtin:tiny-wan'], 240_000);
  handler = await spawnRunpodHandler({
    MGEN_SERVE_URL: serve.url,
    MODEL_ID: 'builtin:tiny-wan',
    BUCKET_ENDPOINT_URL: s3.url,
    BUCKET_ACCESS_KEY_ID: ACCESS_KEY,
    BUCKET_SECRET_ACCESS_KEY: SECRET_KEY,
  });
  api = handler.api;
}, 300_000);
afterAll(async () => {
  handler?.proc.kill('SIGTERM');
  serve?.proc.kill('SIGTERM');
  await s3.close();
});

async function runsync(input: Record<string, unknown>): Promise<any> {
  const res = await fetch(`${api}/runsync`, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({input})});
  return res.json();
}

/** The same request straight to serve (b64): the file serve makes for it. */
async function serveFile(input: Record<string, unknown>): Promise<Buffer> {
  const res = await fetch(`${serve.url}/runsync`, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({input})});
  const body = (await res.json()) as {output: {images: Array<{b64_json: string}>}};
  return Buffer.from(body.output.images[0]!.b64_json, 'base64');
}

describe('the RunPod handler with a bucket (rp_upload to a loopback S3)', () => {
  it.each([
    ['an image (GIF)', {format: 'gif'}, 'image/gif', '.gif'],
    ['a video (MP4)', {}, 'video/mp4', '.mp4'],
  ])('uploads %s and answers the presigned URL with its media type', async (_what, extra, mediaType, ext) => {
    const input = {prompt: 'a red cube', width: 64, height: 64, steps: 2, frames: 5, seed: 31, ...extra};
    const job = await runsync(input);
    expect(job).toMatchObject({status: 'COMPLETED'});
    const [file] = job.output.images;
    expect(file).not.toHaveProperty('b64_json');
    expect(file).toMatchObject({media_type: mediaType, seed: 31, width: 64, height: 64});
    // The SDK's presigned GET for the default bucket (month-year) and the key JOB_ID/INDEX.EXT.
    const url = new URL(file.url);
    expect(url.origin).toBe(s3.url);
    const [, bucket, jobId, name] = url.pathname.split('/');
    expect(bucket).toMatch(/^\d\d-\d\d$/);
    expect([jobId, name]).toEqual([job.id, `0${ext}`]);
    expect(url.searchParams.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
    expect(url.searchParams.get('X-Amz-Credential')).toMatch(new RegExp(`^${ACCESS_KEY}/`));
    expect(url.searchParams.get('X-Amz-Expires')).toBe('604800');
    expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    // What reached the bucket is the file serve makes for this request, with its media type, under our key.
    const stored = s3.objects.get(url.pathname)!;
    expect(stored).toMatchObject({contentType: mediaType, credential: ACCESS_KEY});
    expect(stored.body.equals(await serveFile(input))).toBe(true);
    const got = await fetch(file.url);
    expect(got.headers.get('content-type')).toBe(mediaType);
    expect(Buffer.from(await got.arrayBuffer()).equals(stored.body)).toBe(true);
  }, 120_000);

  it('a file over the SDK\'s 25 KiB multipart threshold goes up in parts and arrives whole', async () => {
    const input = {prompt: 'a red cube', width: 128, height: 128, steps: 2, frames: 9, seed: 32, format: 'gif'};
    const job = await runsync(input);
    expect(job).toMatchObject({status: 'COMPLETED'});
    const stored = s3.objects.get(new URL(job.output.images[0].url).pathname)!;
    expect(stored.body.length).toBeGreaterThan(25 * 1024);
    expect(s3.operations).toEqual(expect.arrayContaining(['PutObject', 'CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload']));
    expect(stored.body.equals(await serveFile(input))).toBe(true);
  }, 120_000);

  it('a bucket that refuses the upload fails the job with one line naming the bucket problem', async () => {
    s3.refuse = true;
    try {
      const job = await runsync({prompt: 'a red cube', width: 64, height: 64, steps: 2, frames: 5, seed: 33});
      const host = new URL(s3.url).host;
      expect(job).toEqual({id: expect.any(String), status: 'FAILED', error: expect.stringMatching(new RegExp(`^bucket: ${host} refused the upload to bucket \\d\\d-\\d\\d \\(AccessDenied, HTTP 403\\)$`))});
      expect(s3.operations).toContain('refused PUT');
      expect(JSON.stringify(job)).not.toContain(SECRET_KEY);
      expect(JSON.stringify(job)).not.toContain(ACCESS_KEY);
    } finally {
      s3.refuse = false;
    }
  }, 120_000);
});
