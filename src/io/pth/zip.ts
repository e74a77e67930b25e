// A ZIP reader for torch.save archives: validates the central directory, every size and offset against the file,
// and entry names, before it hands out any bytes. Stored entries are views; deflated ones are inflated, bounded.
import { crc32, inflateRawSync } from 'node:zlib';
import { type Fail, failer } from './error.ts';

export interface ZipEntry {
  name: string;
  method: 0 | 8;
  crc: number;
  compressedSize: number;
  size: number;
  /** Offset of the local file header. */
  headerOffset: number;
}

export interface ZipArchive {
  entries: Map<string, ZipEntry>;
  /** The entry's uncompressed bytes, checked against its size and CRC-32. */
  read(name: string): Uint8Array;
}

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
const EOCD_BYTES = 22;
const CENTRAL_BYTES = 46;
const LOCAL_BYTES = 30;
const MAX_COMMENT = 0xffff;
// Deflate cannot expand data by more than about 1032:1, so a larger claimed size is a lie, not a real entry.
const MAX_DEFLATE_RATIO = 1032;

/** Rejects names that could escape a directory if anyone ever extracted the archive. */
function checkEntryName(name: string): string | null {
  if (name === '') return 'is empty';
  if (name.includes('\0')) return 'contains a NUL byte';
  if (name.includes('\\')) return 'contains a backslash';
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return 'is an absolute path';
  if (name.split('/').some((part) => part === '..' || part === '.')) return 'contains a "." or ".." path segment';
  return null;
}

