// Hostile and broken weight files through the real readers and detect(): every one ends in a report or an
// InvalidModelError (exit 6), never another exception (exit 1), and costs little however large its header claims to be.
import {describe, expect, test} from '@jest/globals';
import {join} from 'node:path';
import {writeFile} from 'node:fs/promises';
import {BufferSource} from '../../src/detect/readers/byte-source.js';
import {readWeightFile} from '../../src/detect/readers/weight-file.js';
import {readSafetensorsHeader, scanHeaderShape} from '../../src/detect/readers/safetensors.js';
import {readPickleFile} from '../../src/detect/readers/pickle.js';
import {readGgufHeader} from '../../src/detect/readers/gguf.js';
import {gradeGlobal} from '../../src/detect/readers/pickle-security.js';
import {MAX_TENSORS, MAX_TENSOR_NAME_BYTES} from '../../src/detect/readers/limits.js';
import {detectLocal} from '../../src/detect/index.js';
import {InvalidModelError} from '../../src/errors.js';
import {rawHeaderBytes} from '../helpers/safetensors-writer.js';
import {dumpPickle, stateDict, torchZip, type W} from '../helpers/pickle-writer.js';
import {buildGgufHeader} from '../helpers/gguf-writer.js';
import {useTmpDir} from '../helpers/tmp.js';

const tmp = useTmpDir('mgen-hostile-');

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a failure');
}

function st(header: Record<string, unknown>, data = 0): Uint8Array {
  return Buffer.concat([rawHeaderBytes(JSON.stringify(header)), Buffer.alloc(data)]);
}

describe('Object.prototype names from a file are plain strings', () => {
  test.each(['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf'])('safetensors dtype %s is exit 6', async (dtype) => {
    const err = await failure(readSafetensorsHeader(new BufferSource(st({a: {dtype, shape: [2], data_offsets: [0, 4]}}, 4), 'x.safetensors')));
    expect(err).toBeInstanceOf(InvalidModelError);
    expect(err.message).toMatch(/unknown dtype/);
  });

  test('tensor names and metadata keys __proto__ / constructor are ordinary keys through detect()', async () => {
    const json = '{"__metadata__":{"__proto__":"p","constructor":"c","toString":"t"},"__proto__":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"constructor":{"dtype":"F16","shape":[2],"data_offsets":[4,8]}}';
    const path = join(tmp.dir, 'proto.safetensors');
    await writeFile(path, Buffer.concat([rawHeaderBytes(json), Buffer.alloc(8)]));
    const r = await detectLocal(path);
    expect(r.metadata.constructor).toBe('c');
    expect(Object.prototype.hasOwnProperty.call(r.metadata, '__proto__')).toBe(true);
    expect(r.files[0]!.dtypes.F16).toBe(2);
    expect(JSON.parse(JSON.stringify(r)).metadata.toString).toBe('t');
  });

  test.each(['constructor', 'toString', '__proto__'])('a pickle storage global torch.%s is read, dtype unknown', async (name) => {
    const tensor: W = {reduce: [{global: ['torch._utils', '_rebuild_tensor_v2']}, [
      {persid: {tuple: ['storage', {global: ['torch', name]}, '0', 'cpu', 4]}}, 0, {tuple: [2, 2]}, {tuple: [2, 1]}, false, {reduce: [{global: ['collections', 'OrderedDict']}, []]},
    ]]};
    const facts = await readPickleFile(new BufferSource(torchZip(dumpPickle({dict: [['w', tensor]]}), {storages: 1}), 'p.ckpt'));
    expect(facts.tensors).toEqual([{name: 'w', dtype: 'unknown', shape: [2, 2]}]);
  });

  test('a numpy dtype string "constructor" and GGUF keys named __proto__ are plain strings', async () => {
    const g = buildGgufHeader({'general.architecture': 'flux', __proto__x: 'a', ['__proto__']: {array: 'i32', items: [1, 2]}} as never, [{name: 'constructor', shape: [4], type: 'F32'}]);
    const facts = await readGgufHeader(new BufferSource(g.bytes, 'g.gguf'));
    expect(facts.tensors[0]!.name).toBe('constructor');
  });
});

