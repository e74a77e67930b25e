// The prediction server end to end on loopback with a resnet20 run on 32×32: each endpoint, each refusal with its
// status, answers equal to in-process inference, slow clients, the 503 queue limit, and a 200-request mixed load
// at concurrency 16 while /healthz keeps answering. Probabilities are compared to 1e-5 absolute.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { noGrad } from '../../src/autograd/tape.ts';
import { heatmapRgb } from '../../src/explain/camImage.ts';
import { gradCam } from '../../src/explain/gradcam.ts';
import { multipartField, sniffImage } from '../../src/serve/http.ts';
import { type RunningServer, startServer } from '../../src/serve/server.ts';
import type { Tensor } from '../../src/tensor/tensor.ts';
import { softmax } from '../../src/train/metrics.ts';
import { loadForModel } from '../../src/train/predict.ts';
import { loadRun } from '../../src/train/runDir.ts';
import { fixturesDir } from '../helpers.ts';
import { makeRunDir, multipart, type Reply, send, testImage } from './helpers.ts';

const work = mkdtempSync(join(tmpdir(), 'resnet-serve-'));
const runDir = join(work, 'run');
const limit = 256 << 10;
let server: RunningServer;
const images: Buffer[] = [];
/** The preprocessed input and softmax probabilities of each test image, computed in this thread. */
const inputs = new Map<Buffer, Tensor>();
const expected: Float64Array[] = [];

before(async () => {
  await makeRunDir(runDir);
  server = await startServer({
    runDir,
    port: 0,
    concurrency: 2,
    maxBodyBytes: limit,
    maxPixels: 1_000_000,
    timeoutMs: 2000,
  });
  const { config, model } = loadRun(runDir);
  for (let seed = 0; seed < 6; seed++) {
    const img = await testImage(seed, seed % 2 === 0 ? 'png' : 'jpeg');
    const x = await loadForModel(img, config);
    images.push(img);
    inputs.set(img, x);
    expected.push(softmax(noGrad(() => model.forward(x)).data, config.numClasses));
  }
  await server.ready;
});
after(async () => {
  await server?.close();
  rmSync(work, { recursive: true, force: true });
});

const post = (path: string, body: Buffer, type = 'image/png', chunked = false) =>
  send(server.url, path, { method: 'POST', body, type, chunked });

function assertPrediction(reply: Reply, image: number, topk = 5): void {
  assert.equal(reply.status, 200, reply.body.toString());
  const top = reply.json().top as { class: string; index: number; prob: number }[];
  const probs = expected[image];
  const order = [...probs.keys()].sort((a, b) => probs[b] - probs[a]).slice(0, topk);
  assert.deepEqual(
    top.map((t) => t.index),
    order,
  );
  for (const t of top) {
    assert.ok(
      Math.abs(t.prob - probs[t.index]) < 1e-5,
      `image ${image} class ${t.index}: ${t.prob} vs ${probs[t.index]}`,
    );
    assert.equal(t.class, server.config.classes[t.index]);
  }
}

/** Raw bytes on a fresh connection; resolves with what came back once a full header block arrived, or at close. */
function talk(text: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(Number(new URL(server.url).port), '127.0.0.1', () => socket.write(text));
    let reply = '';
    // The answer comes before the close: the server lingers on the connection to let the client read it.
    socket.on('data', (d) => {
      reply += d;
      if (reply.includes('\r\n\r\n')) {
        socket.destroy();
        resolve(reply);
      }
    });
    socket.on('close', () => resolve(reply));
    socket.on('error', () => {});
  });
}

