import {describe, expect, test} from '@jest/globals';
import {join} from 'node:path';
import {existsSync} from 'node:fs';
import {writeFile} from 'node:fs/promises';
import {spawnSync} from 'node:child_process';
import {readPickleFile} from '../../../src/detect/readers/pickle.js';
import {interpretPickle} from '../../../src/detect/readers/pickle-vm.js';
import {gradeGlobal} from '../../../src/detect/readers/pickle-security.js';
import {BufferSource, LocalFileSource} from '../../../src/detect/readers/byte-source.js';
import {readWeightFile} from '../../../src/detect/readers/weight-file.js';
import {InvalidModelError} from '../../../src/errors.js';
import {buildZip, dumpPickle, stateDict, torchLegacy, torchTensor, torchZip, type W} from '../../helpers/pickle-writer.js';
import {useTmpDir} from '../../helpers/tmp.js';

const CORPUS = join(process.cwd(), '..', 'shared', 'corpus', 'detect');

const tmp = useTmpDir();

const read = (bytes: Uint8Array, name = 'model.pt') => readPickleFile(new BufferSource(bytes, name));

describe('torch zip checkpoints', () => {
  const tensors = [
    {name: 'conv.weight', dtype: 'F32', shape: [64, 3, 3, 3]},
    {name: 'conv.bias', dtype: 'F16', shape: [64]},
    {name: 'norm.weight', dtype: 'BF16', shape: [64]},
    {name: 'steps', dtype: 'I64', shape: []},
  ];

  test('a state dict with _rebuild_tensor_v2 gives names, dtypes (F32/F16/BF16) and shapes, with no findings', async () => {
    const src = new BufferSource(torchZip(dumpPickle(stateDict(tensors)), {storages: 4}), 'sd.pt');
    const facts = await readPickleFile(src);
    expect(facts.format).toBe('pickle');
    expect(facts.tensors).toEqual(tensors);
    expect(facts.pickle?.legacy).toBe(false);
    expect(facts.pickle?.findings).toEqual([]);
    expect(facts.pickle?.globals).toEqual(expect.arrayContaining(['torch._utils._rebuild_tensor_v2', 'torch.FloatStorage', 'torch.HalfStorage', 'torch.BFloat16Storage', 'collections.OrderedDict']));
    expect(facts.metadata['pickle.container']).toBe('torch-zip');
    expect(src.stats.reads).toBeLessThanOrEqual(3);
  });

  test('parameters, protocol 4 (STACK_GLOBAL, MEMOIZE, FRAME), zip64 records and a non-"archive" root', async () => {
    const sd: W = {dict: [['w', torchTensor('F16', [8, 4], 0, {parameter: true})]]};
    const facts = await read(torchZip(dumpPickle(sd, 4), {zip64: true, root: 'my_model'}));
    expect(facts.tensors).toEqual([{name: 'w', dtype: 'F16', shape: [8, 4]}]);
  });

  test('a checkpoint wrapper (state_dict) is stripped; top-level scalars become metadata', async () => {
    const root: W = {dict: [
      ['epoch', 3], ['global_step', 875000],
      ['state_dict', stateDict([{name: 'model.diffusion_model.input_blocks.0.0.weight', dtype: 'F32', shape: [320, 4, 3, 3]}])],
      ['callbacks', {dict: [['cb', {newobj: [{global: ['pytorch_lightning.callbacks.model_checkpoint', 'ModelCheckpoint']}, []]}]]}],
    ]};
    const facts = await read(torchZip(dumpPickle(root)), 'sd15.ckpt');
    expect(facts.tensors.map((t) => t.name)).toEqual(['model.diffusion_model.input_blocks.0.0.weight']);
    expect(facts.metadata).toMatchObject({epoch: '3', global_step: '875000', 'pickle.wrapper': 'state_dict'});
    expect(facts.pickle?.findings).toEqual([{global: 'pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint', severity: 'unknown', file: 'sd15.ckpt'}]);
  });

  test('an A1111 textual inversion keeps string_to_param names and its scalars', async () => {
    const root: W = {dict: [
      ['string_to_token', {dict: [['*', 265]]}],
      ['string_to_param', {dict: [['*', torchTensor('F32', [8, 768], 0, {parameter: true})]]}],
      ['name', 'easynegative'], ['step', 1500], ['sd_checkpoint', '81761151'], ['sd_checkpoint_name', 'v1-5-pruned'],
    ]};
    const facts = await read(torchZip(dumpPickle(root)), 'easynegative.pt');
    expect(facts.tensors).toEqual([{name: 'string_to_param.*', dtype: 'F32', shape: [8, 768]}]);
    expect(facts.metadata).toMatchObject({name: 'easynegative', step: '1500', sd_checkpoint_name: 'v1-5-pruned'});
  });

  test('a hypernetwork keeps its integer keys and list indices in tensor names', async () => {
    const layers = (dim: number): W => ({list: [0, 1].map((i) => stateDict([
      {name: 'linear.0.weight', dtype: 'F32', shape: [dim * 2, dim]},
      {name: 'linear.1.weight', dtype: 'F32', shape: [dim, dim * 2]},
    ]))});
    const root: W = {dict: [[320, layers(320)], [768, layers(768)], [1280, layers(1280)], ['step', 4000], ['name', 'hn'], ['layer_structure', {list: [1, 2, 1]}], ['activation_func', 'relu']]};
    const facts = await read(torchZip(dumpPickle(root)), 'hn.pt');
    const names = facts.tensors.map((t) => t.name);
    expect(names).toContain('768.0.linear.0.weight');
    expect(names).toContain('1280.1.linear.1.weight');
    expect(facts.tensors.find((t) => t.name === '320.1.linear.0.weight')?.shape).toEqual([640, 320]);
    expect(facts.metadata).toMatchObject({step: '4000', name: 'hn', layer_structure: '[1,2,1]', activation_func: 'relu'});
  });

  test('_rebuild_tensor_v3 with an untyped storage takes the dtype argument', async () => {
    const t: W = {reduce: [{global: ['torch._utils', '_rebuild_tensor_v3']}, [
      {persid: {tuple: ['storage', {global: ['torch.storage', 'UntypedStorage']}, '0', 'cpu', 32]}}, 0, {tuple: [4, 4]}, {tuple: [4, 1]}, false, {dict: []}, {global: ['torch', 'float16']},
    ]]};
    const facts = await read(torchZip(dumpPickle({dict: [['x', t]]})));
    expect(facts.tensors).toEqual([{name: 'x', dtype: 'F16', shape: [4, 4]}]);
    expect(facts.pickle?.findings).toEqual([]);
  });

  test('the RealESRGAN .pth of the corpus (header-only zip, params_ema wrapper)', async () => {
    const src = new LocalFileSource(join(CORPUS, 'invokeai-realesrgan-x2plus', 'RealESRGAN_x2plus.pth'));
    const facts = await readWeightFile(src, 'RealESRGAN_x2plus.pth');
    expect(facts.metadata['pickle.wrapper']).toBe('params_ema');
    expect(facts.tensors.find((t) => t.name === 'conv_first.weight')).toEqual({name: 'conv_first.weight', dtype: 'F32', shape: [64, 12, 3, 3]});
    expect(facts.tensors.length).toBeGreaterThan(100);
    expect(facts.pickle?.findings).toEqual([]);
    await src.close();
  });

  test('a zip without data.pkl is not a PyTorch checkpoint', async () => {
    await expect(read(buildZip([['readme.txt', Buffer.from('hi')]]), 'x.bin')).rejects.toThrow(/zip archive without a data\.pkl/);
  });

  test('a damaged central directory is an InvalidModelError', async () => {
    const z = Buffer.from(torchZip(dumpPickle({dict: []})));
    const cdAt = z.readUInt32LE(z.length - 6);
    z.writeUInt32LE(0xdeadbeef, cdAt);
    await expect(read(z)).rejects.toThrow(/central directory entry 0 is damaged/);
  });
});

