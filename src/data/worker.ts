// A loader worker thread: receives the cache's shared chunks and batch tasks, answers with transformed batches.
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { type BatchItem, type BatchSpec, runBatch } from './batch.ts';
import { type CacheRef, cachedImage } from './pixelCache.ts';

export type WorkerRequest =
  | { type: 'chunks'; chunks: SharedArrayBuffer[] }
  | { type: 'batch'; id: number; spec: BatchSpec; items: { index: number; path: string; ref?: CacheRef }[] };

export type WorkerReply =
  | ({ type: 'result'; id: number } & Awaited<ReturnType<typeof runBatch>>)
  | { type: 'error'; id: number; message: string; stack?: string };

if (!parentPort) throw new Error('src/data/worker.ts runs as a worker thread of DataLoader');
const port = parentPort;
// The lowest priority for this thread (Linux: nice is per thread, and /proc/thread-self names it). The training step
// keeps every core busy, and a thread of its pool that the scheduler sets aside for the loader holds up the others
// at the next barrier, so a share of a core taken by the loader cost the step about twice that. At nice 19 the
// loader runs in the step's gaps, and whenever the step waits for its batch. The first epoch, which decodes every
// image, ran 1–2% faster (resnet20 on the Fashion-MNIST subset, 7 runs each way); elsewhere nothing changes.
try {
  const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  if (tid > 0) setPriority(tid, 19);
} catch {
  // no /proc (macOS, Windows): the default priority
}
const chunks: SharedArrayBuffer[] = [];

port.on('message', async (msg: WorkerRequest) => {
  if (msg.type === 'chunks') {
    chunks.push(...msg.chunks);
    return;
  }
  try {
    const items: BatchItem[] = msg.items.map(({ index, path, ref }) => ({
      index,
      path,
      image: ref && cachedImage(chunks, ref),
    }));
    const out = await runBatch(items, msg.spec);
    const reply: WorkerReply = { type: 'result', id: msg.id, ...out };
    port.postMessage(reply, [out.x.buffer as ArrayBuffer]);
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    const reply: WorkerReply = { type: 'error', id: msg.id, message: e.message, stack: e.stack };
    port.postMessage(reply);
  }
});