/** A PNG whose header claims w×h (CRC fixed up) but whose data is a tiny image's: a decompression bomb's header. */
async function bombPng(w: number, h: number): Promise<Buffer> {
  const png = Buffer.from(
    await sharp({ create: { width: 8, height: 8, channels: 3, background: '#000' } })
      .png()
      .toBuffer(),
  );
  png.writeUInt32BE(w, 16);
  png.writeUInt32BE(h, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
  return png;
}

describe('resnet serve endpoints', () => {
  test('GET /healthz and /v1/model describe a ready resnet20 with 10 classes and its report images', async () => {
    const health = (await send(server.url, '/healthz')).json();
    assert.equal(health.status, 'ok');
    assert.equal(health.ready, true);
    const model = (await send(server.url, '/v1/model')).json();
    assert.equal(model.arch, 'resnet20');
    assert.deepEqual(model.classes, server.config.classes);
    assert.equal((model.preprocess as { imgSize: number }).imgSize, 32);
    assert.deepEqual(model.reports, ['curves.png', 'confusion.png']);
  });

  test('GET /v1/report/curves.png is the run PNG; other names are 404', async () => {
    const png = await send(server.url, '/v1/report/curves.png');
    assert.equal(png.status, 200);
    assert.equal(png.headers['content-type'], 'image/png');
    assert.equal((await sharp(png.body).metadata()).width, 320);
    assert.equal((await send(server.url, '/v1/report/..%2Fconfig.json')).status, 404);
    assert.equal((await send(server.url, '/v1/report/model.safetensors')).status, 404);
  });

  test('GET / serves the page and its script and style', async () => {
    const page = await send(server.url, '/');
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /text\/html/);
    assert.match(page.body.toString(), /<script type="module" src="\/page.js">/);
    assert.equal((await send(server.url, '/page.js')).status, 200);
    assert.equal((await send(server.url, '/page.css')).status, 200);
  });

  test('POST /v1/predict raw PNG and JPEG [48×40] → top-5 equal to in-process softmax', async () => {
    assertPrediction(await post('/v1/predict', images[0]), 0);
    assertPrediction(await post('/v1/predict', images[1], 'image/jpeg'), 1);
    assertPrediction(await post('/v1/predict', images[2], 'application/octet-stream'), 2);
  });

  test('POST /v1/predict multipart/form-data "file" field → same answer as raw', async () => {
    const form = multipart('file', 'cat.png', 'image/png', images[3]);
    assertPrediction(await post('/v1/predict', form.body, form.type), 3);
    const other = multipart('image', 'cat.png', 'image/png', images[3]);
    const missing = await post('/v1/predict', other.body, other.type);
    assert.equal(missing.status, 400);
    assert.match(String(missing.json().error), /no "file" field/);
  });

  test('?topk=3 gives 3 classes, ?topk=99 all 10, ?topk=0 and ?cam=yes are 400', async () => {
    assertPrediction(await post('/v1/predict?topk=3', images[4]), 4, 3);
    assertPrediction(await post('/v1/predict?topk=99', images[4]), 4, 10);
    assert.equal((await post('/v1/predict?topk=0', images[4])).status, 400);
    assert.equal((await post('/v1/predict?cam=yes', images[4])).status, 400);
  });

  test('?cam=1 adds 32×32 PNG data URLs; the heat map matches in-process Grad-CAM within 2 levels', async () => {
    const reply = await post('/v1/predict?cam=1&opacity=0.7', images[5]);
    assertPrediction(reply, 5);
    const answer = reply.json() as Record<string, string | number>;
    const top = (answer.top as unknown as { index: number }[])[0].index;
    assert.equal(answer.camIndex, top);
    const png = (url: string) => {
      assert.match(url, /^data:image\/png;base64,/);
      return Buffer.from(url.slice(url.indexOf(',') + 1), 'base64');
    };
    for (const key of ['cam', 'heatmap', 'view']) {
      const meta = await sharp(png(answer[key] as string)).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], ['png', 32, 32], key);
    }
    const { model } = loadRun(runDir);
    const map = gradCam(model, inputs.get(images[5])!);
    assert.equal(map.classIndex, top);
    const want = heatmapRgb(map, 32, 32);
    const got = (
      await sharp(png(answer.heatmap as string))
        .raw()
        .toBuffer({ resolveWithObject: true })
    ).data;
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(want[i] - got[i]));
    assert.ok(worst <= 2, `heat map differs by ${worst} levels`);
  });

  test('refusals: garbage 415, truncated PNG/JPEG 422, empty 400, bomb header 413, with messages', async () => {
    const garbage = await post('/v1/predict', Buffer.from('{"not": "an image"}'), 'application/json');
    assert.equal(garbage.status, 415);
    assert.match(String(garbage.json().error), /not an image in a supported format/);
    for (const img of [images[0], images[1]]) {
      const cut = await post('/v1/predict', img.subarray(0, Math.floor(img.length / 2)));
      assert.equal(cut.status, 422, cut.body.toString());
      assert.match(String(cut.json().error), /cannot (decode|read)/);
    }
    assert.equal((await post('/v1/predict', Buffer.alloc(0))).status, 400);
    const bomb = await post('/v1/predict', await bombPng(30_000, 30_000));
    assert.equal(bomb.status, 413);
    assert.match(String(bomb.json().error), /30000×30000 = 900000000 pixels, over the server's limit of 1000000/);
  });

  test('oversized bodies get 413 with Content-Length and chunked without it; the server keeps serving', async () => {
    const big = Buffer.concat([images[0], Buffer.alloc(limit + 1000)]);
    const announced = await post('/v1/predict', big);
    assert.equal(announced.status, 413);
    assert.match(String(announced.json().error), new RegExp(`limit of ${limit} bytes`));
    const chunked = await post('/v1/predict', Buffer.alloc(4 * limit), 'image/png', true);
    assert.equal(chunked.status, 413);
    assertPrediction(await post('/v1/predict', images[0]), 0);
  });

  test('unknown routes 404, wrong methods 405 with Allow, malformed HTTP 400', async () => {
    assert.equal((await send(server.url, '/nope')).status, 404);
    assert.equal((await send(server.url, '/v1/report/%E0%A4%A')).status, 404);
    assert.match(await talk('NOT HTTP AT ALL\r\n\r\n'), /^HTTP\/1.1 400/);
    assert.match(await talk('POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n'), /^HTTP\/1.1 400/);
    const wrong = await send(server.url, '/v1/predict');
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.allow, 'POST');
  });

  test('a body that stalls gets 408 after the idle timeout (timeoutMs/4 = 500 ms); headers that stall are cut', async () => {
    const t0 = Date.now();
    const body = await talk('POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789');
    assert.match(body, /^HTTP\/1.1 408/);
    assert.ok(Date.now() - t0 < 1900, `answered after ${Date.now() - t0} ms`);
    const headers = await talk('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    assert.match(headers, /^HTTP\/1.1 408/);
    assert.equal((await send(server.url, '/healthz')).status, 200);
  });
});

