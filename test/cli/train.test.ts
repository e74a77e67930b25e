// The training CLI end to end on a tiny generated image folder: train → run directory → eval → predict, resume after
// kill -9 with each epoch logged once and the same numbers, NaN stops keep the last good checkpoint, and corrupt
// images are skipped and counted (or fail with --strict-images).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { resnetWithEnv, repoRoot as root } from '../helpers.ts';

const work = mkdtempSync(join(tmpdir(), 'resnet-train-'));
after(() => rmSync(work, { recursive: true, force: true }));
const data = join(work, 'colors');
const resnet = (...args: string[]) => resnetWithEnv({ RESNET_NUM_THREADS: '1' }, ...args);

/** 3 classes told apart by their dominant color, 16×16 PNGs with noise: learnable in a couple of epochs. */
async function writeColorFolder(dir: string, perClass: number, valPerClass: number): Promise<void> {
  const colors: Record<string, [number, number, number]> = { blue: [0, 0, 1], green: [0, 1, 0], red: [1, 0, 0] };
  let seed = 1;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  for (const [split, n] of [
    ['train', perClass],
    ['val', valPerClass],
  ] as const) {
    for (const [name, rgb] of Object.entries(colors)) {
      mkdirSync(join(dir, split, name), { recursive: true });
      for (let i = 0; i < n; i++) {
        const px = Buffer.alloc(16 * 16 * 3);
        for (let p = 0; p < 256; p++)
          for (let c = 0; c < 3; c++) px[p * 3 + c] = Math.round(255 * (0.6 * rgb[c] + 0.4 * rand()));
        await sharp(px, { raw: { width: 16, height: 16, channels: 3 } })
          .png()
          .toFile(join(dir, split, name, `${i}.png`));
      }
    }
  }
}

const common = [
  '--arch',
  'resnet20',
  '--img-size',
  '16',
  '--augment',
  'none',
  '--batch-size',
  '8',
  '--lr',
  '0.05',
  '--workers',
  '0',
  '--no-progress',
];
const metricsOf = (run: string) =>
  readFileSync(join(run, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

before(async () => writeColorFolder(data, 12, 4));

describe('resnet train / eval / predict', () => {
  const run = join(work, 'run');
  test('train resnet20 16×16, 3 classes, 2 epochs writes the run directory', () => {
    const r = resnet('train', '--data', data, '--out', run, '--epochs', '2', ...common);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /best validation accuracy/);
    for (const f of [
      'config.json',
      'class_indices.json',
      'model.safetensors',
      'checkpoint.safetensors',
      'report/curves.png',
      'report/confusion.png',
      'report/summary.md',
    ]) {
      assert.ok(existsSync(join(run, f)), f);
    }
    assert.deepEqual(JSON.parse(readFileSync(join(run, 'class_indices.json'), 'utf8')), {
      0: 'blue',
      1: 'green',
      2: 'red',
    });
    const config = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8'));
    assert.equal(config.arch, 'resnet20');
    assert.equal(config.preprocess.imgSize, 16);
    const m = metricsOf(run);
    assert.deepEqual(
      m.map((e) => e.epoch),
      [1, 2],
    );
    for (const k of ['train_loss', 'train_acc', 'val_loss', 'val_acc', 'lr', 'sec', 'img_per_s'])
      assert.equal(typeof m[0][k], 'number', k);
  });

  test('eval --json: top-1/top-5, per-class report and a 3×3 confusion matrix over 12 images', () => {
    const r = resnet('eval', '--model', run, '--data', data, '--json');
    assert.equal(r.code, 0, r.stderr);
    const e = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    assert.equal(e.images, 12);
    assert.equal(e.top5, 1);
    assert.equal(e.confusion.length, 3);
    assert.deepEqual(Object.keys(e.perClass), ['blue', 'green', 'red']);
  });

  test('predict --json --topk 2 on a file and a folder: [{image, top: [{class, index, prob}]}]', () => {
    const r = resnet(
      'predict',
      '--model',
      run,
      join(data, 'val', 'red', '0.png'),
      join(data, 'val', 'blue'),
      '--topk',
      '2',
      '--json',
    );
    assert.equal(r.code, 0, r.stderr);
    const p = JSON.parse(r.stdout);
    assert.equal(p.length, 5);
    assert.equal(p[0].top.length, 2);
    assert.ok(p[0].top[0].prob >= p[0].top[1].prob);
    assert.deepEqual(Object.keys(p[0].top[0]).sort(), ['class', 'index', 'prob']);
  });

  test('predict --cam writes a Grad-CAM PNG of the image at the network input size (16×16)', async () => {
    const cam = join(work, 'cam.png');
    const r = resnet('predict', '--model', run, join(data, 'val', 'red', '0.png'), '--cam', cam);
    assert.equal(r.code, 0, r.stderr);
    const meta = await sharp(cam).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['png', 16, 16]);
  });

  test('predict prints every class probability by default', () => {
    const r = resnet('predict', '--model', run, join(data, 'val', 'green', '1.png'));
    assert.equal(r.code, 0, r.stderr);
    assert.equal((r.stdout.match(/%/g) ?? []).length, 3);
  });
});

