// Shared by the serve tests: a small run directory written by hand (resnet20 on 32×32 with synthetic weights, the
// layout `resnet train` writes), deterministic test images, and an HTTP client that copes with early answers.
import { mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import sharp from 'sharp';
import { makePreprocess } from '../../src/data/transforms.ts';
import { writeWeights } from '../../src/io/weights.ts';
import { buildModel } from '../../src/models/registry.ts';
import { type RunConfig, runFiles, writeRunConfig } from '../../src/train/runDir.ts';
import { loadSynthetic } from '../helpers.ts';

export const classes = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

/** A run directory for resnet20 (10 classes, cifar preprocessing at 32×32) with synthetic weights and a report. */
export async function makeRunDir(dir: string): Promise<RunConfig> {
  const config: RunConfig = {
    arch: 'resnet20',
    numClasses: classes.length,
    classes,
    inChannels: 3,
    preprocess: makePreprocess({ augment: 'cifar', imgSize: 32, inChannels: 3 }),
    train: { note: 'hand-made for the serve tests' },
  };
  writeRunConfig(dir, config);
  const model = buildModel(config.arch, { numClasses: config.numClasses });
  loadSynthetic(model);
  writeWeights(join(dir, runFiles.model), model.stateDict());
  const report = join(dir, runFiles.report);
  mkdirSync(report, { recursive: true });
  for (const [name, colour] of [
    ['curves.png', '#3060c0'],
    ['confusion.png', '#c06030'],
  ] as const) {
    await sharp({ create: { width: 320, height: 200, channels: 3, background: colour } })
      .png()
      .toFile(join(report, name));
  }
  return config;
}

/** A w×h RGB picture: a diagonal gradient with a bright disc, varied by `seed`. */
export async function testImage(seed: number, format: 'png' | 'jpeg', w = 48, h = 40): Promise<Buffer> {
  const data = Buffer.alloc(w * h * 3);
  const cx = (seed * 13) % w;
  const cy = (seed * 7) % h;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const disc = (x - cx) ** 2 + (y - cy) ** 2 < (w / 5) ** 2;
      const i = 3 * (y * w + x);
      data[i] = disc ? 250 : (x * 255) / w;
      data[i + 1] = disc ? 230 : ((y + seed * 9) * 255) / h;
      data[i + 2] = disc ? 40 : (seed * 37) % 256;
    }
  }
  const img = sharp(data, { raw: { width: w, height: h, channels: 3 } });
  return format === 'png' ? img.png().toBuffer() : img.jpeg({ quality: 90 }).toBuffer();
}

export function multipart(field: string, filename: string, type: string, data: Buffer): { body: Buffer; type: string } {
  const boundary = '----resnet-test-boundary-7d1f';
  const head = `--${boundary}\r\ncontent-disposition: form-data; name="note"\r\n\r\nhello\r\n--${boundary}\r\ncontent-disposition: form-data; name="${field}"; filename="${filename}"\r\ncontent-type: ${type}\r\n\r\n`;
  const body = Buffer.concat([Buffer.from(head), data, Buffer.from(`\r\n--${boundary}--\r\n`)]);
  return { body, type: `multipart/form-data; boundary=${boundary}` };
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  json: () => Record<string, unknown>;
}

/**
 * One request on its own connection. `chunked` sends the body in 64 KiB chunks without Content-Length. An answer
 * that arrives before the upload ends is still returned (the server may refuse early and cut the connection).
 */
export function send(
  base: string,
  path: string,
  {
    method = 'GET',
    body,
    type,
    chunked = false,
  }: { method?: string; body?: Buffer; type?: string; chunked?: boolean } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {};
    if (type) headers['content-type'] = type;
    if (body && !chunked) headers['content-length'] = body.length;
    let answered = false;
    const req = request(`${base}${path}`, { method, headers, agent: false }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const data = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: data,
          json: () => JSON.parse(data.toString('utf8')),
        });
      });
      res.on('error', reject);
    });
    req.on('error', (e) => {
      if (!answered) reject(e);
    });
    if (!body) {
      req.end();
      return;
    }
    if (!chunked) {
      req.end(body);
      return;
    }
    let offset = 0;
    const pump = () => {
      while (offset < body.length && !answered && !req.destroyed) {
        const chunk = body.subarray(offset, offset + (64 << 10));
        offset += chunk.length;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
      if (!req.destroyed) req.end();
    };
    pump();
  });
}
