// Test helpers: closeness with a stated tolerance that reports where and by how much it failed (llm.c's
// check_tensor), fixture loading, and synthetic state dicts shared with scripts/synthetic.py.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Module } from '../src/nn/module.ts';
import { syntheticTensor } from '../src/tensor/synthetic.ts';
import { Tensor } from '../src/tensor/tensor.ts';

export const fixturesDir = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');

/**
 * Asserts |actual − expected| ≤ atol + rtol·scale elementwise, where scale is max|expected| over the whole
 * tensor: float32 error grows with the magnitudes summed, not with each element's own size.
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  { rtol = 1e-4, atol = 0, what = 'tensor' }: { rtol?: number; atol?: number; what?: string } = {},
): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} vs expected ${expected.length}`);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  const tol = atol + rtol * scale;
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    if (!(err <= tol) && (worst < 0 || err > worstErr || Number.isNaN(err))) {
      worst = i;
      worstErr = err;
    }
  }
  if (worst >= 0) {
    assert.fail(
      `${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} (|diff| ${worstErr.toExponential(3)} > tol ${tol.toExponential(3)} = ${atol} + ${rtol}·${scale.toExponential(3)})`,
    );
  }
}

/** Fills every float tensor of a model's state dict with the synthetic values the fixture script used. */
export function loadSynthetic(model: Module): void {
  for (const [name, t] of model.stateDict()) {
    if (t instanceof Tensor) t.data.set(syntheticTensor(name, t.shape));
  }
}

export const repoRoot = join(fixturesDir, '..', '..');

/** Runs the `resnet` CLI from the TypeScript sources, as a user would run the installed command. */
export function resnet(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  return resnetWithEnv({}, ...args);
}

export function resnetWithEnv(
  env: NodeJS.ProcessEnv,
  ...args: string[]
): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'src/cli/main.ts'), ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
