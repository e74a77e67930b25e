// The CLI contract: summary's JSON line, forward's outputs, and errors that name the file, tensor or option.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors.ts';
import { IntTensor, Tensor } from '../../src/tensor/tensor.ts';
import { resnet } from '../helpers.ts';

const work = mkdtempSync(join(tmpdir(), 'resnet-cli-'));
after(() => rmSync(work, { recursive: true, force: true }));

describe('resnet summary', () => {
  test('resnet50 --json: last line has params 25,557,032 and macs 4.09 G', () => {
    const r = resnet('summary', '--arch', 'resnet50', '--json');
    assert.equal(r.code, 0, r.stderr);
    const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    assert.equal(last.params, 25557032);
    assert.equal(Math.round(last.macs / 1e7), 409);
  });
  test('resnet20 --in-channels 1 --size 28 table ends with totals', () => {
    const r = resnet('summary', '--arch', 'resnet20', '--in-channels', '1', '--size', '28');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /layer3\.2\.conv2 +Conv2d +\[1, 64, 7, 7\]/);
    assert.match(r.stdout, /total params: 269,434/);
  });
});

describe('resnet forward', () => {
  const input = join(work, 'in.safetensors');
  const x = Tensor.full([2, 1, 16, 16], 0.5);
  writeSafetensors(
    input,
    new Map<string, Tensor | IntTensor>([
      ['input', x],
      ['labels', IntTensor.from([1, 3])],
    ]),
  );

  test('resnet20 --num-classes 5 input=[2,1,16,16] writes output [2,5], loss and every gradient', () => {
    const out = join(work, 'out.safetensors');
    const grads = join(work, 'grads.safetensors');
    const r = resnet(
      'forward',
      '--arch',
      'resnet20',
      '--in-channels',
      '1',
      '--num-classes',
      '5',
      '--input',
      input,
      '--output',
      out,
      '--train',
      '--grads',
      grads,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readSafetensors(out).get('output')?.shape, [2, 5]);
    const g = readSafetensors(grads);
    assert.deepEqual(g.get('loss')?.shape, []);
    assert.deepEqual(g.get('layer3.2.conv2.weight')?.shape, [64, 64, 3, 3]);
    assert.equal(g.size, 1 + 59); // loss + conv1, bn1 (2), 9 blocks × 6, fc (2)
  });
  test('missing --input names the option and prints usage', () => {
    const r = resnet('forward', '--arch', 'resnet18', '--output', join(work, 'o.safetensors'));
    assert.equal(r.code, 2);
    assert.match(r.stderr, /missing --input[\s\S]*usage: resnet forward/);
  });
  test('unknown option is refused', () => {
    const r = resnet('forward', '--arch', 'resnet18', '--bogus');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--bogus/);
  });
  test('a malformed input file names the file', () => {
    const bad = join(work, 'bad.safetensors');
    writeFileSync(bad, Buffer.from([1, 2, 3]));
    const r = resnet('forward', '--arch', 'resnet18', '--input', bad, '--output', join(work, 'o.safetensors'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /bad\.safetensors/);
  });
  test('input with the wrong channel count names both shapes', () => {
    const r = resnet('forward', '--arch', 'resnet18', '--input', input, '--output', join(work, 'o.safetensors'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /weight \[64, 3, 7, 7\] expects 3 input channels.*input \[2, 1, 16, 16\] has 1/);
  });
  test('weights for another class count name the mismatched key', () => {
    const w = join(work, 'w.safetensors');
    writeSafetensors(w, new Map([['fc.weight', Tensor.zeros([3, 64])]]));
    const r = resnet(
      'forward',
      '--arch',
      'resnet20',
      '--in-channels',
      '1',
      '--weights',
      w,
      '--input',
      input,
      '--output',
      join(work, 'o.safetensors'),
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /size mismatch for fc\.weight/);
  });
  test('--grads without labels says what is needed', () => {
    const noLabels = join(work, 'nolabels.safetensors');
    writeSafetensors(noLabels, new Map([['input', x]]));
    const r = resnet(
      'forward',
      '--arch',
      'resnet20',
      '--in-channels',
      '1',
      '--input',
      noLabels,
      '--output',
      join(work, 'o.safetensors'),
      '--grads',
      join(work, 'g.safetensors'),
    );
    assert.equal(r.code, 2);
    assert.match(r.stderr, /int64 tensor "labels" of shape \[2\]/);
  });
});