describe('dangerous pickles are reported, never run', () => {
  test('os.system / builtins.eval / subprocess.Popen payloads are graded dangerous and create nothing', async () => {
    const marker = join(tmp.dir, 'pwned');
    const payload: W = {dict: [
      ['a', {reduce: [{global: ['os', 'system'], }, [`touch ${marker}`]]}],
      ['b', {reduce: [{global: ['builtins', 'eval']}, [`open(${JSON.stringify(marker)}, 'w').write('x')`]]}],
      ['c', {reduce: [{global: ['subprocess', 'Popen']}, [{list: ['touch', marker]}]]}],
      ['w', torchTensor('F32', [2, 2], 0)],
    ]};
    const bytes = dumpPickle(payload);
    const path = join(tmp.dir, 'evil.pkl');
    await writeFile(path, bytes);
    const src = new LocalFileSource(path, 'evil.pkl');
    const facts = await readPickleFile(src);
    await src.close();
    expect(facts.pickle?.findings).toEqual(expect.arrayContaining([
      {global: 'os.system', severity: 'dangerous', file: 'evil.pkl'},
      {global: 'builtins.eval', severity: 'dangerous', file: 'evil.pkl'},
      {global: 'subprocess.Popen', severity: 'dangerous', file: 'evil.pkl'},
    ]));
    expect(facts.tensors).toEqual([{name: 'w', dtype: 'F32', shape: [2, 2]}]);
    expect(existsSync(marker)).toBe(false);
    // The payload is live: Python's unpickler (when present) does create the file. Only the marker is touched.
    const py = spawnSync('python3', ['-c', 'import pickle,sys\ntry:\n  pickle.loads(open(sys.argv[1],"rb").read())\nexcept Exception: pass', path], {timeout: 20_000});
    if (py.status === 0) expect(existsSync(marker)).toBe(true);
  });

  test('grading: allow-list, dangerous list, unknown', () => {
    expect(gradeGlobal('torch._utils._rebuild_tensor_v2')).toBe('safe');
    expect(gradeGlobal('torch.HalfStorage')).toBe('safe');
    expect(gradeGlobal('numpy.core.multiarray._reconstruct')).toBe('safe');
    expect(gradeGlobal('posix.system')).toBe('dangerous');
    expect(gradeGlobal('nt.system')).toBe('dangerous');
    expect(gradeGlobal('builtins.getattr')).toBe('dangerous');
    expect(gradeGlobal('__builtin__.eval')).toBe('dangerous');
    expect(gradeGlobal('runpy._run_code')).toBe('dangerous');
    expect(gradeGlobal('torch.load')).toBe('dangerous');
    expect(gradeGlobal('webbrowser.open')).toBe('dangerous');
    expect(gradeGlobal('os.path.join')).toBe('dangerous');
    expect(gradeGlobal('torch.nn.modules.linear.Linear')).toBe('unknown');
    expect(gradeGlobal('mypackage.Thing')).toBe('unknown');
    expect(gradeGlobal('pathlib.PosixPath')).toBe('unknown');
    expect(gradeGlobal('io.open')).toBe('dangerous');
    expect(gradeGlobal('ossify.thing')).toBe('unknown');
  });
});

