// `mgen pull` on a real terminal: the built CLI (./bin/mgen after `npm run build`) under a pseudo-terminal
// made by util-linux `script`, against the loopback Hub and CivitAI. Checks the progress bar's frames (bytes,
// speed, ETA, the final 100% line), that stdout carries only the result when it is captured apart, and the
// inquirer file choice (arrow keys + Enter picks a file; Ctrl-C leaves cleanly).
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {createHash} from 'node:crypto';
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs';
import net from 'node:net';
import {tmpdir} from 'node:os';
import {join, resolve} from 'node:path';
import {safetensors, singleFileRepo} from '../helpers/hub-fixtures.js';
import {startCivitai, type LoopbackCivitai} from '../helpers/loopback-civitai.js';
import {commitOf, startHub, type LoopbackHub} from '../helpers/loopback-hub.js';
import {hasScript, inPty as inPtyRaw, plainScreen, typeWhen} from '../helpers/pty.js';

const ROOT = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', '..');
const BIN = join(ROOT, 'bin', 'mgen');

let hub: LoopbackHub;
let civ: LoopbackCivitai;
let slowCdn: {url: string; close: () => Promise<void>};
let tmp: string;
const BIG = safetensors([['model.diffusion_model.input_blocks.0.0.weight', 'F32', [875_000]]]); // 3.5 MB: three 1 MiB write batches
const A = safetensors([['a', 'F16', [4096]]]);
const B = safetensors([['b', 'F16', [4096]]]); // same size as A, so neither is preferred
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A TCP proxy that passes bytes from `target` on at about `bytesPerSecond` (so a download lasts seconds). */
async function throttlingProxy(target: string, bytesPerSecond: number): Promise<{url: string; close: () => Promise<void>}> {
  const t = new URL(target);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const up = net.connect(Number(t.port), t.hostname);
    for (const s of [client, up]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        up.destroy();
      });
    }
    client.pipe(up);
    up.on('data', (chunk: Buffer) => {
      up.pause();
      client.write(chunk);
      setTimeout(() => up.resume(), (chunk.length / bytesPerSecond) * 1000);
    });
    up.on('end', () => client.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const inPty = (args: string[], env: NodeJS.ProcessEnv, opts: Parameters<typeof inPtyRaw>[2] = {}) => inPtyRaw([process.execPath, BIN, ...args], env, opts);
const plain = plainScreen;

function homeEnv(): NodeJS.ProcessEnv {
  const home = mkdtempSync(join(tmp, 'home-'));
  return {
    ...process.env, HF_HOME: join(home, 'hf'), MGEN_HOME: join(home, 'mgen'), HF_ENDPOINT: hub.url, CIVITAI_ENDPOINT: civ.url,
    HF_TOKEN: undefined, CIVITAI_TOKEN: undefined, CIVITAI_API_TOKEN: undefined, HF_HUB_OFFLINE: undefined, MODEL_ID: undefined,
    CI: undefined, NO_COLOR: '1', MGEN_DEBUG: undefined,
  };
}

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist', 'commands', 'pull.js'))) throw new Error('build first: npm run build');
  tmp = mkdtempSync(join(tmpdir(), 'mgen-pull-tty-'));
  hub = await startHub({id: 'org/slow', commit: commitOf('org/slow'), files: [
    {path: 'README.md', content: Buffer.from('# slow\n')},
    {path: 'model.safetensors', content: BIG},
  ]});
  hub.addRepo(singleFileRepo('org/two', ['a.safetensors', 'b.safetensors']));
  slowCdn = await throttlingProxy(hub.cdnUrl, 800_000);
  hub.cdnUrl = slowCdn.url;
  civ = await startCivitai({id: 8, name: 'C', type: 'Checkpoint', versions: [{id: 80, modelId: 8, name: 'v1', files: [
    {id: 800, name: 'a.safetensors', content: A, fp: 'fp16', size: 'pruned'},
    {id: 801, name: 'b.safetensors', content: B, fp: 'fp16', size: 'pruned', type: 'Pruned Model'}]}]});
});
afterAll(async () => {
  await slowCdn?.close();
  await hub?.close();
  await civ?.close();
  if (tmp) rmSync(tmp, {recursive: true, force: true});
});

