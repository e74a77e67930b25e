// resnet serve: the prediction server and its page for a trained run, until SIGINT or SIGTERM.
import { serveDefaults, startServer } from '../serve/server.ts';
import { applyThreads, optionalInt, optionalNumber, parse, requireString } from './args.ts';

const usage =
  'resnet serve --model RUN_DIR [--host 127.0.0.1] [--port 8080] [--max-body-mb 16] [--concurrency N] [--queue 64] [--max-batch 8] [--timeout-ms 30000] [--max-pixels 50000000] [--threads T]';

export async function serveCommand(argv: string[]): Promise<void> {
  const { values } = parse(
    argv,
    {
      model: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      'max-body-mb': { type: 'string' },
      concurrency: { type: 'string' },
      queue: { type: 'string' },
      'max-batch': { type: 'string' },
      'timeout-ms': { type: 'string' },
      'max-pixels': { type: 'string' },
      threads: { type: 'string' },
    },
    usage,
  );
  applyThreads(values);
  const runDir = requireString(values, 'model', usage);
  const maxBodyMb = optionalNumber(values, 'max-body-mb', { min: 0.001, max: 4096 });
  const t0 = Date.now();
  const running = await startServer({
    runDir,
    host: typeof values.host === 'string' ? values.host : undefined,
    port: optionalInt(values, 'port', 0),
    maxBodyBytes: maxBodyMb === undefined ? undefined : Math.round(maxBodyMb * 2 ** 20),
    concurrency: optionalInt(values, 'concurrency'),
    maxQueue: optionalInt(values, 'queue', 0),
    maxBatch: optionalInt(values, 'max-batch'),
    timeoutMs: optionalInt(values, 'timeout-ms'),
    maxPixels: optionalInt(values, 'max-pixels'),
  });
  const { arch, numClasses } = running.config;
  const workers = optionalInt(values, 'concurrency') ?? serveDefaults.concurrency;
  console.error(`resnet serve: ${arch} (${numClasses} classes) from ${runDir} on ${running.url}`);
  const stopped = new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      console.error(`resnet serve: ${signal}, closing`);
      void running.close().then(resolve);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  try {
    await running.ready;
  } catch (e) {
    await running.close();
    throw e;
  }
  console.error(`resnet serve: ${workers} worker${workers === 1 ? '' : 's'} ready in ${Date.now() - t0} ms`);
  await stopped;
}
