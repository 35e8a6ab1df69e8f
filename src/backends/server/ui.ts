// The playground page at `/` (issue 15): static files built by scripts/build-ui.mjs into dist/ui (index.html and
// content-hashed assets with their gzip copies), read once at start and served from memory. The page and its
// assets are public (they hold no data: the page asks for the token and sends it on API calls), so the bearer
// check skips exactly these paths. Strict CSP: scripts and styles only from this origin, nothing inline.
import {existsSync, readdirSync, readFileSync} from 'node:fs';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';
import type {FastifyInstance, FastifyReply, FastifyRequest} from 'fastify';

export const UI_CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data: blob:", "media-src 'self' blob:",
  "connect-src 'self'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8', html: 'text/html; charset=utf-8'};
/** Hashed asset names as the build writes them: `app-<10 hex>.js`, `style-<10 hex>.css`. */
const ASSET_NAME = /^[a-z]+-[0-9a-f]{10}\.(js|css)$/;

interface StaticFile {
  body: Buffer;
  gz: Buffer | null;
  type: string;
}

export interface UiFiles {
  index: StaticFile;
  assets: Map<string, StaticFile>;
}

/** dist/ui from this module's place (dist/backends/server, or src/backends/server under the tests). */
export function defaultUiDir(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'dist', 'ui');
}

function readStatic(dir: string, name: string): StaticFile {
  const gzPath = join(dir, `${name}.gz`);
  return {body: readFileSync(join(dir, name)), gz: existsSync(gzPath) ? readFileSync(gzPath) : null, type: TYPES[name.split('.').pop() ?? ''] ?? 'application/octet-stream'};
}

/** The built page, or null when it was not built (the routes then say so). */
export function loadUiFiles(dir = defaultUiDir()): UiFiles | null {
  if (!existsSync(join(dir, 'index.html'))) return null;
  const assets = new Map<string, StaticFile>();
  for (const name of readdirSync(dir)) if (ASSET_NAME.test(name)) assets.set(name, readStatic(dir, name));
  return {index: readStatic(dir, 'index.html'), assets};
}

/** Paths the page is made of: served without the bearer token. */
export function isUiPath(path: string): boolean {
  return path === '/' || (path.startsWith('/ui/') && ASSET_NAME.test(path.slice(4)));
}

function send(req: FastifyRequest, reply: FastifyReply, f: StaticFile, cache: string): FastifyReply {
  reply.header('content-type', f.type).header('cache-control', cache).header('vary', 'accept-encoding');
  reply.header('content-security-policy', UI_CSP).header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer');
  if (f.gz && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) return reply.header('content-encoding', 'gzip').send(f.gz);
  return reply.send(f.body);
}

export function registerUi(app: FastifyInstance, files: UiFiles | null): void {
  app.get('/', async (req, reply) => {
    if (!files) return reply.code(404).type('text/plain; charset=utf-8').send('the playground page is not built: run `npm run build`\n');
    return send(req, reply, files.index, 'no-cache');
  });
  app.get<{Params: {name: string}}>('/ui/:name', async (req, reply) => {
    const f = files?.assets.get(req.params.name);
    if (!f) return reply.code(404).type('text/plain; charset=utf-8').send('no such file\n');
    return send(req, reply, f, 'public, max-age=31536000, immutable');
  });
}