describe('transfer learning', () => {
  test("--pretrained RUN/model.safetensors --freeze backbone keeps the pretrained run's 1-channel mean/std", () => {
    const pre = join(work, 'pre1');
    assert.equal(
      resnet('train', '--data', data, '--out', pre, '--epochs', '1', '--in-channels', '1', ...common).code,
      0,
    );
    // Stand-in for a pretraining set with other statistics than the folder being fine-tuned on.
    const configFile = join(pre, 'config.json');
    const config = JSON.parse(readFileSync(configFile, 'utf8'));
    config.preprocess.mean = [0.125];
    config.preprocess.std = [0.5];
    writeFileSync(configFile, JSON.stringify(config));
    const run = join(work, 'fine1');
    const r = resnet(
      'train',
      '--data',
      data,
      '--out',
      run,
      '--epochs',
      '1',
      '--in-channels',
      '1',
      '--pretrained',
      join(pre, 'model.safetensors'),
      '--freeze',
      'backbone',
      ...common,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /normalisation of the pretrained run: mean \[0\.125\], std \[0\.5\]/);
    assert.match(r.stderr, /loaded 116 of 116 tensors/);
    const fine = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8'));
    assert.deepEqual([fine.preprocess.mean, fine.preprocess.std], [[0.125], [0.5]]);
  });
});

describe('nothing lost', () => {
  test('kill -9 during epoch 2 of 3, then --resume: each epoch logged once, same numbers as an unbroken run', async () => {
    const straight = join(work, 'straight');
    assert.equal(resnet('train', '--data', data, '--out', straight, '--epochs', '3', ...common).code, 0);
    const broken = join(work, 'broken');
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(root, 'src/cli/main.ts'),
        'train',
        '--data',
        data,
        '--out',
        broken,
        '--epochs',
        '3',
        ...common,
      ],
      {
        cwd: root,
        env: { ...process.env, RESNET_NUM_THREADS: '1' },
        stdio: 'ignore',
      },
    );
    const exited = new Promise((resolve) => child.on('exit', resolve));
    // Kill as soon as epoch 1 is logged: epoch 2 is then under way or its checkpoint half written.
    while (
      !existsSync(join(broken, 'metrics.jsonl')) ||
      readFileSync(join(broken, 'metrics.jsonl'), 'utf8').trim() === ''
    ) {
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    await exited;
    const r = resnet('train', '--data', data, '--out', broken, '--epochs', '3', '--resume', ...common);
    assert.equal(r.code, 0, r.stderr);
    const a = metricsOf(straight);
    const b = metricsOf(broken);
    assert.deepEqual(
      b.map((e) => e.epoch),
      [1, 2, 3],
    );
    for (let i = 0; i < 3; i++) {
      for (const k of ['train_loss', 'train_acc', 'val_loss', 'val_acc', 'lr'])
        assert.equal(b[i][k], a[i][k], `epoch ${i + 1} ${k}`);
    }
  });

  test('a NaN loss stops with the epoch and step, and the last good checkpoint is kept byte for byte', () => {
    const run = join(work, 'nan');
    assert.equal(resnet('train', '--data', data, '--out', run, '--epochs', '1', ...common).code, 0);
    const before = readFileSync(join(run, 'checkpoint.safetensors'));
    const r = resnet('train', '--data', data, '--out', run, '--epochs', '2', '--resume', ...common, '--lr', '1e38');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /loss is (NaN|Infinity) at epoch 2, step \d+/);
    assert.deepEqual(readFileSync(join(run, 'checkpoint.safetensors')), before);
  });

  test('a corrupt image is skipped and counted; --strict-images fails naming it', () => {
    const dirty = join(work, 'dirty');
    spawnSync('cp', ['-r', data, dirty]);
    writeFileSync(join(dirty, 'train', 'red', 'broken.png'), Buffer.from('not a png at all'));
    const ok = resnet('train', '--data', dirty, '--out', join(work, 'dirty-run'), '--epochs', '1', ...common);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /skipped 1 unreadable image: .*broken\.png/);
    const strict = resnet(
      'train',
      '--data',
      dirty,
      '--out',
      join(work, 'strict-run'),
      '--epochs',
      '1',
      '--strict-images',
      ...common,
    );
    assert.equal(strict.code, 1);
    assert.match(strict.stderr, /broken\.png/);
  });

  test('a folder without class folders says what layout it expected', () => {
    const empty = join(work, 'empty');
    mkdirSync(join(empty, 'train'), { recursive: true });
    const r = resnet('train', '--data', empty, '--arch', 'resnet20', '--out', join(work, 'e'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /train\/<class>/);
  });
});
