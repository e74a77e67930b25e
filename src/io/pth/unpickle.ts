// A restricted unpickler in the spirit of torch's weights_only loader: it knows only the opcodes and globals that a
// state dict needs and executes nothing. Globals become inert markers; REDUCE applies only the few we implement.
import { type Fail, failer } from './error.ts';

/** Python's tuple, kept apart from list so that argument lists are recognisable. */
export class PyTuple {
  constructor(readonly items: unknown[]) {}
}

/** A dict: plain dict and collections.OrderedDict both keep insertion order. */
export type PyDict = Map<unknown, unknown>;

export type StorageDtype = 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64' | 'int32';

/** A reference to archive/data/<key>, as torch's persistent id names it. */
export interface StorageRef {
  kind: 'storage';
  key: string;
  dtype: StorageDtype;
  /** Elements, as the pickle states it; checked against the entry's bytes when loaded. */
  numel: number;
}

/** The arguments of torch._utils._rebuild_tensor_v2, not yet checked against the storage. */
export interface TensorRef {
  kind: 'tensor';
  storage: StorageRef;
  offset: unknown;
  size: unknown;
  stride: unknown;
}

// Each allowed global by its full name. Storage types carry their dtype; functions carry what REDUCE does.
const STORAGE_TYPES: Record<string, StorageDtype> = {
  'torch.FloatStorage': 'float32',
  'torch.HalfStorage': 'float16',
  'torch.BFloat16Storage': 'bfloat16',
  'torch.DoubleStorage': 'float64',
  'torch.LongStorage': 'int64',
  'torch.IntStorage': 'int32',
};
const FUNCTIONS = [
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  'torch.Size',
] as const;
type FunctionName = (typeof FUNCTIONS)[number];

class PyGlobal {
  constructor(readonly name: FunctionName | keyof typeof STORAGE_TYPES) {}
}

const ALLOWED_GLOBALS: readonly string[] = [...FUNCTIONS, ...Object.keys(STORAGE_TYPES)];

export function describe(value: unknown): string {
  if (value === null) return 'None';
  if (value instanceof PyTuple) return 'tuple';
  if (Array.isArray(value)) return 'list';
  if (value instanceof Map) return 'dict';
  if (value instanceof PyGlobal) return value.name;
  if (typeof value === 'object' && 'kind' in value) return String(value.kind);
  return typeof value;
}

/**
 * Unpickles `data` (a pickle of protocol 2 to 5). Anything beyond a state dict's vocabulary fails with a
 * PthError naming the opcode or global, before it could have any effect.
 */