describe('resource caps: hostile headers are refused before they are parsed', () => {
  function manyTensors(n: number, nameLen = 8): Uint8Array {
    const parts: string[] = [];
    for (let i = 0; i < n; i++) parts.push(`"${String(i).padStart(nameLen, 't')}":{"dtype":"F16","shape":[1],"data_offsets":[${i * 2},${i * 2 + 2}]}`);
    return Buffer.from(`{${parts.join(',')}}`);
  }

  test(`more than ${MAX_TENSORS} tensors is an InvalidModelError naming the limit`, async () => {
    const body = manyTensors(MAX_TENSORS + 5);
    const bytes = Buffer.concat([rawHeaderBytes(body), Buffer.alloc(2 * (MAX_TENSORS + 5))]);
    const err = await failure(readWeightFile(new BufferSource(bytes, 'many.safetensors'), 'many.safetensors'));
    expect(err).toBeInstanceOf(InvalidModelError);
    expect(err.message).toMatch(new RegExp(`more than ${MAX_TENSORS} tensors`));
  });

  test('the byte scan stops at the limit instead of walking the whole header', () => {
    const r = scanHeaderShape(manyTensors(MAX_TENSORS + 2));
    expect(r.problem).toMatch(/more than/);
    expect(r.members).toBe(MAX_TENSORS + 2);
  });

  test('a tensor name longer than the limit is refused; escaped quotes do not end a name', async () => {
    const long = 'x'.repeat(MAX_TENSOR_NAME_BYTES + 1);
    const err = await failure(readSafetensorsHeader(new BufferSource(st({[long]: {dtype: 'F16', shape: [1], data_offsets: [0, 2]}}, 2), 'n.safetensors')));
    expect(err).toBeInstanceOf(InvalidModelError);
    expect(err.message).toMatch(/tensor name of \d+ bytes/);
    expect(scanHeaderShape(Buffer.from('{"a\\"b\\\\":{"x":[1,2]},"c":{}}')).members).toBe(2);
  });

  test('a header nested deeper than real headers is refused', () => {
    expect(scanHeaderShape(Buffer.from(`{"a":${'['.repeat(50)}${']'.repeat(50)}}`)).problem).toMatch(/nested/);
  });

  test('real-sized headers pass: 3,000 tensors with 200-byte names', () => {
    expect(scanHeaderShape(manyTensors(3000, 200)).problem).toBeUndefined();
  });

  test('GGUF: tensor counts and name lengths are capped', async () => {
    const g = buildGgufHeader({'general.architecture': 'flux'}, [{name: 'n'.repeat(MAX_TENSOR_NAME_BYTES + 1), shape: [4], type: 'F32'}]);
    const err = await failure(readGgufHeader(new BufferSource(g.bytes, 'g.gguf')));
    expect(err).toBeInstanceOf(InvalidModelError);
    expect(err.message).toMatch(/tensor name length/);
  });
});

