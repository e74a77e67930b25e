// How training talks while it runs: a redrawn progress bar on a terminal, plain lines in a log, or JSON lines for
// programs (--json). All three receive the same events.

export interface StepEvent {
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  loss: number;
  acc: number;
  imgPerS: number;
  etaS: number;
}

export type Reporter = {
  step(e: StepEvent): void;
  epoch(record: Record<string, number>): void;
  info(message: string): void;
  done(): void;
};

const clock = (s: number) => {
  if (!Number.isFinite(s)) return '--:--';
  const t = Math.max(0, Math.round(s));
  const h = Math.floor(t / 3600);
  const mm = String(Math.floor((t % 3600) / 60)).padStart(2, '0');
  const ss = String(t % 60).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
};

const stepLine = (e: StepEvent) =>
  `epoch ${e.epoch}/${e.epochs} step ${e.step}/${e.steps} loss ${e.loss.toFixed(4)} acc ${(e.acc * 100).toFixed(1)}% ${e.imgPerS.toFixed(0)} img/s ETA ${clock(e.etaS)}`;

const epochLine = (r: Record<string, number>) =>
  `epoch ${r.epoch}: train loss ${r.train_loss.toFixed(4)} acc ${(r.train_acc * 100).toFixed(2)}% | val loss ${r.val_loss.toFixed(4)} acc ${(r.val_acc * 100).toFixed(2)}% | lr ${r.lr.toExponential(2)} | ${r.sec.toFixed(1)} s, ${r.img_per_s.toFixed(0)} img/s`;

export function makeReporter(
  mode: 'bar' | 'lines' | 'json' | 'quiet',
  out: NodeJS.WriteStream = process.stderr,
): Reporter {
  if (mode === 'json') {
    const emit = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
    let lastStep = 0;
    return {
      step: (e) => {
        // A line every ~2 s keeps logs useful without flooding them.
        const now = Date.now();
        if (now - lastStep < 2000 && e.step !== e.steps) return;
        lastStep = now;
        emit({ event: 'step', ...e });
      },
      epoch: (r) => emit({ event: 'epoch', ...r }),
      info: (message) => emit({ event: 'info', message }),
      done: () => {},
    };
  }
  if (mode === 'bar') {
    let drawn = false;
    const clear = () => {
      if (drawn) out.write('\r\x1b[2K');
      drawn = false;
    };
    return {
      step: (e) => {
        const width = 24;
        const filled = Math.round((e.step / e.steps) * width);
        const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
        out.write(`\r\x1b[2K${bar} ${stepLine(e)}`);
        drawn = true;
      },
      epoch: (r) => {
        clear();
        out.write(`${epochLine(r)}\n`);
      },
      info: (message) => {
        clear();
        out.write(`${message}\n`);
      },
      done: clear,
    };
  }
  let lastLine = 0;
  return {
    step: (e) => {
      if (mode === 'quiet') return;
      const now = Date.now();
      if (now - lastLine < 10_000) return;
      lastLine = now;
      out.write(`${stepLine(e)}\n`);
    },
    epoch: (r) => mode !== 'quiet' && out.write(`${epochLine(r)}\n`),
    info: (message) => mode !== 'quiet' && out.write(`${message}\n`),
    done: () => {},
  };
}