export function unpickle(data: Uint8Array, label: string): unknown {
  const fail: Fail = failer(`${label}: data.pkl`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let stack: unknown[] = [];
  const marks: unknown[][] = [];
  const memo = new Map<number, unknown>();
  let pos = 0;

  const need = (n: number, what: string) => {
    if (n < 0 || pos + n > data.length) fail(`truncated: ${what} at byte ${pos} needs ${n} bytes`);
  };
  const take = (n: number, what: string): Uint8Array => {
    need(n, what);
    pos += n;
    return data.subarray(pos - n, pos);
  };
  const text = (n: number, what: string): string => {
    const bytes = take(n, what);
    try {
      return decoder.decode(bytes);
    } catch {
      return fail(`${what} at byte ${pos - n} is not valid UTF-8`);
    }
  };
  const line = (what: string): string => {
    const end = data.indexOf(0x0a, pos);
    if (end < 0) fail(`truncated: ${what} at byte ${pos} has no newline`);
    return text(end - pos + 1, what).slice(0, -1);
  };
  const pop = (what: string): unknown => {
    if (stack.length === 0) fail(`${what} at byte ${pos - 1} found an empty stack`);
    return stack.pop();
  };
  const top = (what: string): unknown => {
    if (stack.length === 0) fail(`${what} at byte ${pos - 1} found an empty stack`);
    return stack[stack.length - 1];
  };
  const popMark = (what: string): unknown[] => {
    const items = stack;
    const outer = marks.pop();
    if (!outer) return fail(`${what} at byte ${pos - 1} has no matching MARK`);
    stack = outer;
    return items;
  };
  const dictAt = (what: string): PyDict => {
    const d = top(what);
    if (!(d instanceof Map)) fail(`${what} at byte ${pos - 1} targets a ${describe(d)}, not a dict`);
    return d as PyDict;
  };
  const listAt = (what: string): unknown[] => {
    const l = top(what);
    if (!Array.isArray(l)) fail(`${what} at byte ${pos - 1} targets a ${describe(l)}, not a list`);
    return l as unknown[];
  };
  const setItem = (d: PyDict, key: unknown, value: unknown) => {
    if (typeof key !== 'string' && typeof key !== 'number' && typeof key !== 'bigint') {
      fail(`dict key at byte ${pos - 1} is a ${describe(key)}; only string and integer keys are read`);
    }
    d.set(key, value);
  };
  const global = (name: string): PyGlobal => {
    if (name in STORAGE_TYPES || (FUNCTIONS as readonly string[]).includes(name)) {
      return new PyGlobal(name as PyGlobal['name']);
    }
    return fail(
      `refuses global "${name}": a weights file needs none but ${ALLOWED_GLOBALS.join(', ')} (nothing was executed)`,
    );
  };
  const persistentLoad = (pid: unknown): StorageRef => {
    const items = pid instanceof PyTuple ? pid.items : [];
    const [tag, type, key, , numel] = items;
    if (items.length !== 5 || tag !== 'storage') fail(`persistent id ${describe(pid)} is not a storage reference`);
    if (!(type instanceof PyGlobal) || !(type.name in STORAGE_TYPES)) {
      fail(`storage reference names ${describe(type)}, not a storage type`);
    }
    if (typeof key !== 'string' || !/^[A-Za-z0-9_]{1,64}$/.test(key)) {
      fail(`storage key ${JSON.stringify(key)} is not a plain record name`);
    }
    if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) {
      fail(`storage ${key}: element count ${String(numel)} is not a non-negative integer`);
    }
    return { kind: 'storage', key, dtype: STORAGE_TYPES[type.name], numel };
  };
  const reduce = (fn: unknown, args: unknown): unknown => {
    if (!(fn instanceof PyGlobal) || fn.name in STORAGE_TYPES) fail(`REDUCE calls ${describe(fn)}, not a function`);
    if (!(args instanceof PyTuple)) return fail(`REDUCE arguments of ${fn.name} are a ${describe(args)}, not a tuple`);
    const a = args.items;
    switch (fn.name as FunctionName) {
      case 'collections.OrderedDict': {
        const d: PyDict = new Map();
        if (a.length === 0) return d;
        if (a.length === 1 && Array.isArray(a[0])) {
          for (const pair of a[0]) {
            if (!(pair instanceof PyTuple) || pair.items.length !== 2)
              fail('OrderedDict item is not a (key, value) pair');
            setItem(d, pair.items[0], pair.items[1]);
          }
          return d;
        }
        return fail(`OrderedDict called with ${a.length} unsupported arguments`);
      }
      case 'torch._utils._rebuild_tensor_v2': {
        // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
        if (a.length < 6 || a.length > 7) fail(`_rebuild_tensor_v2 takes 6 or 7 arguments, got ${a.length}`);
        const storage = a[0] as StorageRef;
        if (storage?.kind !== 'storage') fail(`_rebuild_tensor_v2 got a ${describe(a[0])} for its storage`);
        const tensor: TensorRef = { kind: 'tensor', storage, offset: a[1], size: a[2], stride: a[3] };
        return tensor;
      }
      case 'torch._utils._rebuild_parameter': {
        // (data, requires_grad, backward_hooks): a Parameter is its tensor here.
        const tensor = a[0] as TensorRef;
        if (a.length !== 3 || tensor?.kind !== 'tensor') fail('_rebuild_parameter expects (tensor, bool, hooks)');
        return tensor;
      }
      case 'torch.Size': {
        if (a.length !== 1 || !(a[0] instanceof PyTuple)) fail('torch.Size expects one tuple');
        return a[0];
      }
    }
  };

  for (;;) {
    const op = take(1, 'opcode')[0];
    switch (op) {
      case 0x80: // PROTO
        if (take(1, 'PROTO')[0] > 5) fail(`pickle protocol ${data[pos - 1]} is newer than 5`);
        break;
      case 0x95: // FRAME: a length hint only
        take(8, 'FRAME');
        break;
      case 0x2e: // STOP
        if (stack.length !== 1 || marks.length !== 0) fail(`STOP at byte ${pos - 1} leaves ${stack.length} values`);
        return stack[0];
      case 0x28: // MARK
        marks.push(stack);
        stack = [];
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new PyTuple([]));
        break;
      case 0x74: {
        // TUPLE (popMark first: it replaces `stack`)
        const items = popMark('TUPLE');
        stack.push(new PyTuple(items));
        break;
      }
      case 0x85: // TUPLE1
      case 0x86: // TUPLE2
      case 0x87: {
        // TUPLE3
        const n = op - 0x84;
        if (stack.length < n) fail(`TUPLE${n} at byte ${pos - 1} needs ${n} values`);
        stack.push(new PyTuple(stack.splice(stack.length - n, n)));
        break;
      }
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x61: {
        // APPEND
        const item = pop('APPEND');
        listAt('APPEND').push(item);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark('APPENDS');
        const list = listAt('APPENDS');
        for (const item of items) list.push(item);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x73: {
        // SETITEM
        const value = pop('SETITEM');
        const key = pop('SETITEM');
        setItem(dictAt('SETITEM'), key, value);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark('SETITEMS');
        if (items.length % 2 !== 0) fail(`SETITEMS at byte ${pos - 1} has an odd number of values`);
        const d = dictAt('SETITEMS');
        for (let i = 0; i < items.length; i += 2) setItem(d, items[i], items[i + 1]);
        break;
      }
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        need(4, 'BININT');
        stack.push(view.getInt32(pos, true));
        pos += 4;
        break;
      case 0x4b: // BININT1
        stack.push(take(1, 'BININT1')[0]);
        break;
      case 0x4d: // BININT2
        need(2, 'BININT2');
        stack.push(view.getUint16(pos, true));
        pos += 2;
        break;
      case 0x8a: {
        // LONG1: little-endian two's complement of n bytes
        const bytes = take(take(1, 'LONG1')[0], 'LONG1');
        let v = 0n;
        for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
        if (bytes.length > 0 && bytes[bytes.length - 1] & 0x80) v -= 1n << BigInt(8 * bytes.length);
        stack.push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        need(8, 'BINFLOAT');
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x58: // BINUNICODE
        need(4, 'BINUNICODE');
        pos += 4;
        stack.push(text(view.getUint32(pos - 4, true), 'BINUNICODE'));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(take(1, 'SHORT_BINUNICODE')[0], 'SHORT_BINUNICODE'));
        break;
      case 0x55: // SHORT_BINSTRING: Python 2 str, read as ASCII like torch.load's default
        stack.push(text(take(1, 'SHORT_BINSTRING')[0], 'SHORT_BINSTRING'));
        break;
      case 0x63: {
        // GLOBAL
        const module = line('GLOBAL module');
        stack.push(global(`${module}.${line('GLOBAL name')}`));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop('STACK_GLOBAL');
        const module = pop('STACK_GLOBAL');
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(global(`${module}.${name}`));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop('REDUCE');
        stack.push(reduce(pop('REDUCE'), args));
        break;
      }
      case 0x51: // BINPERSID
        stack.push(persistentLoad(pop('BINPERSID')));
        break;
      case 0x62: {
        // BUILD: only an OrderedDict's attributes (state_dict()'s _metadata), which a load does not need.
        const state = pop('BUILD');
        const target = top('BUILD');
        if (!(target instanceof Map)) fail(`BUILD at byte ${pos - 1} targets a ${describe(target)}; only dicts`);
        if (!(state instanceof Map) && !(state instanceof PyTuple)) fail(`BUILD state is a ${describe(state)}`);
        break;
      }
      case 0x71: // BINPUT
        memo.set(take(1, 'BINPUT')[0], top('BINPUT'));
        break;
      case 0x72: // LONG_BINPUT
        need(4, 'LONG_BINPUT');
        pos += 4;
        memo.set(view.getUint32(pos - 4, true), top('LONG_BINPUT'));
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top('MEMOIZE'));
        break;
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const long = op === 0x6a;
        need(long ? 4 : 1, 'BINGET');
        const index = long ? view.getUint32(pos, true) : data[pos];
        pos += long ? 4 : 1;
        if (!memo.has(index)) fail(`BINGET at byte ${pos - 1} reads memo ${index}, which was never stored`);
        stack.push(memo.get(index));
        break;
      }
      case 0x30: // POP
        pop('POP');
        break;
      case 0x31: // POP_MARK
        popMark('POP_MARK');
        break;
      default:
        fail(`unsupported opcode 0x${op.toString(16).padStart(2, '0')} at byte ${pos - 1}`);
    }
  }
}
