// The inference pool: N worker threads, each holding the model, fed from one bounded queue. Requests that arrive
// together leave the queue as one batch (up to maxBatch); past maxQueue waiting, submit refuses with 503.
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { RequestError } from './http.ts';
import type { PredictOutcome, PredictRequest } from './predictor.ts';

export interface WorkerData {
  runDir: string;
  maxPixels: number;
}
export interface WorkerMessage {
  id: number;
  requests: PredictRequest[];
}
export type WorkerReply =
  | { type: 'ready' }
  | { type: 'loadError'; message: string }
  | { type: 'result'; id: number; outcomes: PredictOutcome[] };

export interface PoolOptions extends WorkerData {
  workers: number;
  maxBatch: number;
  maxQueue: number;
  /** How long the first request of a batch waits for others while a worker is idle. */
  batchWindowMs: number;
}

interface Job {
  request: PredictRequest;
  resolve: (outcome: PredictOutcome) => void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  /** The batch in flight on this worker, if any. */
  batch: Job[] | null;
  batchId: number;
}

/**
 * Starts the worker module from source under tsx (the thread must register tsx's loader itself: loaders given with
 * --import do not reach worker threads on Node 20) or from the compiled dist/ next to this file.
 */
function startWorker(data: WorkerData): Worker {
  const self = fileURLToPath(import.meta.url);
  if (!self.endsWith('.ts')) return new Worker(new URL('./worker.js', import.meta.url), { workerData: data });
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const entry = JSON.stringify(new URL('./worker.ts', import.meta.url).href);
  return new Worker(`import(${tsx}).then((api) => { api.register(); return import(${entry}); });`, {
    eval: true,
    workerData: data,
  });
}

export class InferencePool {
  /** Settles when every worker has loaded the model, or rejects with the first load error. */
  readonly ready: Promise<void>;
  /** Batches sent, and requests in them: their ratio is the mean batch size. */
  readonly stats = { batches: 0, requests: 0, crashes: 0 };
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextBatchId = 1;
  private windowTimer: NodeJS.Timeout | null = null;
  private closing = false;
  private settleReady!: (error?: Error) => void;

  constructor(private readonly opts: PoolOptions) {
    this.ready = new Promise((resolve, reject) => {
      this.settleReady = (error) => (error ? reject(error) : resolve());
    });
    // A server that never becomes ready still has its error reported through `ready`; this keeps it handled.
    this.ready.catch(() => {});
    for (let i = 0; i < opts.workers; i++) this.slots.push(this.spawn());
  }

  get readyWorkers(): number {
    return this.slots.filter((s) => s.ready).length;
  }

  get queued(): number {
    return this.queue.length;
  }

  get busyWorkers(): number {
    return this.slots.filter((s) => s.batch).length;
  }

  /** The 503 a new request would get now (queue full, or shutting down), or null. */
  refusal(): RequestError | null {
    if (this.closing) return new RequestError(503, 'the server is shutting down');
    if (this.queue.length < this.opts.maxQueue) return null;
    return new RequestError(503, `busy: ${this.queue.length} requests are already waiting`, { 'retry-after': '1' });
  }

  /** Queues one request; refuses with refusal()'s 503 when maxQueue requests are already waiting. */
  submit(request: PredictRequest): Promise<PredictOutcome> {
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    return new Promise((resolve) => {
      this.queue.push({ request, resolve });
      this.schedule();
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.windowTimer) clearTimeout(this.windowTimer);
    const refused = { ok: false as const, status: 503, error: 'the server is shutting down' };
    for (const job of this.queue.splice(0)) job.resolve(refused);
    for (const slot of this.slots) for (const job of slot.batch ?? []) job.resolve(refused);
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private spawn(): Slot {
    const slot: Slot = {
      worker: startWorker({ runDir: this.opts.runDir, maxPixels: this.opts.maxPixels }),
      ready: false,
      batch: null,
      batchId: 0,
    };
    slot.worker.on('message', (m: WorkerReply) => this.onMessage(slot, m));
    slot.worker.on('error', (e) => this.onExit(slot, e.message));
    slot.worker.on('exit', (code) => this.onExit(slot, `exit code ${code}`));
    return slot;
  }

  private onMessage(slot: Slot, m: WorkerReply): void {
    if (m.type === 'ready') {
      slot.ready = true;
      if (this.slots.every((s) => s.ready)) this.settleReady();
      this.dispatch();
    } else if (m.type === 'loadError') {
      this.settleReady(new Error(m.message));
    } else if (m.id === slot.batchId && slot.batch) {
      const batch = slot.batch;
      slot.batch = null;
      for (const [i, job] of batch.entries()) job.resolve(m.outcomes[i]);
      // Whatever queued meanwhile has waited long enough: it goes out as the next batch now.
      this.dispatch();
    }
  }

  /** A worker that dies fails its batch with 500 and is replaced, so one bad moment does not shrink the pool. */
  private onExit(slot: Slot, reason: string): void {
    const index = this.slots.indexOf(slot);
    if (index < 0 || this.closing) return;
    const wasReady = slot.ready;
    this.slots.splice(index, 1);
    for (const job of slot.batch ?? []) {
      job.resolve({ ok: false, status: 500, error: `the inference worker stopped (${reason})` });
    }
    slot.worker.removeAllListeners();
    void slot.worker.terminate();
    this.stats.crashes++;
    if (!wasReady) {
      this.settleReady(new Error(`an inference worker stopped while loading the model (${reason})`));
      return;
    }
    this.slots.push(this.spawn());
  }

  /** Sends a batch to an idle worker now if one is full, else after the batch window. */
  private schedule(): void {
    if (this.queue.length === 0 || this.closing) return;
    if (this.queue.length >= this.opts.maxBatch || this.opts.batchWindowMs <= 0) {
      this.dispatch();
      return;
    }
    this.windowTimer ??= setTimeout(() => {
      this.windowTimer = null;
      this.dispatch();
    }, this.opts.batchWindowMs);
  }

  private dispatch(): void {
    if (this.closing) return;
    for (const slot of this.slots) {
      if (this.queue.length === 0) break;
      if (!slot.ready || slot.batch) continue;
      const batch = this.queue.splice(0, this.opts.maxBatch);
      slot.batch = batch;
      slot.batchId = this.nextBatchId++;
      this.stats.batches++;
      this.stats.requests += batch.length;
      const requests = batch.map((j) => j.request);
      slot.worker.postMessage(
        { id: slot.batchId, requests } satisfies WorkerMessage,
        requests.map((r) => r.bytes.buffer as ArrayBuffer),
      );
    }
  }
}
