// The plain-PNG decoder (src/data/png.ts) against sharp on the same bytes: every scanline filter, every colour type it
// takes, split image data; the files it leaves to sharp; and the damaged files it must refuse. Exact: pixels are bytes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { decodeImage } from '../../src/data/image.ts';
import { decodePlainPng, isPng, PngError } from '../../src/data/png.ts';
import { Generator } from '../../src/tensor/random.ts';

const SAMPLES: Record<number, number> = { 0: 1, 2: 3, 4: 2, 6: 4 };

function chunk(type: string, body: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(body.length);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), body])));
  return Buffer.concat([head, body, crc]);
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

interface Encoding {
  /** The filter of scanline y: filters[y % filters.length]. */
  filters?: number[];
  /** The deflated data split into this many IDAT chunks. */
  idatParts?: number;
  /** Chunks [type, body] written between IHDR and IDAT. */
  extra?: [string, Uint8Array][];
  end?: boolean;
}

/** An 8-bit PNG of `pixels` (HWC, samples per pixel by colour type), each scanline with the filter asked for. */
function encodePng(width: number, height: number, colour: number, pixels: Uint8Array, enc: Encoding = {}): Buffer {
  const { filters = [0, 1, 2, 3, 4], idatParts = 1, extra = [], end = true } = enc;
  const bpp = SAMPLES[colour];
  const stride = width * bpp;
  const raw = new Uint8Array(height * (stride + 1));
  for (let y = 0; y < height; y++) {
    const f = filters[y % filters.length];
    raw[y * (stride + 1)] = f;
    for (let i = 0; i < stride; i++) {
      const x = pixels[y * stride + i];
      const a = i >= bpp ? pixels[y * stride + i - bpp] : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + i] : 0;
      const c = y > 0 && i >= bpp ? pixels[(y - 1) * stride + i - bpp] : 0;
      const predictor = [0, a, b, (a + b) >>> 1, paeth(a, b, c)][f] ?? 0;
      raw[y * (stride + 1) + 1 + i] = (x - predictor) & 0xff;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, colour, 0, 0, 0], 8);
  const z = deflateSync(raw);
  const cuts = Array.from({ length: idatParts + 1 }, (_, i) => Math.floor((z.length * i) / idatParts));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    ...extra.map(([type, body]) => chunk(type, body)),
    ...cuts.slice(1).map((cut, i) => chunk('IDAT', z.subarray(cuts[i], cut))),
    ...(end ? [chunk('IEND', new Uint8Array(0))] : []),
  ]);
}

/** Samples in [0, levels): small values make Paeth's ties (left 3, above 0, corner 2), where its preference order shows. */
function randomPixels(count: number, seed: number, levels = 256): Uint8Array {
  const g = new Generator(seed);
  return Uint8Array.from({ length: count }, () => Math.floor(g.random() * levels));
}

/** sharp's decode of the same file as decodeImage asks for it (alpha dropped, sRGB): what it returned before png.ts. */
async function sharpDecode(png: Buffer): Promise<Uint8Array> {
  return new Uint8Array(await sharp(png).removeAlpha().toColourspace('srgb').raw().toBuffer());
}

for (const [colour, name] of [
  [0, 'gray'],
  [2, 'RGB'],
  [4, 'gray + alpha'],
  [6, 'RGBA'],
] as const) {
  for (const [width, height] of [
    [13, 7],
    [1, 1],
    [40, 6], // samples 0–4, and 3 IDAT chunks
  ]) {
    test(`8-bit ${name} [${height}, ${width}], scanline filters 0–4 → the same bytes as sharp`, async () => {
      const bpp = SAMPLES[colour];
      const pixels = randomPixels(width * height * bpp, 100 * colour + width, width === 40 ? 5 : 256);
      const png = encodePng(width, height, colour, pixels, { idatParts: width === 40 ? 3 : 1 });
      assert.ok(isPng(png));
      const got = decodePlainPng(png, 1e9);
      assert.ok(got, 'decoded here, not left to sharp');
      const keep = bpp === 2 || bpp === 4 ? bpp - 1 : bpp;
      assert.deepEqual([got.width, got.height, got.channels], [width, height, keep === 1 ? 1 : 3]);
      const expected = new Uint8Array(width * height * keep);
      for (let p = 0; p < width * height; p++) {
        for (let s = 0; s < keep; s++) expected[p * keep + s] = pixels[p * bpp + s];
      }
      assert.deepEqual(got.data, expected);
      // sharp's sRGB output replicates gray into three channels.
      const rgb =
        keep === 3 ? got.data : Uint8Array.from({ length: 3 * got.data.length }, (_, i) => got.data[(i / 3) | 0]);
      assert.deepEqual(rgb, await sharpDecode(png));
    });
  }
}

