// One inference worker thread: loads the run's model once, then answers one batch at a time for the pool.
import { parentPort, workerData } from 'node:worker_threads';
import { loadRun } from '../train/runDir.ts';
import type { WorkerData, WorkerMessage, WorkerReply } from './pool.ts';
import { Predictor } from './predictor.ts';

const port = parentPort!;
const { runDir, maxPixels } = workerData as WorkerData;
const reply = (m: WorkerReply) => port.postMessage(m);

let predictor: Predictor | undefined;
try {
  const { config, model } = loadRun(runDir);
  predictor = new Predictor(model, config, maxPixels);
  predictor.warmUp();
  reply({ type: 'ready' });
} catch (e) {
  reply({ type: 'loadError', message: (e as Error).message });
}

if (predictor) {
  const ready = predictor;
  port.on('message', async (m: WorkerMessage) => {
    reply({ type: 'result', id: m.id, outcomes: await ready.predict(m.requests) });
  });
}