describe('legacy and plain pickles', () => {
  test('a legacy (non-zip) torch file: magic number, sys_info, data pickle, storage keys', async () => {
    const data: W = {dict: [['state_dict', {dict: [['a.weight', torchTensor('F16', [16, 8], 0, {legacy: true})], ['a.bias', torchTensor('F32', [16], 1, {legacy: true})]]}]]};
    const bytes = Buffer.concat([Buffer.from(torchLegacy(data, ['0', '1'])), Buffer.alloc(16 * 8 * 2 + 64)]);
    const facts = await read(bytes, 'old.ckpt');
    expect(facts.pickle?.legacy).toBe(true);
    expect(facts.metadata['pickle.container']).toBe('torch-legacy');
    expect(facts.tensors).toEqual([{name: 'a.weight', dtype: 'F16', shape: [16, 8]}, {name: 'a.bias', dtype: 'F32', shape: [16]}]);
  });

  test('plain pickles of protocol 0, 2 and 4 are read and scanned for globals', async () => {
    for (const protocol of [0, 2, 4]) {
      const v: W = {dict: [['name', 'x'], ['lr', 0.5], ['big', 2n ** 70n], ['flag', true], ['cls', {global: ['argparse', 'Namespace']}]]};
      const facts = await read(dumpPickle(v, protocol), `p${protocol}.pkl`);
      expect(facts.metadata).toMatchObject({name: 'x', lr: '0.5', big: String(2n ** 70n), flag: 'True'});
      expect(facts.pickle?.globals).toEqual(['argparse.Namespace']);
      expect(facts.pickle?.findings).toEqual([{global: 'argparse.Namespace', severity: 'unknown', file: `p${protocol}.pkl`}]);
    }
  });

  test('a plain pickle larger than the first read is read by growing the buffer', async () => {
    const many = Array.from({length: 8000}, (_, i) => ({name: `model.diffusion_model.output_blocks.${i}.1.transformer_blocks.0.attn2.to_k.weight`, dtype: 'F32', shape: [i % 100 + 1, 3]}));
    const bytes = dumpPickle(stateDict(many));
    expect(bytes.length).toBeGreaterThan(1024 * 1024);
    const facts = await read(bytes, 'big.pkl');
    expect(facts.tensors).toHaveLength(8000);
    expect(facts.tensors[7999]?.shape).toEqual([100, 3]);
  });
});