describe('resnet serve with one worker', () => {
  let small: RunningServer;
  before(async () => {
    small = await startServer({ runDir, port: 0, concurrency: 1, maxQueue: 1, maxBatch: 1 });
  });
  after(() => small.close());

  test('/healthz answers while loading; maxQueue 1, batches of 1: the overflow of 12 requests is 503 + Retry-After', async () => {
    // The worker takes about a second to load the model; the event loop answers meanwhile.
    const loading = (await send(small.url, '/healthz')).json();
    assert.deepEqual([loading.status, loading.ready], ['ok', false]);
    await small.ready;
    const replies = await Promise.all(
      Array.from({ length: 12 }, () =>
        send(small.url, '/v1/predict?cam=1', { method: 'POST', body: images[0], type: 'image/png' }),
      ),
    );
    const busy = replies.filter((r) => r.status === 503);
    assert.ok(busy.length >= 1, `statuses ${replies.map((r) => r.status)}`);
    for (const r of busy) assert.equal(r.headers['retry-after'], '1');
    for (const r of replies.filter((r) => r.status !== 503)) assertPrediction(r, 0);
  });

  test('a worker that dies mid-batch fails that request with 500, is replaced, and the next request is answered', async () => {
    const pending = send(small.url, '/v1/predict?cam=1', { method: 'POST', body: images[1], type: 'image/png' });
    while (small.pool.busyWorkers === 0) await new Promise((resolve) => setImmediate(resolve));
    const slots = (small.pool as unknown as { slots: { worker: Worker }[] }).slots;
    await slots[0].worker.terminate();
    const failed = await pending;
    assert.equal(failed.status, 500);
    assert.match(String(failed.json().error), /inference worker stopped/);
    assert.equal((await send(small.url, '/healthz')).status, 200);
    assertPrediction(await send(small.url, '/v1/predict', { method: 'POST', body: images[1], type: 'image/png' }), 1);
    assert.equal(small.pool.stats.crashes, 1);
  });
});

