// The prediction server on node:http: routes, query parsing and limits in the main thread, inference in the worker
// pool, so the event loop stays free to answer /healthz while models load and batches run.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type RunConfig, readRunConfig, runFiles } from '../train/runDir.ts';
import {
  acceptedFormats,
  answerEarly,
  ClientGone,
  multipartField,
  RequestError,
  readBody,
  sendError,
  sendJson,
  sniffImage,
} from './http.ts';
import { InferencePool } from './pool.ts';
import type { PredictRequest } from './predictor.ts';

export interface ServeOptions {
  /** A run directory written by `resnet train`. */
  runDir: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  maxBodyBytes?: number;
  /** Inference worker threads, each with its own copy of the model. */
  concurrency?: number;
  /** Requests allowed to wait for a worker; more get 503. */
  maxQueue?: number;
  maxBatch?: number;
  batchWindowMs?: number;
  /** Receiving a request (headers and body) may take this long; a body may stall for a quarter of it. */
  timeoutMs?: number;
  /** Images with more pixels (read from the header) are refused before decoding. */
  maxPixels?: number;
}

export interface RunningServer {
  url: string;
  server: Server;
  pool: InferencePool;
  config: RunConfig;
  /** Settles when every worker has loaded the model; rejects with the load error. */
  ready: Promise<void>;
  close(): Promise<void>;
}

export const serveDefaults = {
  host: '127.0.0.1',
  port: 8080,
  maxBodyBytes: 16 << 20,
  concurrency: Math.min(2, availableParallelism()),
  maxQueue: 64,
  maxBatch: 8,
  batchWindowMs: 2,
  timeoutMs: 30_000,
  maxPixels: 50_000_000,
};

// src/serve/page from src/serve (tsx) and from dist/serve (compiled): the page ships as source, no build step.
const pageDir = fileURLToPath(new URL('../../src/serve/page/', import.meta.url));
const pageFiles: Record<string, [file: string, type: string]> = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/page.css': ['page.css', 'text/css; charset=utf-8'],
  '/page.js': ['page.js', 'text/javascript; charset=utf-8'],
};
const pageHeaders = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-cache',
};

/** The run's report PNGs: the training curves first, then the confusion matrix, then any others by name. */
function reportFiles(runDir: string): string[] {
  const dir = join(runDir, runFiles.report);
  if (!existsSync(dir)) return [];
  const rank = (f: string) => ['curves.png', 'confusion.png', f].indexOf(f);
  return readdirSync(dir)
    .filter((f) => /^[\w.-]+\.png$/.test(f))
    .sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : 1));
}

function predictQuery(url: URL, numClasses: number): Pick<PredictRequest, 'topk' | 'cam' | 'opacity'> {
  const q = url.searchParams;
  const topkText = q.get('topk');
  const topk = topkText === null ? 5 : Number(topkText);
  if (!Number.isInteger(topk) || topk < 1)
    throw new RequestError(400, `topk must be an integer ≥ 1, got "${topkText}"`);
  const camText = q.get('cam') ?? '0';
  if (!['0', '1', 'true', 'false'].includes(camText))
    throw new RequestError(400, `cam must be 0 or 1, got "${camText}"`);
  const opacityText = q.get('opacity');
  const opacity = opacityText === null ? 0.5 : Number(opacityText);
  if (!(opacity >= 0 && opacity <= 1)) throw new RequestError(400, `opacity must be in [0, 1], got "${opacityText}"`);
  return { topk: Math.min(topk, numClasses), cam: camText === '1' || camText === 'true', opacity };
}

