// `resnet demo --quick`: the README's first command, shortened for CI (24 images per class, 1 epoch).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { resnet } from '../helpers.ts';

const work = mkdtempSync(join(tmpdir(), 'resnet-demo-'));
after(() => rmSync(work, { recursive: true, force: true }));

test('demo --quick: builds the shapes folder, trains, evaluates, predicts and says where the report is', () => {
  const r = resnet('demo', '--quick', '--out', work);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /validation accuracy \d+\.\d% on 40 images/);
  assert.match(r.stdout, /predictions on one held-out image per class/);
  const report = join(work, 'run', 'report', 'summary.md');
  assert.ok(r.stdout.includes(`report: ${report}`), r.stdout);
  for (const f of ['curves.png', 'confusion.png']) assert.ok(existsSync(join(work, 'run', 'report', f)), f);
});