function u64(view: DataView, at: number, what: string, fail: Fail): number {
  const v = view.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${what} ${v} is too large`);
  return Number(v);
}

function findEndOfCentralDirectory(view: DataView, fail: Fail): number {
  const last = view.byteLength - EOCD_BYTES;
  for (let at = last; at >= 0 && at >= last - MAX_COMMENT; at--) {
    if (view.getUint32(at, true) === EOCD_SIG && at + EOCD_BYTES + view.getUint16(at + 20, true) === view.byteLength) {
      return at;
    }
  }
  return fail('not a zip archive (no end-of-central-directory record); torch.save writes zip files since 1.6');
}

/** Reads the central directory location, following the zip64 records where the 32-bit fields overflow. */
function directoryBounds(view: DataView, eocd: number, fail: Fail) {
  let count = view.getUint16(eocd + 10, true);
  let size = view.getUint32(eocd + 12, true);
  let offset = view.getUint32(eocd + 16, true);
  if (view.getUint16(eocd + 4, true) !== 0 || view.getUint16(eocd + 6, true) !== 0) {
    fail('multi-disk zip archives are not supported');
  }
  if (count === 0xffff || size === 0xffffffff || offset === 0xffffffff) {
    const locator = eocd - 20;
    if (locator < 0 || view.getUint32(locator, true) !== ZIP64_LOCATOR_SIG) fail('zip64 locator record is missing');
    const record = u64(view, locator + 8, 'zip64 record offset', fail);
    if (record + 56 > locator || view.getUint32(record, true) !== ZIP64_EOCD_SIG) {
      fail(`zip64 end-of-central-directory record at ${record} is missing or out of bounds`);
    }
    count = u64(view, record + 32, 'zip64 entry count', fail);
    size = u64(view, record + 40, 'zip64 directory size', fail);
    offset = u64(view, record + 48, 'zip64 directory offset', fail);
  }
  if (offset + size > eocd) fail(`central directory [${offset}, ${offset + size}) runs past its end record at ${eocd}`);
  // Each entry needs at least its fixed header, so the count cannot exceed what the directory can hold.
  if (count * CENTRAL_BYTES > size) fail(`central directory of ${size} bytes cannot hold ${count} entries`);
  return { count, size, offset };
}

/** Sizes and offset from the zip64 extra field, for the 32-bit fields that are saturated. */
function applyZip64Extra(
  view: DataView,
  extraStart: number,
  extraEnd: number,
  fields: { size: number; compressedSize: number; headerOffset: number },
  where: string,
  fail: Fail,
): void {
  let at = extraStart;
  while (at + 4 <= extraEnd) {
    const id = view.getUint16(at, true);
    const length = view.getUint16(at + 2, true);
    const end = at + 4 + length;
    if (end > extraEnd) fail(`${where}: extra field runs past the entry`);
    if (id === 0x0001) {
      let p = at + 4;
      for (const key of ['size', 'compressedSize', 'headerOffset'] as const) {
        if (fields[key] !== 0xffffffff) continue;
        if (p + 8 > end) fail(`${where}: zip64 extra field is too short`);
        fields[key] = u64(view, p, `${where}: zip64 ${key}`, fail);
        p += 8;
      }
    }
    at = end;
  }
}

export function readZip(bytes: Uint8Array, label: string): ZipArchive {
  const fail: Fail = failer(label);
  if (bytes.length < EOCD_BYTES) fail(`file is ${bytes.length} bytes, too short for a zip archive`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const eocd = findEndOfCentralDirectory(view, fail);
  const dir = directoryBounds(view, eocd, fail);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const entries = new Map<string, ZipEntry>();
  let at = dir.offset;
  const dirEnd = dir.offset + dir.size;
  for (let i = 0; i < dir.count; i++) {
    const where = `zip entry ${i}`;
    if (at + CENTRAL_BYTES > dirEnd || view.getUint32(at, true) !== CENTRAL_SIG) {
      fail(`${where}: bad central directory header at offset ${at}`);
    }
    const flags = view.getUint16(at + 8, true);
    const method = view.getUint16(at + 10, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    const next = at + CENTRAL_BYTES + nameLength + extraLength + commentLength;
    if (next > dirEnd) fail(`${where}: header runs past the central directory`);
    let name: string;
    try {
      name = decoder.decode(bytes.subarray(at + CENTRAL_BYTES, at + CENTRAL_BYTES + nameLength));
    } catch {
      fail(`${where}: name is not valid UTF-8`);
    }
    const named = `zip entry ${JSON.stringify(name)}`;
    const bad = checkEntryName(name);
    if (bad) fail(`${named}: name ${bad}`);
    if (entries.has(name)) fail(`${named} appears twice`);
    if (flags & 1) fail(`${named} is encrypted`);
    if (method !== 0 && method !== 8)
      fail(`${named} uses compression method ${method}; only stored and deflate are read`);
    const fields = {
      size: view.getUint32(at + 24, true),
      compressedSize: view.getUint32(at + 20, true),
      headerOffset: view.getUint32(at + 42, true),
    };
    const extraStart = at + CENTRAL_BYTES + nameLength;
    applyZip64Extra(view, extraStart, extraStart + extraLength, fields, named, fail);
    if (method === 0 && fields.size !== fields.compressedSize) {
      fail(`${named} is stored but its sizes differ (${fields.compressedSize} vs ${fields.size})`);
    }
    if (method === 8 && fields.size > fields.compressedSize * MAX_DEFLATE_RATIO + 64) {
      fail(
        `${named} claims ${fields.size} bytes from ${fields.compressedSize} deflated bytes, more than deflate allows`,
      );
    }
    if (fields.headerOffset + LOCAL_BYTES > dir.offset) fail(`${named}: local header lies outside the archive data`);
    entries.set(name, { name, method, crc: view.getUint32(at + 16, true), ...fields });
    at = next;
  }

  const dataStart = (e: ZipEntry): number => {
    const named = `zip entry ${JSON.stringify(e.name)}`;
    if (view.getUint32(e.headerOffset, true) !== LOCAL_SIG) fail(`${named}: bad local header signature`);
    const start = e.headerOffset + LOCAL_BYTES + view.getUint16(e.headerOffset + 26, true);
    const begin = start + view.getUint16(e.headerOffset + 28, true);
    if (begin + e.compressedSize > dir.offset) {
      fail(`${named}: data [${begin}, ${begin + e.compressedSize}) runs into the central directory at ${dir.offset}`);
    }
    return begin;
  };

  return {
    entries,
    read(name: string): Uint8Array {
      const e = entries.get(name);
      if (!e) return fail(`zip entry ${JSON.stringify(name)} is missing`);
      const begin = dataStart(e);
      const raw = bytes.subarray(begin, begin + e.compressedSize);
      let data = raw;
      if (e.method === 8) {
        try {
          data = inflateRawSync(raw, { maxOutputLength: Math.max(1, e.size) });
        } catch (error) {
          fail(`zip entry ${JSON.stringify(name)}: cannot inflate (${(error as Error).message})`);
        }
      }
      if (data.length !== e.size) fail(`zip entry ${JSON.stringify(name)} holds ${data.length} bytes, not ${e.size}`);
      if (crc32(data) !== e.crc) fail(`zip entry ${JSON.stringify(name)}: CRC-32 mismatch (corrupt data)`);
      return data;
    },
  };
}
