// `mgen inspect` on hostile, broken and unusual files, as a user runs it (the built CLI in a subprocess): exit codes,
// one-line messages, escaped terminal output, and lines that are each true on their own.
import {afterAll, beforeAll, describe, expect, test} from '@jest/globals';
import {spawnSync} from 'node:child_process';
import {existsSync} from 'node:fs';
import {chmod, mkdir, rm, writeFile} from 'node:fs/promises';
import {join, resolve} from 'node:path';
import {makeTmpDir} from '../helpers/tmp.js';
import {rawHeaderBytes} from '../helpers/safetensors-writer.js';
import {writeSharded, writeSt} from '../helpers/fixtures/files.js';
import {textualInversion} from '../helpers/fixtures/adapters.js';
import {fluxBfl} from '../helpers/fixtures/dit.js';
import {dumpPickle, stateDict, torchZip} from '../helpers/pickle-writer.js';
import {listText, pullText} from '../../src/render/pull.js';

const ROOT = resolve(process.cwd());
const BIN = join(ROOT, 'bin', 'mgen');
const OSC = '\u001b]0;pwned\u0007';

function mgen(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], {cwd: ROOT, env: {...process.env, NO_COLOR: '1', ...env}, encoding: 'utf8', timeout: 60_000});
  return {code: r.status, stdout: r.stdout, stderr: r.stderr};
}

let tmp: {dir: string; cleanup: () => Promise<void>};
beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist', 'commands', 'inspect.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  tmp = await makeTmpDir('mgen-inspect-hostile-');
});
afterAll(async () => tmp?.cleanup());

describe('terminal escape injection', () => {
  test('a tensor name with an OSC sequence is escaped in text output, --keys, and raw-correct in --json', async () => {
    const path = join(tmp.dir, 'osc.safetensors');
    const name = `lora_unet_x${OSC}.weight`;
    await writeFile(path, Buffer.concat([rawHeaderBytes(JSON.stringify({[name]: {dtype: 'F16', shape: [2, 2], data_offsets: [0, 8]}})), Buffer.alloc(8)]));
    const text = mgen(['inspect', path]);
    expect(text.code).toBe(0);
    expect(text.stdout).not.toMatch(/[\u001b\u0007]/);
    expect(text.stdout).toContain('lora_unet_x\\x1b]0;pwned\\x07.weight');
    const keys = mgen(['inspect', path, '--keys']);
    expect(keys.stdout).not.toMatch(/[\u001b\u0007]/);
    expect(keys.stdout).toContain('\\x1b]0;pwned\\x07');
    const json = mgen(['inspect', path, '--keys', '--json']);
    expect(JSON.parse(json.stdout)[0].name).toBe(name);
    const report = mgen(['inspect', path, '--json']);
    expect(JSON.stringify(JSON.parse(report.stdout).evidence)).toContain(JSON.stringify(name).slice(1, -1));
  });

  test('list, pull and rm text escape ids, revisions and paths', () => {
    const list = listText([{id: `org/m${OSC}`, source: 'huggingface', revision: `main${OSC}`, size: 1, family: 'sd1', kind: 'checkpoint', last_used: null, path: '/x'}]);
    expect(list).not.toMatch(/[\u001b\u0007]/);
    expect(list).toContain('org/m\\x1b]0;pwned\\x07');
    const pull = pullText({id: `a${OSC}`, source: 'huggingface', revision: 'main', path: `/cache/${OSC}`, files: [{path: `f${OSC}.safetensors`, size: 1, downloaded: true}], bytes_downloaded: 1, bytes_total: 1, dry_run: true} as never);
    expect(pull).not.toMatch(/[\u001b\u0007]/);
  });
});

