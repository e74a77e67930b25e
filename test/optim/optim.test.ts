// Optimizers and schedules against torch.optim's own trajectories (test/fixtures/optim.json, made by
// scripts/make_optim_fixtures.py). Tolerance: 1e-6 relative to max|p| (float32 parameters vs torch float64).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Parameter } from '../../src/nn/module.ts';
import { AdamW } from '../../src/optim/adamw.ts';
import type { Optimizer } from '../../src/optim/optimizer.ts';
import { makeSchedule } from '../../src/optim/schedules.ts';
import { SGD } from '../../src/optim/sgd.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { assertClose, fixturesDir } from '../helpers.ts';

interface Fixture {
  p0: number[];
  grads: number[][];
  optimizers: Record<string, { options: Record<string, number | boolean | string>; trace: number[][] }>;
  schedules: { lr: number; total: number; onecycle: number[][]; cosine: number[][] };
}
const fx: Fixture = JSON.parse(readFileSync(join(fixturesDir, 'optim.json'), 'utf8'));

function makeOptimizer(params: Parameter[], o: Record<string, number | boolean | string>): Optimizer {
  const common = { lr: o.lr as number, weightDecay: o.weightDecay as number | undefined };
  if (o.optimizer === 'adamw') return new AdamW(params, common);
  return new SGD(params, { ...common, momentum: o.momentum as number, nesterov: o.nesterov as boolean });
}

for (const [name, { options, trace }] of Object.entries(fx.optimizers)) {
  test(`${name}: p=[7], ${trace.length} steps match torch.optim (1e-6)`, () => {
    const p = new Parameter(Float32Array.from(fx.p0), [7]);
    const opt = makeOptimizer([p], options);
    fx.grads.forEach((g, i) => {
      p.grad = Tensor.from(g);
      opt.step();
      assertClose(p.data, trace[i], { rtol: 1e-6, what: `step ${i + 1}` });
    });
  });

  test(`${name}: a state dict restored mid-run continues exactly`, () => {
    const a = new Parameter(Float32Array.from(fx.p0), [7]);
    const optA = makeOptimizer([a], options);
    for (const g of fx.grads.slice(0, 3)) {
      a.grad = Tensor.from(g);
      optA.step();
    }
    const b = new Parameter(a.data.slice(), [7]);
    const optB = makeOptimizer([b], options);
    optB.loadStateDict(optA.stateDict());
    for (const g of fx.grads.slice(3)) {
      a.grad = Tensor.from(g);
      b.grad = Tensor.from(g);
      optA.step();
      optB.step();
    }
    assert.deepEqual(b.data, a.data);
  });
}

test('SGD skips parameters without a gradient and rejects Nesterov without momentum', () => {
  const p = new Parameter(Float32Array.from([1, 2]), [2]);
  new SGD([p], { lr: 1, momentum: 0.9 }).step();
  assert.deepEqual([...p.data], [1, 2]);
  assert.throws(() => new SGD([p], { lr: 1, nesterov: true }), /Nesterov/);
});

test('parameter groups keep their own rates under a schedule factor', () => {
  const a = new Parameter(Float32Array.from([0]), [1]);
  const b = new Parameter(Float32Array.from([0]), [1]);
  const opt = new SGD([{ params: [a], lr: 0.01 }, { params: [b] }], { lr: 0.1 });
  opt.setLrFactor(0.5);
  assert.deepEqual(
    opt.groups.map((g) => g.lr),
    [0.005, 0.05],
  );
});

for (const name of ['onecycle', 'cosine'] as const) {
  test(`${name} schedule: ${fx.schedules.total} steps match torch's lr (and momentum) (1e-9)`, () => {
    const schedule = makeSchedule({ name, epochs: fx.schedules.total, stepsPerEpoch: 1 });
    fx.schedules[name].forEach(([lr, momentum], step) => {
      const v = schedule(step);
      assert.ok(Math.abs(v.lrFactor * fx.schedules.lr - lr) < 1e-9, `step ${step}: lr ${v.lrFactor * 0.1} vs ${lr}`);
      if (v.momentum !== undefined) assert.ok(Math.abs(v.momentum - momentum) < 1e-9, `step ${step}: momentum`);
    });
  });
}

test('warmup rises linearly to the base rate, then cosine decays to 0', () => {
  const s = makeSchedule({ name: 'cosine', epochs: 10, stepsPerEpoch: 10, warmupEpochs: 1 });
  assert.equal(s(0).lrFactor, 0.1);
  assert.equal(s(9).lrFactor, 1);
  assert.equal(s(10).lrFactor, 1);
  assert.ok(s(99).lrFactor < 0.001);
});

test('step schedule: ×0.1 at each third of the run', () => {
  const s = makeSchedule({ name: 'step', epochs: 9, stepsPerEpoch: 2 });
  assert.deepEqual(
    [0, 5, 6, 11, 12, 17].map((i) => s(i).lrFactor.toPrecision(3)),
    ['1.00', '1.00', '0.100', '0.100', '0.0100', '0.0100'],
  );
});
