// The CLI on .pth files: `resnet forward --weights x.pth` against torch's logits, and `resnet convert` between
// .pth, .safetensors and .onnx, with its notes and errors.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { readPth } from '../../src/io/pth/read.ts';
import { readSafetensors } from '../../src/io/safetensors.ts';
import { assertClose, fixturesDir, resnet } from '../helpers.ts';

const dir = join(fixturesDir, 'pth');
const work = mkdtempSync(join(tmpdir(), 'resnet-pth-cli-'));
after(() => rmSync(work, { recursive: true, force: true }));

const io = readSafetensors(join(dir, 'resnet20_io.safetensors'));

for (const [file, expected] of [
  ['resnet20.pth', 'output'],
  ['resnet20_checkpoint.pth', 'checkpoint_output'],
]) {
  test(`resnet forward --arch resnet20 --weights ${file} on [2,3,32,32] matches torch within 1e-4 relative`, () => {
    const out = join(work, `${file}.out.safetensors`);
    const input = join(dir, 'resnet20_io.safetensors');
    const r = resnet('forward', '--arch', 'resnet20', '--weights', join(dir, file), '--input', input, '--output', out);
    assert.equal(r.code, 0, r.stderr);
    const y = readSafetensors(out).get('output')!;
    assertClose(y.data as Float32Array, io.get(expected)!.data as Float32Array, { rtol: 1e-4, what: file });
  });
}

test('resnet convert checkpoint.pth → .safetensors → .pth keeps every tensor and prints the notes', () => {
  const st = join(work, 'ck.safetensors');
  const pth = join(work, 'ck.pth');
  const first = resnet('convert', join(dir, 'resnet20_checkpoint.pth'), st);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stderr, /stripped the "module\." prefix/);
  assert.match(first.stdout, /wrote .*ck\.safetensors \(116 tensors\)/);
  const second = resnet('convert', st, pth, '--arch', 'resnet20');
  assert.equal(second.code, 0, second.stderr);
  const a = readSafetensors(st);
  const b = readPth(pth);
  assert.deepEqual([...b.keys()], [...readPth(join(dir, 'resnet20.pth')).keys()]);
  for (const [name, t] of a) assert.deepEqual(b.get(name)!.data, t.data, name);
});

test('resnet convert to .onnx needs --arch; a hostile .pth fails with exit 1 naming the file and global', () => {
  const r = resnet('convert', join(dir, 'resnet20.pth'), join(work, 'x.onnx'));
  assert.equal(r.code, 2);
  assert.match(r.stderr, /needs --arch/);
  const hostile = resnet('convert', join(dir, 'hostile_os_system.pth'), join(work, 'x.safetensors'));
  assert.equal(hostile.code, 1);
  assert.match(hostile.stderr, /hostile_os_system\.pth: data\.pkl: refuses global "posix\.system"/);
  assert.ok(!existsSync(join(work, 'x.safetensors')));
});

test('resnet convert resnet20.pth → .onnx --fold-bn writes a model file', () => {
  const out = join(work, 'r20.onnx');
  const r = resnet('convert', join(dir, 'resnet20.pth'), out, '--arch', 'resnet20', '--fold-bn');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /input \[batch, 3, 32, 32\]/);
  assert.ok(existsSync(out));
});
