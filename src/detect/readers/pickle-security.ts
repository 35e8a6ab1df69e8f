// Grading of the globals a pickle references, the way picklescan does: an allow-list of what plain
// PyTorch/numpy checkpoints need, a list of known-dangerous callables, and everything else "unknown".
import type {SecurityFinding} from '../types.js';
import {own} from '../own.js';

const TORCH_DTYPES = new Set([
  'float16', 'half', 'float32', 'float', 'float64', 'double', 'bfloat16', 'int64', 'long', 'int32', 'int', 'int16', 'short',
  'int8', 'uint8', 'uint16', 'uint32', 'uint64', 'bool', 'complex64', 'complex128', 'cfloat', 'cdouble',
  'float8_e4m3fn', 'float8_e5m2', 'float8_e4m3fnuz', 'float8_e5m2fnuz', 'float8_e8m0fnu', 'qint8', 'quint8', 'qint32',
]);

const SAFE = new Set([
  'collections.OrderedDict', 'torch.Size', 'torch.device', 'torch.storage.UntypedStorage', 'torch.storage.TypedStorage',
  'torch.nn.parameter.Parameter', '_codecs.encode',
  'numpy.core.multiarray._reconstruct', 'numpy._core.multiarray._reconstruct', 'numpy.ndarray', 'numpy.dtype',
  'numpy.core.multiarray.scalar', 'numpy._core.multiarray.scalar',
  'builtins.set', 'builtins.frozenset', 'builtins.bytearray', 'builtins.slice', 'builtins.complex', 'builtins.tuple',
  'builtins.list', 'builtins.dict', 'builtins.int', 'builtins.float', 'builtins.str', 'builtins.bytes', 'builtins.bool',
  '__builtin__.set', '__builtin__.frozenset', 'torch._tensor._rebuild_from_type_v2_safe',
]);

/** Modules where every name is dangerous (process, file system, network, code loading). */
const DANGEROUS_MODULES = [
  'os', 'posix', 'nt', 'subprocess', 'sys', 'socket', 'shutil', 'runpy', 'webbrowser', 'pty', 'commands', 'pickle', '_pickle',
  'cPickle', 'dill', 'marshal', 'ctypes', 'importlib', 'code', 'codeop', 'asyncio', 'multiprocessing', 'requests', 'httplib',
  'http', 'urllib', 'urllib2', 'aiohttp', 'bdb', 'pdb', 'timeit', 'profile', 'cProfile', 'pip', 'setuptools', 'distutils',
  'ftplib', 'smtplib', 'telnetlib', 'imaplib', 'poplib', 'zipimport', '_thread', 'venv', 'ensurepip',
];

const DANGEROUS_NAMES = new Set([
  'builtins.eval', 'builtins.exec', 'builtins.execfile', 'builtins.compile', 'builtins.open', 'builtins.getattr',
  'builtins.setattr', 'builtins.delattr', 'builtins.__import__', 'builtins.apply', 'builtins.input', 'builtins.breakpoint',
  'builtins.globals', 'builtins.locals', 'builtins.vars', 'builtins.memoryview',
  '__builtin__.eval', '__builtin__.exec', '__builtin__.execfile', '__builtin__.compile', '__builtin__.open', '__builtin__.getattr',
  '__builtin__.setattr', '__builtin__.__import__', '__builtin__.apply', '__builtin__.input',
  'torch.load', 'torch.serialization.load', 'torch.storage._load_from_bytes', 'torch.hub.load', 'torch.hub.load_state_dict_from_url',
  'torch.jit.load', 'torch._C._jit_load', 'operator.attrgetter', 'operator.methodcaller',
  'numpy.load', 'numpy.testing._private.utils.runstring', 'types.CodeType', 'types.FunctionType',
  'joblib.load', 'pydoc.locate', 'pydoc.pipepager', 'io.open', '_io.open', 'io.FileIO', '_io.FileIO', 'shelve.open',
]);

/**
 * Attribute names that reach code execution or the file system whatever object they hang off: a dotted global
 * (`torch.serialization` + `os.system`, protocol 4 resolves it attribute by attribute) is as dangerous as `os.system`.
 */
