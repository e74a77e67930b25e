// Classification metrics on hand-checked cases (exact), and the report's PNGs and summary.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { ClassificationMeter, countCorrect, softmax, topK } from '../../src/train/metrics.ts';
import { writeReport } from '../../src/train/report.ts';

// 4 images, 3 classes: predictions 0, 1, 1, 2 for labels 0, 1, 2, 2.
const logits = Float32Array.from([3, 1, 0, 0, 2, 1, 0, 5, 4, 1, 0, 9]);
const labels = [0, 1, 2, 2];

test('topK orders by value, ties by index; softmax rows sum to 1 (logits [4,3])', () => {
  assert.deepEqual(topK(logits, 3, 2, 3), [1, 2, 0]);
  assert.deepEqual(topK(Float32Array.from([1, 1, 1]), 3, 0, 2), [0, 1]);
  const p = softmax(Float32Array.from([1000, 1000, 0]), 3);
  assert.ok(Math.abs(p[0] - 0.5) < 1e-12 && p[2] < 1e-300 + 1e-12);
});

test('meter: top-1, top-5, confusion and per-class precision/recall/F1 (sklearn conventions)', () => {
  const m = new ClassificationMeter(3);
  m.add(logits, labels);
  const r = m.report();
  assert.equal(r.count, 4);
  assert.equal(r.top1, 0.75);
  assert.equal(r.top5, 1);
  assert.deepEqual(r.confusion, [
    [1, 0, 0],
    [0, 1, 0],
    [0, 1, 1],
  ]);
  assert.deepEqual(
    r.perClass.map((c) => [c.precision, c.recall, c.support]),
    [
      [1, 1, 1],
      [0.5, 1, 1],
      [1, 0.5, 2],
    ],
  );
  assert.ok(Math.abs(r.perClass[1].f1 - 2 / 3) < 1e-12);
  assert.equal(countCorrect(logits, 3, labels), 3);
});

test('writeReport: curves.png and confusion.png are real PNGs, summary.md names the best epoch', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'resnet-report-'));
  const m = new ClassificationMeter(3);
  m.add(logits, labels);
  const epochs = [1, 2, 3].map((epoch) => ({
    epoch,
    train_loss: 1 / epoch,
    train_acc: 0.5 + epoch / 10,
    val_loss: 1.2 / epoch,
    val_acc: epoch === 2 ? 0.9 : 0.6,
    lr: 0.1,
    sec: 1,
    img_per_s: 100,
  }));
  const out = await writeReport(dir, 'resnet20', ['circle', 'square', 'triangle'], epochs, m.report());
  for (const f of ['curves.png', 'confusion.png']) {
    const meta = await sharp(join(out, f)).metadata();
    assert.equal(meta.format, 'png', f);
    assert.ok((meta.width ?? 0) > 200, `${f} width ${meta.width}`);
  }
  const summary = readFileSync(join(out, 'summary.md'), 'utf8');
  assert.match(summary, /Best validation accuracy 90\.00% at epoch 2/);
  assert.match(summary, /\| triangle \| 1\.000 \| 0\.500 \|/);
});
