// Test helper: a tiny pickle *writer* that emits opcodes for a JS description of a value, so the
// tests need no Python. It covers protocols 0, 2 and 4 (text opcodes, binary opcodes, STACK_GLOBAL +
// MEMOIZE + FRAME), PyTorch's tensor rebuild calls, and torch zip / legacy containers.

export type W =
  | null | boolean | number | bigint | string
  | {dict: Array<[W, W]>}
  | {list: W[]}
  | {tuple: W[]}
  | {global: [string, string]}
  | {reduce: [W, W[]]}
  | {newobj: [W, W[]]}
  | {persid: W}
  | {build: [W, W]}
  | {bytes: Uint8Array}
  | {raw: number[]};

export function dumpPickle(value: W, protocol = 2): Uint8Array {
  const out: number[] = [];
  const ascii = (s: string) => {
    for (const b of Buffer.from(s, 'latin1')) out.push(b);
  };
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    out.push(...b);
  };
  let memo = 0;
  const put = () => {
    if (protocol >= 4) out.push(0x94);
    else if (protocol >= 1) out.push(0x71, memo & 0xff);
    else ascii(`p${memo}\n`);
    memo++;
  };
  const emit = (v: W): void => {
    if (v === null) return void out.push(0x4e);
    if (typeof v === 'boolean') {
      if (protocol >= 2) return void out.push(v ? 0x88 : 0x89);
      return ascii(v ? 'I01\n' : 'I00\n');
    }
    if (typeof v === 'number' && !Number.isInteger(v)) {
      if (protocol === 0) return ascii(`F${v}\n`);
      const b = Buffer.alloc(8);
      b.writeDoubleBE(v);
      return void out.push(0x47, ...b);
    }
    if (typeof v === 'number' || typeof v === 'bigint') {
      const n = BigInt(v);
      if (protocol === 0) return ascii(`L${n}L\n`);
      if (n >= 0n && n < 256n) return void out.push(0x4b, Number(n));
      if (n >= 0n && n < 65536n) return void out.push(0x4d, Number(n) & 0xff, Number(n) >> 8);
      if (n >= -(2n ** 31n) && n < 2n ** 31n) {
        const b = Buffer.alloc(4);
        b.writeInt32LE(Number(n));
        return void out.push(0x4a, ...b);
      }
      const bytes: number[] = [];
      let x = n;
      for (;;) {
        bytes.push(Number(x & 0xffn));
        x >>= 8n;
        if ((x === 0n && !(bytes[bytes.length - 1]! & 0x80)) || (x === -1n && bytes[bytes.length - 1]! & 0x80)) break;
      }
      return void out.push(0x8a, bytes.length, ...bytes);
    }
    if (typeof v === 'string') {
      if (protocol === 0) {
        ascii(`V${v}\n`);
      } else {
        const b = Buffer.from(v, 'utf8');
        if (protocol >= 4 && b.length < 256) out.push(0x8c, b.length);
        else out.push(0x58), u32(b.length);
        out.push(...b);
      }
      return put();
    }
    if ('dict' in v) {
      if (protocol === 0) out.push(0x28, 0x64);
      else out.push(0x7d);
      put();
      if (protocol === 0) {
        for (const [k, x] of v.dict) emit(k), emit(x), out.push(0x73);
      } else if (v.dict.length) {
        out.push(0x28);
        for (const [k, x] of v.dict) emit(k), emit(x);
        out.push(0x75);
      }
      return;
    }
    if ('list' in v) {
      if (protocol === 0) out.push(0x28, 0x6c);
      else out.push(0x5d);
      put();
      if (protocol === 0) {
        for (const x of v.list) emit(x), out.push(0x61);
      } else if (v.list.length) {
        out.push(0x28);
        for (const x of v.list) emit(x);
        out.push(0x65);
      }
      return;
    }
    if ('tuple' in v) {
      const n = v.tuple.length;
      if (protocol >= 2 && n === 0) return void out.push(0x29);
      if (protocol >= 2 && n <= 3) {
        for (const x of v.tuple) emit(x);
        out.push(0x84 + n);
        return put();
      }
      out.push(0x28);
      for (const x of v.tuple) emit(x);
      out.push(0x74);
      return put();
    }
    if ('global' in v) {
      const [m, n] = v.global;
      if (protocol >= 4) {
        emit(m);
        emit(n);
        out.push(0x93);
      } else {
        ascii(`c${m}\n${n}\n`);
      }
      return put();
    }
    if ('reduce' in v || 'newobj' in v) {
      const [fn, args] = 'reduce' in v ? v.reduce : v.newobj;
      emit(fn);
      emit({tuple: args});
      out.push('reduce' in v ? 0x52 : 0x81);
      return put();
    }
    if ('persid' in v) {
      emit(v.persid);
      return void out.push(0x51);
    }
    if ('build' in v) {
      emit(v.build[0]);
      emit(v.build[1]);
      return void out.push(0x62);
    }
    if ('bytes' in v) {
      out.push(0x42);
      u32(v.bytes.length);
      out.push(...v.bytes);
      return put();
    }
    out.push(...v.raw);
  };
  if (protocol >= 2) out.push(0x80, protocol);
  const body: number[] = [];
  emit(value);
  out.push(0x2e);
  if (protocol >= 4) {
    // A single FRAME around the body, as Python does for protocol 4.
    const head = out.slice(0, 2);
    const rest = out.slice(2);
    const f = Buffer.alloc(8);
    f.writeBigUInt64LE(BigInt(rest.length));
    body.push(...head, 0x95, ...f, ...rest);
    return Uint8Array.from(body);
  }
  return Uint8Array.from(out);
}