const DANGEROUS_ATTRIBUTES = new Set([
  'eval', 'exec', 'execfile', 'compile', 'open', 'getattr', 'setattr', 'delattr', '__import__', 'apply', 'input', 'breakpoint',
  'globals', 'locals', 'vars', 'system', 'popen', 'popen2', 'popen3', 'popen4', 'spawnl', 'spawnlp', 'spawnv', 'spawnvp', 'spawnve',
  'execl', 'execle', 'execlp', 'execv', 'execve', 'execvp', 'execvpe', 'fork', 'forkpty', 'kill', 'remove', 'unlink', 'rmdir',
  'rmtree', 'check_call', 'check_output', 'getoutput', 'getstatusoutput', 'run_path', 'run_module', 'load', 'loads',
  'load_state_dict_from_url', 'urlopen', 'urlretrieve', 'attrgetter', 'methodcaller', 'import_module',
  '__builtins__', '__globals__', '__subclasses__', '__getattribute__', '__getattr__', '__class__', '__base__', '__bases__',
  '__mro__', '__code__', '__dict__', '__reduce__', '__reduce_ex__', '__call__', '__init__', '__new__', '__loader__', '__spec__',
]);

const DANGEROUS_MODULE_SET = new Set(DANGEROUS_MODULES);

export type Grade = 'safe' | 'dangerous' | 'unknown';

/**
 * Grades `module.name` (either part may hold dots). Exact allow-list entries are safe; a dangerous module or
 * attribute anywhere in the dotted path is dangerous, however module and name split it; the rest is unknown.
 */
export function gradeGlobal(qualified: string): Grade {
  if (SAFE.has(qualified)) return 'safe';
  if (DANGEROUS_NAMES.has(qualified)) return 'dangerous';
  const segs = qualified.split('.').map((s) => s.trim());
  if (segs.some((s) => DANGEROUS_MODULE_SET.has(s))) return 'dangerous';
  if (segs.slice(1).some((s) => DANGEROUS_ATTRIBUTES.has(s))) return 'dangerous';
  if (segs.length === 3 && segs[0] === 'torch' && segs[1] === '_utils' && segs[2]!.startsWith('_rebuild_')) return 'safe';
  if (segs.length === 2 && segs[0] === 'torch' && (segs[1]!.endsWith('Storage') || TORCH_DTYPES.has(segs[1]!))) return 'safe';
  return 'unknown';
}

/** The dangerous globals among a list (what makes a file hostile rather than merely unfamiliar). */
export function dangerousGlobals(globals: string[]): string[] {
  return globals.filter((g) => gradeGlobal(g) === 'dangerous');
}

/** Findings for every global outside the allow-list. */
export function securityFindings(globals: string[], file: string): SecurityFinding[] {
  const out: SecurityFinding[] = [];
  for (const g of globals) {
    const grade = gradeGlobal(g);
    if (grade !== 'safe') out.push({global: g, severity: grade, file});
  }
  return out;
}

const STORAGE_DTYPES: Record<string, string> = {
  DoubleStorage: 'F64', FloatStorage: 'F32', HalfStorage: 'F16', BFloat16Storage: 'BF16', LongStorage: 'I64', IntStorage: 'I32',
  ShortStorage: 'I16', CharStorage: 'I8', ByteStorage: 'U8', BoolStorage: 'BOOL', ComplexFloatStorage: 'C64',
  ComplexDoubleStorage: 'C128', QInt8Storage: 'I8', QUInt8Storage: 'U8', QInt32Storage: 'I32',
  Float8_e4m3fnStorage: 'F8_E4M3', Float8_e5m2Storage: 'F8_E5M2', UInt16Storage: 'U16', UInt32Storage: 'U32', UInt64Storage: 'U64',
  UntypedStorage: 'U8',
};

const DTYPE_NAMES: Record<string, string> = {
  float16: 'F16', half: 'F16', float32: 'F32', float: 'F32', float64: 'F64', double: 'F64', bfloat16: 'BF16', int64: 'I64', long: 'I64',
  int32: 'I32', int: 'I32', int16: 'I16', short: 'I16', int8: 'I8', uint8: 'U8', uint16: 'U16', uint32: 'U32', uint64: 'U64', bool: 'BOOL',
  complex64: 'C64', cfloat: 'C64', complex128: 'C128', cdouble: 'C128', float8_e4m3fn: 'F8_E4M3', float8_e5m2: 'F8_E5M2',
  float8_e4m3fnuz: 'F8_E4M3FNUZ', float8_e5m2fnuz: 'F8_E5M2FNUZ', float8_e8m0fnu: 'F8_E8M0', qint8: 'I8', quint8: 'U8', qint32: 'I32',
};

/** dtype of a torch storage class name (`FloatStorage` -> F32). */
export function storageDtype(name: string): string | undefined {
  return own(STORAGE_DTYPES, name);
}

/** dtype of a torch dtype attribute name (`float16` -> F16). */
export function torchDtype(name: string): string | undefined {
  return own(DTYPE_NAMES, name);
}