test('decodeImage on an RGB PNG [9, 11]: the one-channel form is PIL luma of the fast decode, as through sharp', async () => {
  const pixels = randomPixels(9 * 11 * 3, 7);
  const png = encodePng(11, 9, 2, pixels);
  const gray = await decodeImage(png, { channels: 1, name: 'x.png' });
  for (let i = 0; i < 99; i++) {
    const [r, g, b] = pixels.subarray(3 * i, 3 * i + 3);
    assert.equal(gray.data[i], (r * 19595 + g * 38470 + b * 7471 + 0x8000) >>> 16, `pixel ${i}`);
  }
});

test('PNGs left to sharp: 16-bit, palette, interlaced, ICC profile, EXIF, animated → null, and decodeImage still reads them', async () => {
  const rgb = randomPixels(6 * 5 * 3, 3);
  const raw = { raw: { width: 6, height: 5, channels: 3 as const } };
  const cases: [string, Buffer][] = [
    ['16-bit', await sharp(Buffer.from(rgb), raw).toColourspace('rgb16').png().toBuffer()],
    ['palette', await sharp(Buffer.from(rgb), raw).png({ palette: true }).toBuffer()],
    ['interlaced', await sharp(Buffer.from(rgb), raw).png({ progressive: true }).toBuffer()],
    ['ICC profile', await sharp(Buffer.from(rgb), raw).withIccProfile('srgb').png().toBuffer()],
  ];
  for (const [label, png] of cases) {
    assert.equal(decodePlainPng(png, 1e9), null, label);
    const img = await decodeImage(png, { channels: 3, name: `${label}.png` });
    assert.deepEqual([img.width, img.height], [6, 5], label);
  }
  for (const type of ['eXIf', 'acTL']) {
    assert.equal(decodePlainPng(encodePng(6, 5, 2, rgb, { extra: [[type, new Uint8Array(8)]] }), 1e9), null, type);
  }
  // Chunks with nothing to apply (physical size, text) do not send the file away.
  assert.ok(decodePlainPng(encodePng(6, 5, 2, rgb, { extra: [['pHYs', new Uint8Array(9)]] }), 1e9));
});

test('damaged PNGs [5, 6] → PngError saying what is wrong; decodeImage names the file', async () => {
  const pixels = randomPixels(5 * 6 * 3, 11);
  const good = encodePng(6, 5, 2, pixels);
  const refuse = (png: Uint8Array, reason: RegExp, maxPixels = 1e9) =>
    assert.throws(
      () => decodePlainPng(png, maxPixels),
      (e: unknown) => e instanceof PngError && reason.test(e.message),
    );
  const flipped = Buffer.from(good);
  flipped[good.length - 20] ^= 0x40; // inside IDAT
  refuse(flipped, /IDAT fails its CRC check/);
  refuse(encodePng(6, 5, 2, pixels, { end: false }), /no IEND/);
  refuse(good.subarray(0, good.length - 30), /truncated PNG/);
  refuse(encodePng(6, 5, 2, pixels, { filters: [5] }), /unknown filter type 5/);
  refuse(good, /maxPixels limit of 29/, 29);
  assert.ok(decodePlainPng(good, 30));
  // Image data that inflates to less than the header promises.
  const short = Buffer.from(good);
  short.writeUInt32BE(6, 20); // IHDR height 5 → 6, CRC fixed below
  short.writeUInt32BE(crc32(short.subarray(12, 29)), 29);
  refuse(short, /image data ends early/);
  await assert.rejects(
    decodeImage(flipped, { channels: 3, name: 'upload.png' }),
    /cannot decode image upload\.png: .*CRC/,
  );
});
