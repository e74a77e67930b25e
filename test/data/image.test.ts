// decodeImage on every format and pixel layout it must handle, and the errors for files it must refuse.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { decodeImage, ImageDecodeError } from '../../src/data/image.ts';
import { fixturesDir } from '../helpers.ts';

const images = join(fixturesDir, 'images');
const tmp = mkdtempSync(join(tmpdir(), 'resnet-image-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const formats: [file: string, width: number, height: number][] = [
  ['rgb_37x23.png', 37, 23],
  ['gray_19x31.png', 19, 31],
  ['rgba_24x24.png', 24, 24],
  ['gray16_21x17.png', 21, 17],
  ['exif6_30x20.jpg', 20, 30], // stored 30×20, EXIF orientation 6 turns it
  ['rgb_40x30.jpg', 40, 30],
  ['photo_160x120.png', 160, 120],
  ['rgb_33x27.webp', 33, 27],
  ['rgb_26x22.tif', 26, 22],
  ['anim_25x18.gif', 25, 18],
];

for (const [file, width, height] of formats) {
  test(`decode ${file} → [${height}, ${width}, 3] and [${height}, ${width}, 1]`, async () => {
    const rgb = await decodeImage(join(images, file), { channels: 3 });
    assert.deepEqual([rgb.height, rgb.width, rgb.channels, rgb.data.length], [height, width, 3, height * width * 3]);
    const gray = await decodeImage(join(images, file), { channels: 1 });
    assert.deepEqual([gray.height, gray.width, gray.channels], [height, width, 1]);
    // One channel is PIL's convert('L') of the RGB decode.
    for (let i = 0; i < width * height; i++) {
      const [r, g, b] = [rgb.data[3 * i], rgb.data[3 * i + 1], rgb.data[3 * i + 2]];
      assert.equal(gray.data[i], (r * 19595 + g * 38470 + b * 7471 + 0x8000) >>> 16, `${file} pixel ${i}`);
    }
  });
}

test('gray PNG [31, 19] → RGB replicates the gray value', async () => {
  const rgb = await decodeImage(join(images, 'gray_19x31.png'), { channels: 3 });
  const gray = await decodeImage(join(images, 'gray_19x31.png'), { channels: 1 });
  for (let i = 0; i < 19 * 31; i++) {
    assert.deepEqual([...rgb.data.subarray(3 * i, 3 * i + 3)], [gray.data[i], gray.data[i], gray.data[i]]);
  }
});

test('RGBA [2, 2]: alpha is dropped without compositing, like PIL convert("RGB")', async () => {
  const rgba = [10, 20, 30, 0, 40, 50, 60, 128, 70, 80, 90, 255, 1, 2, 3, 4];
  const png = await sharp(Buffer.from(rgba), { raw: { width: 2, height: 2, channels: 4 } })
    .png()
    .toBuffer();
  const img = await decodeImage(png, { channels: 3 });
  assert.deepEqual([...img.data], [10, 20, 30, 40, 50, 60, 70, 80, 90, 1, 2, 3]);
});

test('16-bit PNG: gray [1, 4] and RGBA [1, 2] keep the top 8 bits', async () => {
  const g16 = Uint16Array.from([0, 0x1234, 0x80ff, 0xffff]);
  const gray = await sharp(g16, { raw: { width: 4, height: 1, channels: 1 } })
    .toColourspace('grey16')
    .png()
    .toBuffer();
  assert.equal((await sharp(gray).metadata()).depth, 'ushort');
  assert.deepEqual([...(await decodeImage(gray, { channels: 1 })).data], [0x00, 0x12, 0x80, 0xff]);
  const c16 = Uint16Array.from([0x0100, 0x2200, 0x33ff, 0, 0xfe00, 0x7f7f, 0x0101, 0xffff]);
  const color = await sharp(c16, { raw: { width: 2, height: 1, channels: 4 } })
    .toColourspace('rgb16')
    .png()
    .toBuffer();
  assert.deepEqual([...(await decodeImage(color, { channels: 3 })).data], [0x01, 0x22, 0x33, 0xfe, 0x7f, 0x01]);
});

test('EXIF orientation 6: stored row 0 becomes the last column', async () => {
  const stored = await sharp(join(images, 'exif6_30x20.jpg')).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([stored.info.width, stored.info.height], [30, 20]);
  const img = await decodeImage(join(images, 'exif6_30x20.jpg'), { channels: 3 });
  // Orientation 6 = rotate 90° clockwise: stored (x, y) goes to (H − 1 − y, x).
  for (const [x, y] of [
    [0, 0],
    [29, 0],
    [5, 19],
    [17, 11],
  ]) {
    const s = (y * 30 + x) * 3;
    const d = (x * 20 + (19 - y)) * 3;
    assert.deepEqual([...img.data.subarray(d, d + 3)], [...stored.data.subarray(s, s + 3)], `stored (${x}, ${y})`);
  }
});

for (const format of ['jpeg', 'tiff'] as const) {
  test(`CMYK ${format} [16, 16] → RGB close to the colours it was made from`, async () => {
    const colours = [
      [200, 80, 70],
      [90, 160, 100],
      [70, 90, 170],
      [230, 230, 230],
    ];
    // One colour per 8×8 quadrant, so that JPEG blocks do not mix them.
    const colourAt = (i: number) => colours[2 * Math.floor(i / 128) + Math.floor((i % 16) / 8)];
    const pixels = new Uint8Array(16 * 16 * 3);
    for (let i = 0; i < 256; i++) pixels.set(colourAt(i), 3 * i);
    const encoder = sharp(pixels, { raw: { width: 16, height: 16, channels: 3 } }).toColourspace('cmyk');
    const file = join(tmp, `cmyk.${format}`);
    await (format === 'jpeg' ? encoder.jpeg({ quality: 100 }) : encoder.tiff()).toFile(file);
    assert.equal((await sharp(file).metadata()).space, 'cmyk');
    const img = await decodeImage(file, { channels: 3 });
    assert.equal(img.channels, 3);
    // The ICC round trip through CMYK is not exact (these in-gamut colours come back within 16/255); an inverted
    // or channel-swapped CMYK read would be off by far more than 24.
    for (let i = 0; i < 256; i++) {
      const want = colourAt(i);
      for (let c = 0; c < 3; c++) {
        assert.ok(Math.abs(img.data[3 * i + c] - want[c]) <= 24, `pixel ${i}: ${img.data.subarray(3 * i, 3 * i + 3)}`);
      }
    }
  });
}

async function assertDecodeError(input: string | Uint8Array, file: string, reason: RegExp, maxPixels?: number) {
  await assert.rejects(
    decodeImage(input, { channels: 3, name: typeof input === 'string' ? undefined : file, maxPixels }),
    (err: unknown) => {
      assert.ok(err instanceof ImageDecodeError, `expected ImageDecodeError, got ${err}`);
      assert.equal(err.file, file);
      assert.ok(err.message.includes(file), err.message);
      assert.match(err.reason, reason);
      return true;
    },
  );
}

test('corrupt, truncated, empty and missing files → ImageDecodeError naming the file', async () => {
  const garbage = join(tmp, 'garbage.jpg');
  writeFileSync(garbage, Buffer.from('this is not an image at all, just some text'));
  await assertDecodeError(garbage, garbage, /unsupported image format/);
  const empty = join(tmp, 'empty.png');
  writeFileSync(empty, Buffer.alloc(0));
  await assertDecodeError(empty, empty, /./);
  await assertDecodeError(join(tmp, 'missing.png'), join(tmp, 'missing.png'), /missing/);
  for (const file of ['photo_160x120.png', 'rgb_40x30.jpg', 'rgb_33x27.webp']) {
    const bytes = readFileSync(join(images, file));
    const cut = join(tmp, `truncated_${file}`);
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    await assertDecodeError(cut, cut, /./);
  }
  await assertDecodeError(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]), 'upload.png', /./);
});

test('maxPixels: 160×120 = 19200 pixels is refused under a 19199 limit, before decoding', async () => {
  const file = join(images, 'photo_160x120.png');
  await assertDecodeError(file, file, /maxPixels limit of 19199/, 19199);
  const img = await decodeImage(file, { channels: 3, maxPixels: 19200 });
  assert.equal(img.width * img.height, 19200);
  // A PNG whose header claims 30000×30000 is refused from the header alone.
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(30000, 0);
  ihdr.writeUInt32BE(30000, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const chunk = (type: string, body: Buffer) => {
    const head = Buffer.alloc(4);
    head.writeUInt32BE(body.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([Buffer.from(type), body])));
    return Buffer.concat([head, Buffer.from(type), body, crc]);
  };
  const png = Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(100))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
  const meta = await sharp(png, { limitInputPixels: false }).metadata();
  assert.deepEqual([meta.width, meta.height], [30000, 30000]);
  await assertDecodeError(png, 'bomb.png', /maxPixels limit of 1000000/, 1_000_000);
});