const STORAGE: Record<string, string> = {F32: 'FloatStorage', F16: 'HalfStorage', BF16: 'BFloat16Storage', F64: 'DoubleStorage', I64: 'LongStorage', U8: 'ByteStorage', I8: 'CharStorage'};

/** A tensor as torch.save writes it: _rebuild_tensor_v2 over a persistent-id storage tuple. */
export function torchTensor(dtype: string, shape: number[], key: string | number, opts: {parameter?: boolean; legacy?: boolean} = {}): W {
  const numel = shape.reduce((a, b) => a * b, 1);
  const stride: number[] = [];
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    stride.unshift(acc);
    acc *= shape[i]!;
  }
  const storageTuple: W[] = ['storage', {global: ['torch', STORAGE[dtype] ?? 'FloatStorage']}, String(key), 'cpu', numel];
  if (opts.legacy) storageTuple.push(null);
  const t: W = {
    reduce: [{global: ['torch._utils', '_rebuild_tensor_v2']}, [
      {persid: {tuple: storageTuple}}, 0, {tuple: shape}, {tuple: stride}, false, {reduce: [{global: ['collections', 'OrderedDict']}, []]},
    ]],
  };
  if (!opts.parameter) return t;
  return {reduce: [{global: ['torch._utils', '_rebuild_parameter']}, [t, true, {reduce: [{global: ['collections', 'OrderedDict']}, []]}]]};
}

/** An OrderedDict of tensors keyed by name (what model.state_dict() pickles as). */
export function stateDict(tensors: Array<{name: string; dtype: string; shape: number[]}>): W {
  return {dict: tensors.map((t, i) => [t.name, torchTensor(t.dtype, t.shape, i)] as [W, W])};
}

/** A torch zip (archive/data.pkl, byteorder, data/N, version) with stored entries; storages empty unless sized. */
export function torchZip(dataPkl: Uint8Array, opts: {storages?: number; root?: string; zip64?: boolean; extra?: Array<[string, Uint8Array]>} = {}): Uint8Array {
  const root = opts.root ?? 'archive';
  const files: Array<[string, Uint8Array]> = [[`${root}/data.pkl`, dataPkl], [`${root}/byteorder`, Buffer.from('little')]];
  for (let i = 0; i < (opts.storages ?? 0); i++) files.push([`${root}/data/${i}`, new Uint8Array(0)]);
  files.push([`${root}/version`, Buffer.from('3\n')], ...(opts.extra ?? []));
  return buildZip(files, {zip64: opts.zip64});
}

