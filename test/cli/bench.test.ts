// resnet bench's contract: with --json the last line is an object with the throughput and memory fields.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { fixturesDir } from '../helpers.ts';

const root = join(fixturesDir, '..', '..');

function resnet(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), ...args], {
    cwd: root,
    encoding: 'utf8',
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('bench --arch resnet20 --batch 2 --size 16 --mode train --iters 1 --json: last line has the fields', () => {
  const r = resnet(
    'bench',
    '--arch',
    'resnet20',
    '--batch',
    '2',
    '--size',
    '16',
    '--mode',
    'train',
    '--iters',
    '1',
    '--json',
  );
  assert.equal(r.code, 0, r.stderr);
  const last = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '');
  assert.equal(last.arch, 'resnet20');
  assert.equal(last.mode, 'train');
  assert.equal(last.batch, 2);
  assert.equal(last.size, 16);
  for (const field of ['img_per_s', 'ms_per_iter', 'peak_rss_mb', 'threads', 'alloc_mb_per_iter']) {
    assert.equal(typeof last[field], 'number', `${field} in ${r.stdout}`);
    assert.ok(last[field] >= 0, `${field} = ${last[field]}`);
  }
  assert.ok(last.img_per_s > 0 && last.peak_rss_mb > 0);
  assert.equal(typeof last.backend, 'string');
});

test('bench --arch resnet20 --batch 1 --size 8 --mode infer --iters 1 --profile: times the compiled kernel calls', () => {
  const args = ['bench', '--arch', 'resnet20', '--batch', '1', '--size', '8', '--mode', 'infer', '--iters', '1'];
  const fused = resnet(...args, '--profile');
  assert.equal(fused.code, 0, fused.stderr);
  assert.match(fused.stdout, /each kernel call/);
  assert.match(fused.stdout, /layer1\.0\.conv2\+bn2 +conv3x3\+add\+relu/);
  assert.match(fused.stdout, /layer2\.0\.downsample +shortcutA/);
  assert.match(fused.stdout, /img\/s/);
  const eager = resnet(...args, '--no-fuse', '--profile');
  assert.equal(eager.code, 0, eager.stderr);
  assert.match(eager.stdout, /layer1\.0\.conv1 +Conv2d/);
});

test('bench --arch resnet20 --batch 1 --size 8 --mode infer --iters 1 --json: compiled forward unless --no-fuse', () => {
  const args = ['bench', '--arch', 'resnet20', '--batch', '1', '--size', '8', '--mode', 'infer', '--iters', '1'];
  const fused = resnet(...args, '--json');
  const eager = resnet(...args, '--no-fuse', '--json');
  assert.equal(fused.code, 0, fused.stderr);
  assert.equal(eager.code, 0, eager.stderr);
  assert.equal(JSON.parse(fused.stdout.trim().split('\n').at(-1) ?? '').fused, true);
  assert.equal(JSON.parse(eager.stdout.trim().split('\n').at(-1) ?? '').fused, false);
});

test('bench --mode fit names the option', () => {
  const r = resnet('bench', '--arch', 'resnet20', '--batch', '2', '--size', '8', '--mode', 'fit');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--mode must be infer or train/);
});
