// A ZIP writer laid out as torch.save lays out its archives: stored entries whose data starts on a 64-byte
// boundary (padding in the local extra field), so that readers can map storages straight from the file.
import { crc32 } from 'node:zlib';
import { PthError } from './error.ts';

const ALIGN = 64;
const LOCAL_BYTES = 30;
const CENTRAL_BYTES = 46;
const EOCD_BYTES = 22;
// Extra field id that torch's writer (miniz) uses for its alignment padding.
const PADDING_ID = 0x4246;

export function writeZip(files: [name: string, data: Uint8Array][], label: string): Uint8Array {
  const encoder = new TextEncoder();
  const layout: { nameBytes: Uint8Array; data: Uint8Array; offset: number; padding: number; crc: number }[] = [];
  let offset = 0;
  for (const [name, data] of files) {
    const nameBytes = encoder.encode(name);
    const unpadded = offset + LOCAL_BYTES + nameBytes.length;
    // A padding field needs its own 4-byte header, so the smallest padding is 4 bytes.
    let padding = (ALIGN - ((unpadded + 4) % ALIGN)) % ALIGN;
    padding += 4;
    layout.push({ nameBytes, data, offset, padding, crc: crc32(data) });
    offset = unpadded + padding + data.length;
  }
  const directoryOffset = offset;
  const directorySize = layout.reduce((n, e) => n + CENTRAL_BYTES + e.nameBytes.length, 0);
  const total = directoryOffset + directorySize + EOCD_BYTES;
  if (total > 0xffffffff || files.length > 0xffff) {
    throw new PthError(`${label}: ${total} bytes in ${files.length} entries need zip64, which is not written`);
  }
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  const header = (at: number, e: (typeof layout)[number], central: boolean) => {
    view.setUint32(at, central ? 0x02014b50 : 0x04034b50, true);
    let p = at + 4;
    if (central) {
      view.setUint16(p, 20, true); // version made by
      p += 2;
    }
    view.setUint16(p, 20, true); // version needed
    view.setUint16(p + 2, 0, true); // flags
    view.setUint16(p + 4, 0, true); // stored
    view.setUint16(p + 6, 0, true); // time
    view.setUint16(p + 8, 0x21, true); // date: 1980-01-01
    view.setUint32(p + 10, e.crc, true);
    view.setUint32(p + 14, e.data.length, true);
    view.setUint32(p + 18, e.data.length, true);
    view.setUint16(p + 22, e.nameBytes.length, true);
    view.setUint16(p + 24, central ? 0 : e.padding, true);
    if (central) view.setUint32(at + 42, e.offset, true);
    out.set(e.nameBytes, at + (central ? CENTRAL_BYTES : LOCAL_BYTES));
  };
  for (const e of layout) {
    header(e.offset, e, false);
    const extra = e.offset + LOCAL_BYTES + e.nameBytes.length;
    view.setUint16(extra, PADDING_ID, true);
    view.setUint16(extra + 2, e.padding - 4, true);
    out.set(e.data, extra + e.padding);
  }
  let at = directoryOffset;
  for (const e of layout) {
    header(at, e, true);
    at += CENTRAL_BYTES + e.nameBytes.length;
  }
  view.setUint32(at, 0x06054b50, true);
  view.setUint16(at + 8, layout.length, true);
  view.setUint16(at + 10, layout.length, true);
  view.setUint32(at + 12, directorySize, true);
  view.setUint32(at + 16, directoryOffset, true);
  return out;
}