describe('hostile pickles end in InvalidModelError', () => {
  const cases: Array<[string, number[], RegExp]> = [
    ['truncated data', [0x80, 0x02, 0x7d], /ends before the STOP/],
    ['unknown opcode', [0x80, 0x02, 0xff], /unknown opcode 0xff/],
    ['stack underflow', [0x80, 0x02, 0x30, 0x2e], /stack underflow/],
    ['undefined memo key', [0x80, 0x02, 0x68, 0x05, 0x2e], /memo key 5 is not defined/],
    ['SETITEM on a list', [0x80, 0x02, 0x5d, 0x4b, 1, 0x4b, 2, 0x73, 0x2e], /SETITEM on a value that is not a dict/],
    ['APPEND on an int', [0x80, 0x02, 0x4b, 1, 0x4b, 2, 0x61, 0x2e], /APPEND on a value that is not a list/],
    ['huge BINUNICODE length', [0x80, 0x02, 0x58, 0xff, 0xff, 0xff, 0x7f, 0x2e], /ends before the STOP/],
    ['huge BINUNICODE8 length', [0x80, 0x04, 0x8d, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x2e], /ends before the STOP/],
    ['STACK_GLOBAL on non-strings', [0x80, 0x04, 0x4b, 1, 0x4b, 2, 0x93, 0x2e], /STACK_GLOBAL needs two strings/],
    ['protocol 9', [0x80, 0x09, 0x4e, 0x2e], /unsupported pickle protocol 9/],
    ['empty file content', [0x2e], /stack underflow/],
  ];
  test.each(cases)('%s', async (_label, bytes, reason) => {
    const err = await read(Uint8Array.from(bytes), 'hostile.pkl').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidModelError);
    expect((err as Error).message).toContain('hostile.pkl');
    expect((err as Error).message).toMatch(reason);
  });

  test('a 200k-deep nested list gives a result, not a stack overflow', async () => {
    const depth = 200_000;
    const bytes = [0x80, 0x02, 0x5d];
    for (let i = 0; i < depth; i++) bytes.push(0x5d);
    for (let i = 0; i < depth; i++) bytes.push(0x61);
    bytes.push(0x2e);
    const facts = await read(Uint8Array.from(bytes), 'deep.pkl');
    expect(facts.tensors).toEqual([]);
  });

  test('an exponential DAG of shared lists (billion laughs) is bounded', async () => {
    // l0 = [tensor]; l_{i+1} = [l_i, l_i] via BINGET: 2^40 paths if walked naively.
    const bytes: number[] = [0x80, 0x02, 0x5d];
    bytes.push(...dumpPickle(torchTensor('F32', [1], 0)).slice(2, -1), 0x61, 0x71, 0);
    for (let i = 1; i <= 40; i++) bytes.push(0x5d, 0x68, i - 1, 0x61, 0x68, i - 1, 0x61, 0x71, i);
    bytes.push(0x2e);
    const started = Date.now();
    const facts = await read(Uint8Array.from(bytes), 'laughs.pkl');
    expect(facts.warnings.join()).toMatch(/too large or too deep/);
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  test('a list appended to itself (cycle) terminates', async () => {
    const bytes = [0x80, 0x02, 0x5d, 0x71, 0, 0x68, 0, 0x61, 0x2e];
    const facts = await read(Uint8Array.from(bytes), 'cycle.pkl');
    expect(facts.tensors).toEqual([]);
  });

  test('memo and stack bounds are enforced', () => {
    const bytes = [0x80, 0x02];
    for (let i = 0; i < 50; i++) bytes.push(0x4b, 1);
    bytes.push(0x2e);
    expect(() => interpretPickle(Uint8Array.from(bytes), 'x', 0, {maxMemo: 10, maxStack: 20, maxNodes: 1000, maxStringBytes: 10})).toThrow(/stack deeper than 20/);
    const memo = [0x80, 0x02, 0x4e];
    for (let i = 0; i < 50; i++) memo.push(0x94);
    memo.push(0x2e);
    expect(() => interpretPickle(Uint8Array.from(memo), 'x', 0, {maxMemo: 10, maxStack: 20, maxNodes: 1000, maxStringBytes: 10})).toThrow(/memo larger than 10/);
  });
});
