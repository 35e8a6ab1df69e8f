// A symbolic pickle interpreter: walks the opcodes of protocols 0-5 and builds a value tree
// (dicts, lists, tuples, scalars, and opaque "call" nodes for REDUCE/NEWOBJ/INST/OBJ). It never
// imports or calls anything: globals are only recorded. Every resource is bounded so that a hostile
// pickle ends in an InvalidModelError, not a crash, a hang or unbounded memory.
import {InvalidModelError} from '../../errors.js';

export type PValue =
  | null | boolean | number | bigint | string
  | {t: 'bytes'; length: number; head: Uint8Array}
  | {t: 'list'; items: PValue[]}
  | {t: 'tuple'; items: PValue[]}
  | {t: 'set'; items: PValue[]}
  | {t: 'dict'; entries: Array<[PValue, PValue]>}
  | {t: 'global'; module: string; name: string}
  | {t: 'persid'; pid: PValue}
  | {t: 'call'; fn: PValue; args: PValue[]; kwargs?: PValue; state?: PValue; items: PValue[]; entries: Array<[PValue, PValue]>};

export type CallNode = Extract<PValue, {t: 'call'}>;

export interface PickleLimits {
  maxMemo: number;
  maxStack: number;
  maxNodes: number;
  /** Bytes of a string/bytes kept in the tree; longer values are cut (strings) or summarized (bytes). */
  maxStringBytes: number;
}

export const DEFAULT_PICKLE_LIMITS: PickleLimits = {maxMemo: 1_000_000, maxStack: 1_000_000, maxNodes: 2_000_000, maxStringBytes: 64 * 1024};

export interface PickleResult {
  value: PValue;
  /** Offset just after the STOP opcode. */
  end: number;
  /** Every global referenced, `module.name`, in first-seen order. */
  globals: string[];
  protocol: number;
}

const MARK: unique symbol = Symbol('mark');
type Slot = PValue | typeof MARK;

/** Raised when the bytes end before STOP: callers may retry with more bytes. */
export class PickleTruncatedError extends InvalidModelError {}