describe('hostile and broken files exit 6 with one line', () => {
  test('a torch checkpoint referencing os.system: the report prints, then exit 6 naming the global', async () => {
    const path = join(tmp.dir, 'evil.pt');
    const pkl = dumpPickle({dict: [['state_dict', stateDict([{name: 'w', dtype: 'F32', shape: [2, 2]}])], ['x', {reduce: [{global: ['os', 'system'], }, ['id']]}]]}, 2);
    await writeFile(path, torchZip(pkl, {storages: 1}));
    const text = mgen(['inspect', path]);
    expect(text.code).toBe(6);
    expect(text.stdout).toMatch(/security\s+pickle with unsafe globals: os\.system/);
    expect(text.stderr.trim().split('\n')[0]).toMatch(/unsafe pickle: references os\.system/);
    const json = mgen(['inspect', path, '--json']);
    expect(json.code).toBe(6);
    expect(JSON.parse(json.stdout).security.unsafe_globals).toEqual(['os.system']);
  });

  test('a dotted STACK_GLOBAL (torch.serialization + os.system) is exit 6 too', async () => {
    const path = join(tmp.dir, 'evil4.pt');
    await writeFile(path, torchZip(dumpPickle({dict: [['x', {reduce: [{global: ['torch.serialization', 'os.system']}, ['id']]}]]}, 4)));
    const r = mgen(['inspect', path]);
    expect(r.code).toBe(6);
    expect(r.stderr).toContain('torch.serialization.os.system');
  });

  test('a dtype named constructor is exit 6, not an internal error', async () => {
    const path = join(tmp.dir, 'ctor.safetensors');
    await writeFile(path, Buffer.concat([rawHeaderBytes(JSON.stringify({a: {dtype: 'constructor', shape: [2], data_offsets: [0, 4]}})), Buffer.alloc(4)]));
    const r = mgen(['inspect', path]);
    expect(r.code).toBe(6);
    expect(r.stderr).not.toMatch(/internal error/);
  });

  test('an empty .safetensors is exit 6', async () => {
    const path = join(tmp.dir, 'empty.safetensors');
    await writeFile(path, '');
    const r = mgen(['inspect', path]);
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/empty\.safetensors is empty \(0 bytes\), not a model file/);
  });

  test('a text file named .safetensors says so in words, quoting its start (a local file at the CLI)', async () => {
    const path = join(tmp.dir, 'fake.safetensors');
    await writeFile(path, 'hello world\n');
    const r = mgen(['inspect', path]);
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/fake\.safetensors is not a safetensors file \(it starts with "hello wo"\)/);
    expect(r.stderr).not.toMatch(/header length \d+/);
    await writeFile(path, '<!doctype html><html>');
    expect(mgen(['inspect', path]).stderr).toMatch(/fake\.safetensors is an HTML page, not a safetensors file/);
  });

  test('generate on the same local file gives the same message, before any model is loaded', async () => {
    const path = join(tmp.dir, 'fake2.safetensors');
    await writeFile(path, 'hello world\n');
    // /bin/true stands in for the interpreter: the file is refused while the worker would still be starting.
    const r = mgen(['generate', path, '-p', 'x'], {MGEN_PYTHON: '/bin/true', MGEN_HOME: join(tmp.dir, 'gen-home')});
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/fake2\.safetensors is not a safetensors file \(it starts with "hello wo"\)/);
  });
});

describe('each line is true on its own', () => {
  test('an index whose shards are all missing is not called complete', async () => {
    const dir = join(tmp.dir, 'sharded');
    await mkdir(dir, {recursive: true});
    await writeSharded(dir, 'flux1-dev', fluxBfl(), 3);
    for (let i = 1; i <= 3; i++) await rm(join(dir, `flux1-dev-0000${i}-of-00003.safetensors`));
    const r = mgen(['inspect', dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/3 of 3 shards are not present/);
    expect(r.stdout).not.toMatch(/complete/);
    expect(r.stdout).toMatch(/no weights were read/);
  });

  test('a small textual-inversion embedding shows what it adds to the base, not a 500 MB figure', async () => {
    const path = join(tmp.dir, 'emb.safetensors');
    await writeSt(path, textualInversion.a1111(768, 8));
    const r = mgen(['inspect', path]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/VRAM\s+adds ~[\d.]+ KB fp16\/bf16, ~[\d.]+ KB fp32 to the base model's/);
    expect(r.stdout).not.toMatch(/this file alone/);
  });

  test('the first inspect of a builtin model says it is building it, once', async () => {
    const home = join(tmp.dir, 'home');
    const fixture = join(tmp.dir, 'ti.safetensors');
    await writeSt(fixture, textualInversion.a1111(768, 4));
    const python = join(tmp.dir, 'fake-python');
    // Stands in for `python -m mgen_runtime.tiny NAME OUT`: writes the file and its manifest.
    await writeFile(python, `#!/bin/sh\nmkdir -p "$4" && cp "${fixture}" "$4/ti.safetensors" && printf '{"name":"%s","layout":"file","base":"tiny-sd","files":["ti.safetensors"],"file":"ti.safetensors"}' "$3" > "$4/mgen-tiny.json"\n`);
    await chmod(python, 0o755);
    const env = {MGEN_HOME: home, MGEN_PYTHON: python};
    const first = mgen(['inspect', 'builtin:tiny-sd-ti'], env);
    expect(first.code).toBe(0);
    expect(first.stderr).toContain('building the tiny model builtin:tiny-sd-ti (once, ~10 s)');
    const again = mgen(['inspect', 'builtin:tiny-sd-ti'], env);
    expect(again.code).toBe(0);
    expect(again.stderr).not.toContain('building');
  });
});
