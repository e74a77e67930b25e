// DataLoader: batches of normalised image tensors, decoded and augmented in worker threads ahead of the training
// step, with decoded pixels cached in shared memory, and the same batches for a given seed whatever the workers.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { Generator } from '../tensor/random.ts';
import { Tensor } from '../tensor/tensor.ts';
import { type BatchItem, type BatchOutput, type BatchSpec, epochSeed, runBatch } from './batch.ts';
import { defaultMaxPixels, ImageDecodeError } from './image.ts';
import type { Sample } from './imageFolder.ts';
import { PixelCache } from './pixelCache.ts';
import type { Preprocess } from './transforms.ts';
import type { WorkerReply, WorkerRequest } from './worker.ts';

export interface Batch {
  /** [B, C, S, S], normalised. */
  x: Tensor;
  labels: Int32Array;
  paths: string[];
  /** Dataset indices of the samples. */
  indices: number[];
}

export interface LoaderOptions {
  batchSize: number;
  preprocess: Preprocess;
  /** Reshuffle every epoch (default false). */
  shuffle?: boolean;
  /** Training augmentation (trainTransform) instead of evalTransform (default false). */
  train?: boolean;
  seed?: number;
  /** Worker threads; 0 decodes and transforms in this thread. Default: cores − 1, at least 1. */
  workers?: number;
  /** Keep decoded pixels for later epochs (default true), up to cacheBytes (default 1 GiB). */
  cacheDecoded?: boolean;
  cacheBytes?: number;
  /** Throw an ImageDecodeError at the first unreadable image instead of skipping it. */
  strictImages?: boolean;
  maxPixels?: number;
}

interface Task {
  resolve: (out: BatchOutput) => void;
  reject: (err: Error) => void;
}

interface LoaderWorker {
  worker: Worker;
  inFlight: Map<number, Task>;
  chunksSent: number;
}

const workerUrl = new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url);

