// What a serve request may name as a model: the decision (ids, paths, URLs) and the connection guard that
// checks every address after DNS and on every redirect hop. Loopback servers on 127.0.0.1 only.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {mkdirSync, symlinkSync, writeFileSync} from 'node:fs';
import http from 'node:http';
import {join} from 'node:path';
import {isPrivateAddress, ModelNotAllowedError, RequestModelPolicy, refusedHost} from '../../src/backends/request-model-policy.js';
import {fileDir, writeFileMeta} from '../../src/sources/cache/mgen-home.js';
import {useTmpDir} from '../helpers/tmp.js';

const tmp = useTmpDir('mgen-policy-');
let server: http.Server;
let port = 0;
const seen: string[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seen.push(req.url ?? '');
    if (req.url === '/hop') {
      res.writeHead(302, {location: `http://127.0.0.1:${port}/secret`});
      return res.end();
    }
    res.writeHead(200, {'content-type': 'text/plain'});
    res.end('secret body');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as {port: number}).port;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});

const env = () => ({MGEN_HOME: join(tmp.dir, 'home'), HF_HUB_CACHE: join(tmp.dir, 'hub')});

describe('request model policy: what a request may name', () => {
  it('knows private, loopback and link-local addresses', () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '0.0.0.0', '::1', '::', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', '100.64.0.1']) {
      expect([a, isPrivateAddress(a)]).toEqual([a, true]);
    }
    for (const a of ['8.8.8.8', '1.1.1.1', '2606:4700::1111', '172.32.0.1']) expect([a, isPrivateAddress(a)]).toEqual([a, false]);
  });

  it('allows hub ids and builtins by default, and refuses URLs and local paths in words', () => {
    const p = new RequestModelPolicy({env: env()});
    for (const id of ['org/name', 'org/name/lora.safetensors', 'hf://org/name', 'civitai:123@456', 'builtin:tiny-sd-lora-kohya', 'https://huggingface.co/org/name']) {
      expect(p.check(id, 'loras[0].name')).toBe(id);
    }
    expect(() => p.check(`http://127.0.0.1:${port}/x.safetensors`, 'loras[0].name')).toThrow(/--allow-model-urls/);
    expect(() => p.check('https://example.com/x.safetensors', 'loras[0].name')).toThrow(ModelNotAllowedError);
    for (const id of ['/etc/passwd', './x.safetensors', '../x', 'x.safetensors', '~/x.safetensors', '/']) {
      expect(() => p.check(id, 'loras[1].name')).toThrow(/^loras\[1\]\.name: this server does not read local paths/);
    }
  });

  it('admits a plain URL that is already in the cache (mgen list shows it; nothing is fetched) without --allow-model-urls', async () => {
    const url = `http://127.0.0.1:${port}/cached.safetensors`;
    const sha = 'a'.repeat(64);
    writeFileMeta({sha256: sha, file_name: 'cached.safetensors', size: 3, source: 'url', id: url, url, pulled_at: new Date().toISOString()}, env());
    writeFileSync(join(fileDir(sha, env()), 'cached.safetensors'), 'abc');
    const p = new RequestModelPolicy({env: env()});
    expect(p.check(url, 'f')).toBe(url);
    await expect(p.preflight([{id: url, field: 'f'}])).resolves.toBeUndefined();
    expect(() => p.check(`http://127.0.0.1:${port}/other.safetensors`, 'f')).toThrow(/--allow-model-urls/);
  });

  it('reads local paths only inside --model-dir, symlinks resolved; missing and outside read the same', () => {
    const root = join(tmp.dir, 'models');
    mkdirSync(join(root, 'loras'), {recursive: true});
    writeFileSync(join(root, 'loras', 'a.safetensors'), 'x');
    writeFileSync(join(tmp.dir, 'outside.json'), '{"secret": 1}');
    symlinkSync(join(tmp.dir, 'outside.json'), join(root, 'loras', 'link.safetensors'));
    const p = new RequestModelPolicy({modelDirs: [root], env: env()});
    expect(p.check(join(root, 'loras', 'a.safetensors'), 'f')).toBe(join(root, 'loras', 'a.safetensors'));
    expect(p.check('loras/a.safetensors', 'f')).toBe(join(root, 'loras', 'a.safetensors'));
    const same = 'f: no such model file under the server\'s model folders';
    for (const id of [join(tmp.dir, 'outside.json'), join(root, 'loras', 'link.safetensors'), join(root, '..', 'outside.json'), '../outside.json', join(root, 'missing.safetensors'), '/etc/passwd']) {
      expect(() => p.check(id, 'f')).toThrow(same);
    }
  });

  it('with --allow-model-urls still refuses private addresses unless the operator named the host', async () => {
    const p = new RequestModelPolicy({allowUrls: true, env: env()});
    expect(() => p.check(`http://127.0.0.1:${port}/x.safetensors`, 'f')).toThrow(/private address/);
    expect(() => p.check(`http://[::1]:${port}/x.safetensors`, 'f')).toThrow(/private address/);
    expect(p.check('https://example.com/x.safetensors', 'f')).toBe('https://example.com/x.safetensors');
    // A name that resolves to loopback: refused after DNS, before anything is fetched.
    await expect(p.preflight([{id: `http://localhost:${port}/x.safetensors`, field: 'f'}])).rejects.toThrow(/localhost resolves to a private address/);
    const named = new RequestModelPolicy({allowUrls: true, privateHosts: ['127.0.0.1'], env: env()});
    expect(named.check(`http://127.0.0.1:${port}/x.safetensors`, 'f')).toBe(`http://127.0.0.1:${port}/x.safetensors`);
  });

  it('guards every connection made while resolving: after DNS and on a redirect hop, for fetch and node:http', async () => {
    seen.length = 0;
    // A name resolved to loopback by DNS, not named by the operator (first: no pooled connection to it yet).
    const strict = new RequestModelPolicy({allowUrls: true, env: env()});
    const viaDns = await strict.guard(() => fetch(`http://localhost:${port}/secret`)).catch((e: unknown) => e);
    expect(refusedHost(viaDns)).toBe('localhost');
    const p = new RequestModelPolicy({allowUrls: true, privateHosts: ['localhost'], env: env()});
    // A named host is reachable; its redirect to an address nobody named is not.
    const r = await p.guard(() => fetch(`http://localhost:${port}/hop`, {redirect: 'manual'}));
    expect(r.status).toBe(302);
    const err = await p.guard(() => fetch(`http://localhost:${port}/hop`)).catch((e: unknown) => e);
    expect(refusedHost(err)).toBe('127.0.0.1');
    const viaHttp = await p.guard(() => new Promise((resolve, reject) => {
      http.get(`http://127.0.0.1:${port}/secret`, resolve).on('error', reject);
    })).catch((e: unknown) => e);
    expect(refusedHost(viaHttp)).toBe('127.0.0.1');
    expect(seen).toEqual(['/hop', '/hop']);
    // Outside the guard nothing changes.
    expect((await fetch(`http://127.0.0.1:${port}/secret`)).status).toBe(200);
  });
});