/** The image bytes of a predict body: raw, or the `file` field of multipart/form-data. */
function imageBytes(body: Buffer, contentType: string): Uint8Array {
  const bytes = /^multipart\/form-data/i.test(contentType) ? multipartField(body, contentType, 'file').data : body;
  if (bytes.length === 0) {
    throw new RequestError(400, 'empty image: send the image bytes as the body, or multipart/form-data with a "file"');
  }
  if (!sniffImage(bytes)) {
    throw new RequestError(415, `the body is not an image in a supported format (${acceptedFormats})`);
  }
  // A copy in its own ArrayBuffer: it is transferred to a worker, and the body may share node's buffer pool.
  return new Uint8Array(bytes);
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const given = Object.entries(options).filter(([, v]) => v !== undefined);
  const o: Required<ServeOptions> = { ...serveDefaults, ...Object.fromEntries(given), runDir: options.runDir };
  const config = readRunConfig(o.runDir);
  const pages = Object.fromEntries(
    Object.entries(pageFiles).map(([path, [file, type]]) => [path, { body: readFileSync(join(pageDir, file)), type }]),
  );
  const pool = new InferencePool({
    runDir: o.runDir,
    maxPixels: o.maxPixels,
    workers: o.concurrency,
    maxBatch: o.maxBatch,
    maxQueue: o.maxQueue,
    batchWindowMs: o.batchWindowMs,
  });
  const started = Date.now();
  const bodyIdleMs = Math.max(Math.floor(o.timeoutMs / 4), 1);

  async function predict(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const t0 = performance.now();
    try {
      const query = predictQuery(url, config.numClasses);
      // Refused before the upload is read when the queue is already full; submit checks again after it.
      const busy = pool.refusal();
      if (busy) throw busy;
      const body = await readBody(req, o.maxBodyBytes, bodyIdleMs);
      const bytes = imageBytes(body, req.headers['content-type'] ?? '');
      const outcome = await pool.submit({ bytes, ...query });
      if (!outcome.ok) throw new RequestError(outcome.status, outcome.error);
      const { ok: _, ...answer } = outcome;
      sendJson(res, 200, { ...answer, ms: Math.round((performance.now() - t0) * 10) / 10 });
    } catch (e) {
      if (!(e instanceof RequestError)) throw e;
      answerEarly(req, res, e);
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      throw new RequestError(400, `cannot parse the request target "${req.url}"`);
    }
    const method = req.method ?? 'GET';
    const route = url.pathname;
    const allow = (methods: string) => {
      if (methods.split(', ').includes(method)) return true;
      answerEarly(req, res, new RequestError(405, `${route} accepts ${methods}`, { allow: methods }));
      return false;
    };
    if (route === '/v1/predict') {
      if (allow('POST')) await predict(req, res, url);
    } else if (route === '/healthz') {
      if (allow('GET')) {
        sendJson(res, 200, {
          status: 'ok',
          ready: pool.readyWorkers === o.concurrency,
          workers: { ready: pool.readyWorkers, busy: pool.busyWorkers, total: o.concurrency },
          queued: pool.queued,
          uptimeS: Math.round((Date.now() - started) / 1000),
        });
      }
    } else if (route === '/v1/model') {
      if (allow('GET')) {
        const { arch, numClasses, classes, inChannels, preprocess } = config;
        sendJson(res, 200, { arch, numClasses, classes, inChannels, preprocess, reports: reportFiles(o.runDir) });
      }
    } else if (route.startsWith('/v1/report/')) {
      if (!allow('GET')) return;
      const name = route.slice('/v1/report/'.length);
      // Only names listed in the report folder: nothing else on disk is reachable.
      if (!reportFiles(o.runDir).includes(name)) throw new RequestError(404, `no report image "${name}" in this run`);
      const png = readFileSync(join(o.runDir, runFiles.report, name));
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': png.length, 'cache-control': 'no-cache' });
      res.end(png);
    } else if (pages[route]) {
      if (!allow('GET')) return;
      const page = pages[route];
      res.writeHead(200, { 'content-type': page.type, 'content-length': page.body.length, ...pageHeaders });
      res.end(page.body);
    } else {
      answerEarly(req, res, new RequestError(404, `no route ${method} ${route}`));
    }
  }

  const server = createServer(
    {
      requestTimeout: o.timeoutMs,
      headersTimeout: o.timeoutMs,
      connectionsCheckingInterval: Math.min(30_000, Math.max(50, Math.floor(o.timeoutMs / 4))),
    },
    (req, res) => {
      handle(req, res).catch((e: unknown) => {
        if (e instanceof ClientGone) return;
        if (e instanceof RequestError) {
          answerEarly(req, res, e);
          return;
        }
        // A bug, not a bad request: answer 500 and keep serving.
        console.error(`resnet serve: ${req.method} ${req.url}: ${(e as Error).stack ?? e}`);
        if (res.headersSent) res.destroy();
        else sendError(res, new RequestError(500, `internal error: ${(e as Error).message}`));
      });
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  return {
    url: `http://${host}:${port}`,
    server,
    pool,
    config,
    ready: pool.ready,
    async close() {
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      await Promise.all([closed, pool.close()]);
    },
  };
}