/** Starts a worker; from TypeScript sources (tsx), tsx's loader is registered in the thread first. */
function startWorker(): Worker {
  if (!workerUrl.pathname.endsWith('.ts')) return new Worker(workerUrl);
  const tsx = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(workerUrl.href)}); })`;
  return new Worker(code, { eval: true });
}

export class DataLoader {
  readonly samples: readonly Sample[];
  readonly batchSize: number;
  readonly workers: number;
  /** Images that could not be decoded: path → reason. Each is skipped in every epoch; reporting them is the caller's. */
  readonly skipped = new Map<string, string>();
  private readonly opts: Required<Omit<LoaderOptions, 'workers' | 'batchSize'>>;
  private readonly cache: PixelCache | null;
  private readonly bad = new Set<number>();
  private pool: LoaderWorker[] = [];
  private nextId = 0;
  /** A timer that keeps the event loop alive while worker replies or a close() are awaited (see hold()). */
  private keepAlive: NodeJS.Timeout | null = null;
  private holds = 0;

  constructor(samples: readonly Sample[], opts: LoaderOptions) {
    if (!(Number.isInteger(opts.batchSize) && opts.batchSize > 0)) {
      throw new Error(`batchSize must be a positive integer, got ${opts.batchSize}`);
    }
    const workers = opts.workers ?? Math.max(1, availableParallelism() - 1);
    if (!(Number.isInteger(workers) && workers >= 0)) throw new Error(`workers must be an integer ≥ 0, got ${workers}`);
    this.samples = samples;
    this.batchSize = opts.batchSize;
    this.workers = workers;
    this.opts = {
      preprocess: opts.preprocess,
      shuffle: opts.shuffle ?? false,
      train: opts.train ?? false,
      seed: opts.seed ?? 0,
      cacheDecoded: opts.cacheDecoded ?? true,
      cacheBytes: opts.cacheBytes ?? 2 ** 30,
      strictImages: opts.strictImages ?? false,
      maxPixels: opts.maxPixels ?? defaultMaxPixels,
    };
    this.cache = this.opts.cacheDecoded ? new PixelCache(this.opts.cacheBytes) : null;
  }

  /** Batches per epoch, the last one possibly smaller (fewer still if images are skipped). */
  get length(): number {
    return Math.ceil(this.samples.length / this.batchSize);
  }

  /** Decoded images held in the cache, and their bytes. */
  get cached(): { images: number; bytes: number } {
    return { images: this.cache?.size ?? 0, bytes: this.cache?.bytes ?? 0 };
  }

  /** The sample order of epoch e: shuffled by (seed, e), or the dataset order. */
  order(e: number): number[] {
    const order = Array.from(this.samples, (_, i) => i);
    return this.opts.shuffle ? new Generator(epochSeed(this.opts.seed, e)).shuffle(order) : order;
  }

  /**
   * The batches of epoch e, prepared a few batches ahead. `startBatch` skips the first batches without decoding
   * them (resuming mid-epoch): the rest are the same as in a full pass.
   */
  async *epoch(e: number, startBatch = 0): AsyncGenerator<Batch> {
    const order = this.order(e);
    const batches: number[][] = [];
    for (let i = 0; i < order.length; i += this.batchSize) batches.push(order.slice(i, i + this.batchSize));
    const spec: BatchSpec = {
      train: this.opts.train,
      preprocess: this.opts.preprocess,
      seed: this.opts.seed,
      epoch: e,
      maxPixels: this.opts.maxPixels,
      keepDecoded: this.cache !== null,
    };
    const depth = Math.max(2, 2 * this.workers);
    // Batches dispatched and not yet yielded; each leaves the map when yielded, so memory stays at `depth` batches.
    const pending = new Map<number, { indices: number[]; out: Promise<BatchOutput> }>();
    let next = startBatch;
    for (let b = startBatch; b < batches.length; b++) {
      for (; next < Math.min(batches.length, b + depth); next++) {
        const indices = batches[next].filter((i) => !this.bad.has(i));
        const out = this.run(indices, spec);
        out.catch(() => {}); // awaited in order below; an abandoned epoch must not leave it unhandled
        pending.set(next, { indices, out });
      }
      const { indices, out } = pending.get(b)!;
      pending.delete(b);
      const batch = this.collect(indices, await out);
      if (batch) yield batch;
    }
  }

  /** Stops the worker threads (they also let the process exit while idle). */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = [];
    this.hold();
    try {
      await Promise.all(pool.map((w) => w.worker.terminate()));
    } finally {
      this.release();
    }
  }

  private collect(indices: number[], out: BatchOutput): Batch | null {
    for (const { position, reason } of out.failed) {
      const index = indices[position];
      const path = this.samples[index].path;
      if (this.opts.strictImages) throw new ImageDecodeError(path, reason);
      this.bad.add(index);
      this.skipped.set(path, reason);
    }
    if (this.cache) for (const { position, image } of out.decoded) this.cache.put(indices[position], image);
    if (out.ok.length === 0) return null;
    const p = this.opts.preprocess;
    const batchIndices = out.ok.map((position) => indices[position]);
    return {
      x: new Tensor(out.x, [out.ok.length, p.inChannels, p.imgSize, p.imgSize]),
      labels: Int32Array.from(batchIndices, (i) => this.samples[i].label),
      paths: batchIndices.map((i) => this.samples[i].path),
      indices: batchIndices,
    };
  }

  private run(indices: number[], spec: BatchSpec): Promise<BatchOutput> {
    if (this.workers === 0) {
      const items: BatchItem[] = indices.map((index) => ({
        index,
        path: this.samples[index].path,
        image: this.cache?.get(index),
      }));
      return runBatch(items, spec);
    }
    if (this.pool.length === 0) this.pool = Array.from({ length: this.workers }, () => this.spawn());
    const w = this.pool.reduce((a, b) => (b.inFlight.size < a.inFlight.size ? b : a));
    const chunks = this.cache?.chunks ?? [];
    if (chunks.length > w.chunksSent) {
      const msg: WorkerRequest = { type: 'chunks', chunks: chunks.slice(w.chunksSent) };
      w.worker.postMessage(msg);
      w.chunksSent = chunks.length;
    }
    const id = this.nextId++;
    const items = indices.map((index) => ({ index, path: this.samples[index].path, ref: this.cache?.ref(index) }));
    const msg: WorkerRequest = { type: 'batch', id, spec, items };
    return new Promise<BatchOutput>((resolve, reject) => {
      if (w.inFlight.size === 0) w.worker.ref();
      this.hold();
      w.inFlight.set(id, { resolve, reject });
      w.worker.postMessage(msg);
    });
  }

  /**
   * Idle workers are unref'd so that they never keep a finished program alive. While a reply or a terminate() is
   * awaited, a timer keeps the event loop alive instead: a ref'd worker alone did not always (CI saw the loop
   * drain with a batch in flight and the test runner cancel the rest of the file).
   */
  private hold(): void {
    if (this.holds++ === 0) this.keepAlive = setInterval(() => {}, 1 << 30);
  }

  private release(): void {
    if (--this.holds === 0 && this.keepAlive) {
      clearInterval(this.keepAlive);
      this.keepAlive = null;
    }
  }

  private spawn(): LoaderWorker {
    const w: LoaderWorker = { worker: startWorker(), inFlight: new Map(), chunksSent: 0 };
    w.worker.unref();
    const settle = (id: number): Task | undefined => {
      const task = w.inFlight.get(id);
      if (!task) return undefined;
      w.inFlight.delete(id);
      this.release();
      if (w.inFlight.size === 0) w.worker.unref();
      return task;
    };
    w.worker.on('message', (reply: WorkerReply) => {
      const task = settle(reply.id);
      if (!task) return;
      if (reply.type === 'result') task.resolve(reply);
      else task.reject(Object.assign(new Error(`data loader worker: ${reply.message}`), { stack: reply.stack }));
    });
    const fail = (err: Error) => {
      for (const id of [...w.inFlight.keys()]) settle(id)?.reject(err);
      this.pool = this.pool.filter((p) => p !== w);
    };
    w.worker.on('error', (err) => fail(new Error(`data loader worker failed: ${err.message}`)));
    w.worker.on('exit', (code) => fail(new Error(`data loader worker exited with code ${code}`)));
    return w;
  }
}

/** A warning line for skipped images: the count, then the first few paths with their reasons; '' when none. */
export function describeSkipped(skipped: ReadonlyMap<string, string>, first = 5): string {
  if (skipped.size === 0) return '';
  const listed = [...skipped].slice(0, first).map(([path, reason]) => `${path} (${reason})`);
  const more = skipped.size > first ? `, and ${skipped.size - first} more` : '';
  return `skipped ${skipped.size} unreadable image${skipped.size > 1 ? 's' : ''}: ${listed.join(', ')}${more}`;
}