/** Builds a stored (uncompressed) zip archive; zip64 records when asked. */
export function buildZip(files: Array<[string, Uint8Array]>, opts: {zip64?: boolean} = {}): Uint8Array {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of files) {
    const nameB = Buffer.from(name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(opts.zip64 ? 45 : 20, 4);
    local.writeUInt32LE(crc32(data), 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameB.length, 26);
    parts.push(local, nameB, Buffer.from(data));
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(45, 4);
    cd.writeUInt16LE(45, 6);
    cd.writeUInt32LE(crc32(data), 16);
    let extra = Buffer.alloc(0);
    if (opts.zip64) {
      cd.writeUInt32LE(0xffffffff, 20);
      cd.writeUInt32LE(0xffffffff, 24);
      cd.writeUInt32LE(0xffffffff, 42);
      extra = Buffer.alloc(28);
      extra.writeUInt16LE(1, 0);
      extra.writeUInt16LE(24, 2);
      extra.writeBigUInt64LE(BigInt(data.length), 4);
      extra.writeBigUInt64LE(BigInt(data.length), 12);
      extra.writeBigUInt64LE(BigInt(offset), 20);
    } else {
      cd.writeUInt32LE(data.length, 20);
      cd.writeUInt32LE(data.length, 24);
      cd.writeUInt32LE(offset, 42);
    }
    cd.writeUInt16LE(nameB.length, 28);
    cd.writeUInt16LE(extra.length, 30);
    central.push(cd, nameB, extra);
    offset += 30 + nameB.length + data.length;
  }
  const cdBuf = Buffer.concat(central);
  const cdOffset = offset;
  const tail: Buffer[] = [];
  if (opts.zip64) {
    const rec = Buffer.alloc(56);
    rec.writeUInt32LE(0x06064b50, 0);
    rec.writeBigUInt64LE(44n, 4);
    rec.writeUInt16LE(45, 12);
    rec.writeUInt16LE(45, 14);
    rec.writeBigUInt64LE(BigInt(files.length), 24);
    rec.writeBigUInt64LE(BigInt(files.length), 32);
    rec.writeBigUInt64LE(BigInt(cdBuf.length), 40);
    rec.writeBigUInt64LE(BigInt(cdOffset), 48);
    const loc = Buffer.alloc(20);
    loc.writeUInt32LE(0x07064b50, 0);
    loc.writeBigUInt64LE(BigInt(cdOffset + cdBuf.length), 8);
    loc.writeUInt32LE(1, 16);
    tail.push(rec, loc);
  }
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(opts.zip64 ? 0xffff : files.length, 8);
  eocd.writeUInt16LE(opts.zip64 ? 0xffff : files.length, 10);
  eocd.writeUInt32LE(opts.zip64 ? 0xffffffff : cdBuf.length, 12);
  eocd.writeUInt32LE(opts.zip64 ? 0xffffffff : cdOffset, 16);
  return Buffer.concat([...parts, cdBuf, ...tail, eocd]);
}

function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of data) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

/** A legacy (pre-1.6, non-zip) torch file: magic, protocol, sys_info, data pickle, storage keys. */
export function torchLegacy(data: W, keys: string[]): Uint8Array {
  const parts = [
    dumpPickle(0x1950a86a20f9469cfc6cn),
    dumpPickle(1001),
    dumpPickle({dict: [['protocol_version', 1001], ['little_endian', true], ['type_sizes', {dict: [['short', 2], ['int', 4], ['long', 4]]}]]}),
    dumpPickle(data),
    dumpPickle({list: keys}),
  ];
  return Buffer.concat(parts.map((p) => Buffer.from(p)));
}