/** Interprets one pickle starting at `start`. `name` is used in error messages. */
export function interpretPickle(data: Uint8Array, name: string, start = 0, limits: PickleLimits = DEFAULT_PICKLE_LIMITS): PickleResult {
  const fail: (reason: string) => never = (reason) => {
    throw new InvalidModelError(`${name}: invalid pickle: ${reason}`);
  };
  const truncated: () => never = () => {
    throw new PickleTruncatedError(`${name}: invalid pickle: data ends before the STOP opcode`);
  };
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const latin1 = new TextDecoder('latin1');
  const utf8 = new TextDecoder('utf-8', {fatal: false});
  let pos = start;
  let nodes = 0;
  let protocol = 0;
  const stack: Slot[] = [];
  const memo = new Map<number, PValue>();
  const globals: string[] = [];
  const seenGlobals = new Set<string>();

  const need = (n: number) => {
    if (n < 0 || pos + n > data.length) truncated();
  };
  const u8 = () => (need(1), data[pos++]!);
  const u16 = () => (need(2), (pos += 2), dv.getUint16(pos - 2, true));
  const u32 = () => (need(4), (pos += 4), dv.getUint32(pos - 4, true));
  const i32 = () => (need(4), (pos += 4), dv.getInt32(pos - 4, true));
  const u64 = () => {
    need(8);
    const v = dv.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(data.length)) truncated();
    return Number(v);
  };
  const take = (n: number) => {
    need(n);
    pos += n;
    return data.subarray(pos - n, pos);
  };
  const line = () => {
    const end = data.indexOf(0x0a, pos);
    if (end < 0) truncated();
    const s = latin1.decode(data.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const count = () => {
    if (++nodes > limits.maxNodes) fail(`more than ${limits.maxNodes} values`);
  };
  const push = (v: Slot) => {
    if (stack.length >= limits.maxStack) fail(`stack deeper than ${limits.maxStack}`);
    count();
    stack.push(v);
  };
  const pop = (): PValue => {
    if (stack.length === 0) fail('stack underflow');
    const v = stack.pop()!;
    if (v === MARK) fail('unexpected MARK on the stack');
    return v as PValue;
  };
  const top = (): PValue => {
    const v = stack[stack.length - 1];
    if (v === undefined) fail('stack underflow');
    if (v === MARK) fail('unexpected MARK on the stack');
    return v as PValue;
  };
  const popMark = (): PValue[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) fail('no MARK on the stack');
    const items = stack.splice(i + 1) as PValue[];
    stack.pop();
    return items;
  };
  const str = (bytes: Uint8Array): string => utf8.decode(bytes.length > limits.maxStringBytes ? bytes.subarray(0, limits.maxStringBytes) : bytes);
  const bytesNode = (b: Uint8Array): PValue => ({t: 'bytes', length: b.length, head: b.slice(0, 64)});
  const global = (module: string, gname: string): PValue => {
    const key = `${module}.${gname}`;
    if (!seenGlobals.has(key)) {
      if (seenGlobals.size > 100_000) fail('too many distinct globals');
      seenGlobals.add(key);
      globals.push(key);
    }
    return {t: 'global', module, name: gname};
  };
  const memoPut = (i: number, v: PValue) => {
    if (!memo.has(i) && memo.size >= limits.maxMemo) fail(`memo larger than ${limits.maxMemo} entries`);
    memo.set(i, v);
  };
  const memoGet = (i: number): PValue => {
    if (!memo.has(i)) fail(`memo key ${i} is not defined`);
    return memo.get(i)!;
  };
  const setItems = (target: PValue, pairs: PValue[]) => {
    if (pairs.length % 2 !== 0) fail('SETITEMS with an odd number of values');
    const entries = target && typeof target === 'object' && (target.t === 'dict' || target.t === 'call') ? target.entries : fail('SETITEM on a value that is not a dict');
    for (let i = 0; i < pairs.length; i += 2) entries.push([pairs[i]!, pairs[i + 1]!]);
  };
  const appendItems = (target: PValue, items: PValue[]) => {
    if (target && typeof target === 'object' && (target.t === 'list' || target.t === 'call' || target.t === 'set')) target.items.push(...items);
    else fail('APPEND on a value that is not a list');
  };
  const call = (fn: PValue, args: PValue, kwargs?: PValue): PValue => {
    const argList = args && typeof args === 'object' && args.t === 'tuple' ? args.items : [args];
    const node: CallNode = {t: 'call', fn, args: argList, items: [], entries: []};
    if (kwargs !== undefined) node.kwargs = kwargs;
    return node;
  };
  const parseInt10 = (s: string): number | bigint | boolean => {
    const t = s.trim().replace(/L$/, '');
    if (t === '00') return false;
    if (t === '01') return true;
    if (!/^[-+]?\d{1,4000}$/.test(t)) fail('bad integer literal'); // not quoted: messages never echo file content
    const b = BigInt(t);
    return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
  };
  const long = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(b.length * 8);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const quoted = (s: string): string => {
    const t = s.trim();
    if (t.length >= 2 && (t[0] === "'" || t[0] === '"') && t[t.length - 1] === t[0]) return t.slice(1, -1);
    return fail('bad STRING literal');
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        protocol = u8();
        if (protocol > 5) fail(`unsupported pickle protocol ${protocol}`);
        break;
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: // STOP
        return {value: pop(), end: pos, globals, protocol};
      case 0x28: push(MARK); break; // MARK
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: push(top()); break; // DUP
      case 0x4e: push(null); break; // NONE
      case 0x88: push(true); break; // NEWTRUE
      case 0x89: push(false); break; // NEWFALSE
      case 0x49: push(parseInt10(line())); break; // INT
      case 0x4c: push(parseInt10(line()) as number | bigint); break; // LONG
      case 0x4a: push(i32()); break; // BININT
      case 0x4b: push(u8()); break; // BININT1
      case 0x4d: push(u16()); break; // BININT2
      case 0x8a: push(long(take(u8()))); break; // LONG1
      case 0x8b: { // LONG4
        const n = i32();
        if (n < 0 || n > 1_000_000) fail('LONG4 length out of range');
        push(long(take(n)));
        break;
      }
      case 0x46: { // FLOAT
        const f = Number(line().trim());
        push(Number.isNaN(f) ? 0 : f);
        break;
      }
      case 0x47: need(8); push(dv.getFloat64(pos, false)); pos += 8; break; // BINFLOAT
      case 0x53: push(quoted(line())); break; // STRING
      case 0x54: { const n = i32(); if (n < 0) fail('negative BINSTRING length'); push(str(take(n))); break; } // BINSTRING
      case 0x55: push(str(take(u8()))); break; // SHORT_BINSTRING
      case 0x56: push(line()); break; // UNICODE (raw-unicode-escape, kept as is)
      case 0x58: push(str(take(u32()))); break; // BINUNICODE
      case 0x8c: push(str(take(u8()))); break; // SHORT_BINUNICODE
      case 0x8d: push(str(take(u64()))); break; // BINUNICODE8
      case 0x42: push(bytesNode(take(u32()))); break; // BINBYTES
      case 0x43: push(bytesNode(take(u8()))); break; // SHORT_BINBYTES
      case 0x8e: push(bytesNode(take(u64()))); break; // BINBYTES8
      case 0x96: push(bytesNode(take(u64()))); break; // BYTEARRAY8
      case 0x97: return fail('out-of-band buffers (NEXT_BUFFER) are not supported');
      case 0x98: break; // READONLY_BUFFER: no-op on our values
      case 0x5d: push({t: 'list', items: []}); break; // EMPTY_LIST
      case 0x6c: push({t: 'list', items: popMark()}); break; // LIST
      case 0x29: push({t: 'tuple', items: []}); break; // EMPTY_TUPLE
      case 0x74: push({t: 'tuple', items: popMark()}); break; // TUPLE
      case 0x85: { const a = pop(); push({t: 'tuple', items: [a]}); break; } // TUPLE1
      case 0x86: { const b = pop(); const a = pop(); push({t: 'tuple', items: [a, b]}); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); push({t: 'tuple', items: [a, b, c]}); break; } // TUPLE3
      case 0x7d: push({t: 'dict', entries: []}); break; // EMPTY_DICT
      case 0x64: { const d: PValue = {t: 'dict', entries: []}; setItems(d, popMark()); push(d); break; } // DICT
      case 0x8f: push({t: 'set', items: []}); break; // EMPTY_SET
      case 0x91: push({t: 'set', items: popMark()}); break; // FROZENSET
      case 0x90: { const items = popMark(); appendItems(top(), items); break; } // ADDITEMS
      case 0x61: { const v = pop(); appendItems(top(), [v]); break; } // APPEND
      case 0x65: { const items = popMark(); appendItems(top(), items); break; } // APPENDS
      case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const items = popMark(); setItems(top(), items); break; } // SETITEMS
      case 0x63: { const module = line(); const n = line(); push(global(module, n)); break; } // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const n = pop();
        const module = pop();
        if (typeof n !== 'string' || typeof module !== 'string') fail('STACK_GLOBAL needs two strings');
        push(global(module as string, n as string));
        break;
      }
      case 0x82: case 0x83: case 0x84: { // EXT1/2/4: the copyreg extension registry
        const code = op === 0x82 ? u8() : op === 0x83 ? u16() : i32();
        push(global('copyreg', `extension_${code}`));
        break;
      }
      case 0x50: push({t: 'persid', pid: line()}); break; // PERSID
      case 0x51: push({t: 'persid', pid: pop()}); break; // BINPERSID
      case 0x52: { const args = pop(); const fn = pop(); push(call(fn, args)); break; } // REDUCE
      case 0x81: { const args = pop(); const cls = pop(); push(call(cls, args)); break; } // NEWOBJ
      case 0x92: { const kwargs = pop(); const args = pop(); const cls = pop(); push(call(cls, args, kwargs)); break; } // NEWOBJ_EX
      case 0x69: { // INST
        const module = line();
        const n = line();
        const args = popMark();
        push(call(global(module, n), {t: 'tuple', items: args}));
        break;
      }
      case 0x6f: { // OBJ
        const items = popMark();
        if (items.length === 0) fail('OBJ without a class');
        push(call(items[0]!, {t: 'tuple', items: items.slice(1)}));
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        const obj = top();
        if (obj && typeof obj === 'object' && obj.t === 'call') obj.state = state;
        break;
      }
      case 0x70: memoPut(Number(parseInt10(line())), top()); break; // PUT
      case 0x71: memoPut(u8(), top()); break; // BINPUT
      case 0x72: memoPut(u32(), top()); break; // LONG_BINPUT
      case 0x94: memoPut(memo.size, top()); break; // MEMOIZE
      case 0x67: push(memoGet(Number(parseInt10(line())))); break; // GET
      case 0x68: push(memoGet(u8())); break; // BINGET
      case 0x6a: push(memoGet(u32())); break; // LONG_BINGET
      default:
        fail(`unknown opcode 0x${op.toString(16).padStart(2, '0')} at offset ${pos - 1}`);
    }
  }
}
