import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {mkdtempSync, writeFileSync} from 'node:fs';
import http from 'node:http';
import type {AddressInfo} from 'node:net';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {NetworkError} from '../../src/errors.js';
import {hfConfig, readHfToken} from '../../src/sources/hf/config.js';
import {HttpByteSource} from '../../src/sources/http-byte-source.js';
import {retryAfterMs} from '../../src/sources/http.js';

describe('HF endpoint and token resolution', () => {
  it('flag beats HF_TOKEN beats the token file ($HF_TOKEN_PATH, else $HF_HOME/token)', () => {
    const home = mkdtempSync(join(tmpdir(), 'mgen-token-'));
    writeFileSync(join(home, 'token'), 'hf_fromhomefile0001\n');
    const other = join(home, 'other-token');
    writeFileSync(other, 'hf_frompathfile0002');
    expect(readHfToken({HF_HOME: home})).toBe('hf_fromhomefile0001');
    expect(readHfToken({HF_HOME: home, HF_TOKEN_PATH: other})).toBe('hf_frompathfile0002');
    expect(readHfToken({HF_HOME: home, HF_TOKEN: 'hf_fromenv00000003'})).toBe('hf_fromenv00000003');
    expect(hfConfig({token: 'hf_flag0000000004', env: {HF_HOME: home, HF_TOKEN: 'hf_fromenv00000003'}}).token).toBe('hf_flag0000000004');
    expect(readHfToken({HF_HOME: join(home, 'none')})).toBeUndefined();
  });
  it('endpoint: flag, else HF_ENDPOINT, else huggingface.co (trailing slash dropped)', () => {
    expect(hfConfig({env: {}}).endpoint).toBe('https://huggingface.co');
    expect(hfConfig({env: {HF_ENDPOINT: 'http://mirror.local/'}}).endpoint).toBe('http://mirror.local');
    expect(hfConfig({endpoint: 'http://flag', env: {HF_ENDPOINT: 'http://mirror.local'}}).endpoint).toBe('http://flag');
  });
  it('Retry-After in seconds or as an HTTP date', () => {
    expect(retryAfterMs('2')).toBe(2000);
    expect(retryAfterMs(new Date(Date.now() + 3000).toUTCString())).toBeGreaterThan(1000);
    expect(retryAfterMs(null)).toBeUndefined();
  });
});

describe('HttpByteSource', () => {
  let server: http.Server;
  let url = '';
  let etag = '"a"';
  let ignoreRange = false;
  const body = Buffer.from('0123456789abcdefghij');
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
      if (m && !ignoreRange) {
        const s = Number(m[1]);
        const e = Math.min(Number(m[2]), body.length - 1);
        res.writeHead(206, {etag, 'content-range': `bytes ${s}-${e}/${body.length}`, 'content-length': String(e - s + 1)});
        return void res.end(body.subarray(s, e + 1));
      }
      res.writeHead(200, {etag, 'content-length': String(body.length)});
      res.end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/f`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('learns the size from Content-Range and serves each read with one request', async () => {
    const src = new HttpByteSource({url});
    expect(Buffer.from(await src.read(2, 3)).toString()).toBe('234');
    expect(await src.size()).toBe(20);
    expect(src.stats).toEqual({reads: 1, bytes: 3, requests: 1});
    expect(Buffer.from(await src.read(18, 10)).toString()).toBe('ij');
  });

  it('a server that ignores Range still yields the asked bytes', async () => {
    ignoreRange = true;
    const src = new HttpByteSource({url});
    expect(Buffer.from(await src.read(5, 4)).toString()).toBe('5678');
    ignoreRange = false;
  });

  it('a file that changes between two reads (ETag) is an error, not mixed bytes', async () => {
    etag = '"a"';
    const src = new HttpByteSource({url});
    await src.read(0, 4);
    etag = '"b"';
    await expect(src.read(4, 4)).rejects.toThrow(NetworkError);
    await expect(src.read(4, 4)).rejects.toThrow(/changed on the server/);
    etag = '"a"';
  });
});