describe('pickle globals: dotted and aliased forms of dangerous callables are dangerous', () => {
  test.each([
    'os.system', 'posix.system', 'nt.system', 'builtins.exec', '__builtin__.eval', 'os.system.', 'torch.serialization.os.system',
    'torch.os.system', 'collections.OrderedDict.__init__.__globals__', 'numpy.testing._private.utils.runstring', 'subprocess.Popen',
    'builtins.getattr', 'torch._utils.os.system', 'some_module.sub.eval',
  ])('%s', (g) => expect(gradeGlobal(g)).toBe('dangerous'));

  test.each(['torch._utils._rebuild_tensor_v2', 'torch.FloatStorage', 'collections.OrderedDict', 'torch.float16'])('%s stays safe', (g) => {
    expect(gradeGlobal(g)).toBe('safe');
  });

  test('STACK_GLOBAL with a dotted name (protocol 4) is found and graded dangerous', async () => {
    const pkl = dumpPickle({dict: [['x', {reduce: [{global: ['torch.serialization', 'os.system']}, ['echo hi']]}]]}, 4);
    const facts = await readPickleFile(new BufferSource(pkl, 'p.pkl'));
    expect(facts.pickle!.findings).toEqual([{global: 'torch.serialization.os.system', severity: 'dangerous', file: 'p.pkl'}]);
  });

  test('every extra .pkl of a torch zip is scanned, not only the first 16', async () => {
    const extra: Array<[string, Uint8Array]> = [];
    for (let i = 0; i < 40; i++) extra.push([`archive/extra${i}.pkl`, dumpPickle({list: [1]}, 2)]);
    extra.push(['archive/zz-last.pkl', dumpPickle({reduce: [{global: ['posix', 'system']}, ['id']]}, 2)]);
    const zip = torchZip(dumpPickle(stateDict([{name: 'w', dtype: 'F32', shape: [2]}])), {storages: 1, extra});
    const facts = await readPickleFile(new BufferSource(zip, 'm.pt'));
    expect(facts.pickle!.findings.map((f) => f.global)).toContain('posix.system');
  });
});

describe('empty, truncated and foreign files named .safetensors', () => {
  test('a 0-byte .safetensors given as the model is exit 6, not a report of unknown kind', async () => {
    const path = join(tmp.dir, 'empty.safetensors');
    await writeFile(path, '');
    const err = await failure(detectLocal(path));
    expect(err).toBeInstanceOf(InvalidModelError);
    expect(err.message).toMatch(/empty\.safetensors is empty \(0 bytes\)/);
  });

  test.each([3, 8, 12, 40])('a header truncated to %i bytes is exit 6', async (n) => {
    const full = st({a: {dtype: 'F16', shape: [2], data_offsets: [0, 4]}}, 4);
    const path = join(tmp.dir, `trunc${n}.safetensors`);
    await writeFile(path, full.subarray(0, n));
    await expect(detectLocal(path)).rejects.toBeInstanceOf(InvalidModelError);
  });

  test('a text file says it is not a safetensors file; the first bytes are quoted only when asked', async () => {
    const path = join(tmp.dir, 'fake.safetensors');
    await writeFile(path, 'hello world, "this" is text');
    const plain = await failure(detectLocal(path));
    expect(plain).toBeInstanceOf(InvalidModelError);
    expect(plain.message).toBe("fake.safetensors is not a safetensors file");
    const quoted = await failure(detectLocal(path, {quoteContent: true}));
    expect(quoted.message).toBe('fake.safetensors is not a safetensors file (it starts with "hello wo")');
    await writeFile(path, 'ab"\u001b]0;x\u0007cdefgh');
    expect((await failure(detectLocal(path, {quoteContent: true}))).message).toMatch(/\(it starts with "ab\\""\)$/);
  });

  test.each([
    ['<!DOCTYPE html><html><body>Not found</body></html>', 'an HTML page'],
    ['  <html><head><title>502</title>', 'an HTML page'],
    ['{"error":"Repository not found"}', 'a JSON document'],
    ['version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n', 'a Git LFS pointer'],
  ])('%j is named', async (content, kind) => {
    const path = join(tmp.dir, 'page.safetensors');
    await writeFile(path, content);
    const err = await failure(detectLocal(path, {quoteContent: true}));
    expect(err).toBeInstanceOf(InvalidModelError);
    expect(err.message).toContain(`is ${kind}`);
    expect(err.message).toMatch(/not a safetensors file$/);
  });

  test.each([['model.ckpt', 'PyTorch checkpoint'], ['model.gguf', 'GGUF']])('an HTML page saved as %s is named too', async (file, what) => {
    const path = join(tmp.dir, file);
    await writeFile(path, '<!DOCTYPE html><html><body>Access denied</body></html>');
    const err = await failure(detectLocal(path));
    expect(err).toBeInstanceOf(InvalidModelError);
    expect(err.message).toBe(`${file} is an HTML page, not a ${what} file`);
  });
});