(hasScript ? describe : describe.skip)('mgen pull on a TTY', () => {
  it('draws per-file and total bars with bytes, speed and ETA, ending at 100%; stdout holds only the result', async () => {
    const env = homeEnv();
    const out = join(tmp, 'pull-stdout.txt');
    const r = await inPty(['pull', 'org/slow'], env, {stdoutTo: out});
    const screen = plain(r.screen);
    expect(r.code).toBe(0);
    const frames = screen.split('\n').filter((l) => /\|.*\| *\d+%/.test(l));
    // Intermediate frames: part of the bytes done, a non-zero speed and an ETA in seconds.
    const mid = frames.filter((l) => /^total .*\| *([1-9]\d?)% [\d.]+ [kM]B\/3\.5 MB [\d.]+ [kM]B\/s ETA \d+s/.test(l));
    expect(mid.length).toBeGreaterThanOrEqual(2);
    // Each frame fits the terminal's 100 columns (a longer one loses its speed and ETA at the right edge).
    expect(frames.filter((l) => l.trimEnd().length > 100)).toEqual([]);
    // Every partial frame has a measured speed and an ETA (the first bytes already give a speed).
    const partial = frames.filter((l) => /\| *([1-9]\d?)% /.test(l));
    expect(partial.filter((l) => !/ [1-9][\d.]* [kM]?B\/s ETA [1-9]\d*s$/.test(l.trim()))).toEqual([]);
    expect(frames.some((l) => /^model\.safetensors +\|.*\| *([1-9]\d?)% [\d.]+ [kM]B\/3\.5 MB [\d.]+ [kM]B\/s ETA/.test(l))).toBe(true);
    // The last frames: both bars complete.
    expect(frames.some((l) => /^total .*\| 100% 3\.5 MB\/3\.5 MB/.test(l))).toBe(true);
    expect(frames.some((l) => /^model\.safetensors .*\| 100% 3\.5 MB\/3\.5 MB/.test(l))).toBe(true);
    // The result went to stdout only, and stdout got nothing else.
    const stdout = readFileSync(out, 'utf8');
    expect(stdout).toMatch(new RegExp(`^org/slow \\(main@${commitOf('org/slow').slice(0, 12)}\\): 1 files?, 3\\.5 MB total, 3\\.5 MB downloaded in \\d+\\.\\d s \\([\\d.]+ [kMG]?B/s\\)\\n\\S+\\n$`));
    expect(screen).not.toContain('3.5 MB total, 3.5 MB downloaded');
    expect(existsSync(join(env.HF_HOME!, 'hub', 'models--org--slow', 'blobs', sha(BIG)))).toBe(true);
  }, 90_000);

  it('a terminal that reports 0 columns gets the plain progress lines, as off a TTY, and no bars', async () => {
    const env = {...homeEnv(), MGEN_PROGRESS_INTERVAL_MS: '500'};
    const out = join(tmp, 'pull-stdout-0cols.txt');
    const r = await inPty(['pull', 'org/slow'], env, {stdoutTo: out, cols: 0, rows: 0});
    expect(r.code).toBe(0);
    expect(r.screen).not.toMatch(/\x1b\[/);
    const lines = r.screen.split('\r\n').filter(Boolean);
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(lines.filter((l) => !/^pull: [\d.]+ [kM]?B \/ 3\.5 MB \(\d+%\), [01]\/1 files, /.test(l))).toEqual([]);
    expect(readFileSync(out, 'utf8')).toMatch(/^org\/slow \(main@/);
  }, 90_000);

  it('Ctrl-C during the download: exit 130, one line, the cursor shown again, the blob not in place', async () => {
    const env = homeEnv();
    const ctrlC = typeWhen((screen) => /\| *[1-9]\d?% /.test(plain(screen)), [['\x03', 0]]);
    const r = await inPty(['pull', 'org/slow'], env, {react: ctrlC.react});
    expect(ctrlC.typed()).toBe(true);
    expect(r.code).toBe(130);
    // cli-progress hides the cursor while drawing; it must be visible again after the interruption.
    expect(r.screen.lastIndexOf('\x1b[?25h')).toBeGreaterThan(r.screen.lastIndexOf('\x1b[?25l'));
    const lines = plain(r.screen).split('\n').map((l) => l.trim()).filter((l) => l && !/\|.*\|/.test(l) && l !== '^C');
    expect(lines).toEqual([expect.stringMatching(/^mgen: error: interrupted/)]);
    expect(existsSync(join(env.HF_HOME!, 'hub', 'models--org--slow', 'blobs', sha(BIG)))).toBe(false);
  }, 90_000);

  /** Runs `mgen pull <id> --json` on a pty, answers `question` with arrow down + Enter; the screen and the JSON result. */
  async function pickSecond(id: string, question: RegExp, env: NodeJS.ProcessEnv) {
    const answer = typeWhen((screen) => question.test(screen) && /b\.safetensors/.test(screen), [['\x1b[B', 0], ['\r', 300]]);
    const r = await inPty(['pull', id, '--json'], env, {react: answer.react});
    expect(answer.typed()).toBe(true);
    expect(r.code).toBe(0);
    const screen = plain(r.screen);
    const json = screen.slice(screen.indexOf('{"id"'));
    return {screen, doc: JSON.parse(json.slice(0, json.lastIndexOf('}') + 1))};
  }

  it('asks which CivitAI file on a TTY: arrow down + Enter pulls the second one', async () => {
    const env = homeEnv();
    const {screen, doc} = await pickSecond('civitai:8', /Several files fit: which one\?/, env);
    expect(screen).toMatch(/a\.safetensors \([\d.]+ kB\)/);
    expect(doc.path).toBe(join(env.MGEN_HOME!, 'models', sha(B), 'b.safetensors'));
    expect(sha(readFileSync(doc.path))).toBe(sha(B));
    expect(readdirSync(join(env.MGEN_HOME!, 'models')).filter((n) => /^[0-9a-f]{64}$/.test(n))).toEqual([sha(B)]);
  }, 90_000);

  it('asks which HF weight file on a TTY: arrow down + Enter pulls the second one', async () => {
    const env = homeEnv();
    const {doc} = await pickSecond('org/two', /Several weight files: which one\?/, env);
    expect(doc.files.map((f: {path: string}) => f.path)).toEqual(['b.safetensors']);
    expect(readdirSync(join(env.HF_HOME!, 'hub', 'models--org--two', 'snapshots', commitOf('org/two')))).toEqual(['b.safetensors']);
  }, 90_000);

  it('Ctrl-C at the file prompt exits 130 with one line and no stack, pulling nothing', async () => {
    const env = homeEnv();
    const ctrlC = typeWhen((screen) => /Several files fit: which one\?/.test(screen), [['\x03', 200]]);
    const r = await inPty(['pull', 'civitai:8'], env, {react: ctrlC.react});
    expect(ctrlC.typed()).toBe(true);
    expect(r.code).toBe(130);
    const after = plain(r.screen).split(/Several files fit: which one\?/).at(-1)!;
    const lines = after.split('\n').map((l) => l.trim()).filter((l) => l && !/safetensors \(/.test(l) && !/^[❯>]/.test(l) && !/↑↓|navigate/.test(l));
    expect(lines).toEqual([expect.stringMatching(/^mgen: (error: )?.*(interrupt|cancel)/i)]);
    expect(plain(r.screen)).not.toMatch(/\n\s+at |Error:|ExitPromptError/);
    expect(existsSync(join(env.MGEN_HOME!, 'models'))).toBe(false);
  }, 90_000);
});