describe('resnet serve under load', () => {
  test('200 requests at concurrency 16 (valid, oversized, garbage, truncated) while /healthz answers', async (t) => {
    type Kind = 'png' | 'jpeg' | 'multipart' | 'cam' | 'oversized' | 'chunked' | 'garbage' | 'truncated';
    const kinds: Kind[] = [
      'png',
      'jpeg',
      'multipart',
      'cam',
      'png',
      'oversized',
      'chunked',
      'garbage',
      'truncated',
      'png',
    ];
    const want: Record<Kind, number> = {
      png: 200,
      jpeg: 200,
      multipart: 200,
      cam: 200,
      oversized: 413,
      chunked: 413,
      garbage: 415,
      truncated: 422,
    };
    const statsBefore = { ...server.pool.stats };
    let healthChecks = 0;
    let healthWorst = 0;
    let loading = true;
    const health = (async () => {
      while (loading) {
        const t0 = performance.now();
        const r = await send(server.url, '/healthz');
        assert.equal(r.status, 200);
        healthWorst = Math.max(healthWorst, performance.now() - t0);
        healthChecks++;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const latencies: number[] = [];
    const counts: Record<string, number> = {};
    let next = 0;
    const t0 = performance.now();
    async function client(): Promise<void> {
      while (next < 200) {
        const i = next++;
        const kind = kinds[i % kinds.length];
        const image = i % images.length;
        const start = performance.now();
        let reply: Reply;
        if (kind === 'multipart') {
          const form = multipart('file', 'x.png', 'image/png', images[image]);
          reply = await post('/v1/predict', form.body, form.type);
        } else if (kind === 'oversized') {
          reply = await post('/v1/predict', Buffer.concat([images[image], Buffer.alloc(limit)]));
        } else if (kind === 'chunked') {
          reply = await post('/v1/predict', Buffer.alloc(2 * limit, 7), 'image/png', true);
        } else if (kind === 'garbage') {
          reply = await post('/v1/predict', Buffer.from(`garbage ${i} `.repeat(50)), 'image/png');
        } else if (kind === 'truncated') {
          reply = await post('/v1/predict', images[image].subarray(0, 100 + (i % 300)));
        } else {
          reply = await post(kind === 'cam' ? '/v1/predict?cam=1' : '/v1/predict', images[image]);
        }
        latencies.push(performance.now() - start);
        assert.equal(reply.status, want[kind], `request ${i} (${kind}): ${reply.body.toString().slice(0, 200)}`);
        if (want[kind] === 200) assertPrediction(reply, image);
        else assert.equal(typeof reply.json().error, 'string');
        counts[kind] = (counts[kind] ?? 0) + 1;
      }
    }
    await Promise.all(Array.from({ length: 16 }, client));
    const seconds = (performance.now() - t0) / 1000;
    loading = false;
    await health;
    latencies.sort((a, b) => a - b);
    const batches = server.pool.stats.batches - statsBefore.batches;
    const batched = server.pool.stats.requests - statsBefore.requests;
    assert.ok(healthChecks >= 3, `only ${healthChecks} health checks ran`);
    assert.equal(server.pool.stats.crashes, 0);
    t.diagnostic(
      `200 requests in ${seconds.toFixed(2)} s (${(200 / seconds).toFixed(0)} req/s), latency p50 ${latencies[100].toFixed(0)} ms p99 ${latencies[197].toFixed(0)} ms; ` +
        `${batched} images in ${batches} batches (mean ${(batched / batches).toFixed(2)}); /healthz ${healthChecks}× worst ${healthWorst.toFixed(0)} ms; ${JSON.stringify(counts)}`,
    );
  });
});

describe('serve helpers', () => {
  test('sniffImage knows the formats by their first bytes, not SVG or text', async () => {
    assert.equal(sniffImage(images[0]), 'png');
    assert.equal(sniffImage(images[1]), 'jpeg');
    assert.equal(sniffImage(await sharp(images[0]).webp().toBuffer()), 'webp');
    assert.equal(sniffImage(await sharp(images[0]).gif().toBuffer()), 'gif');
    assert.equal(sniffImage(await sharp(images[0]).tiff().toBuffer()), 'tiff');
    assert.equal(sniffImage(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>')), null);
  });

  test('multipartField: quoted boundary, the named part, truncated bodies', () => {
    const form = multipart('file', 'a.png', 'image/png', Buffer.from('\r\n--not-the-boundary\r\nPNG'));
    const quoted = form.type.replace(/boundary=(.*)$/, 'boundary="$1"');
    const part = multipartField(form.body, quoted, 'file');
    assert.equal(part.data.toString(), '\r\n--not-the-boundary\r\nPNG');
    assert.equal(part.filename, 'a.png');
    assert.throws(() => multipartField(form.body.subarray(0, 150), form.type, 'file'), /truncated/);
    assert.throws(() => multipartField(form.body, 'multipart/form-data', 'file'), /without a boundary/);
  });
});

describe('resnet serve CLI', () => {
  const cli = (args: string[]) => {
    const child = spawn(process.execPath, [
      '--import',
      'tsx',
      join(fixturesDir, '..', '..', 'src/cli/main.ts'),
      'serve',
      ...args,
    ]);
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const waitFor = (pattern: RegExp) =>
      new Promise<RegExpMatchArray>((resolve, reject) => {
        const check = () => {
          const m = stderr.match(pattern);
          if (m) resolve(m);
        };
        check();
        child.stderr.on('data', check);
        exited.then(() => reject(new Error(`exited before ${pattern}: ${stderr}`)));
      });
    return { child, exited, waitFor, stderr: () => stderr };
  };

  test('--port 0: prints its URL, answers /healthz and a prediction, exits 0 on SIGTERM', async () => {
    const run = cli(['--model', runDir, '--port', '0', '--concurrency', '1']);
    const url = (await run.waitFor(/on (http:\/\/\S+)/))[1];
    assert.equal((await send(url, '/healthz')).status, 200);
    await run.waitFor(/1 worker ready/);
    assertPrediction(await send(url, '/v1/predict', { method: 'POST', body: images[0], type: 'image/png' }), 0);
    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 0, run.stderr());
  });

  test('a folder that is not a run exits 1 naming its config.json', async () => {
    const run = cli(['--model', work, '--port', '0']);
    assert.equal(await run.exited, 1);
    assert.match(run.stderr(), /config\.json not found: is this a run directory/);
  });
});
