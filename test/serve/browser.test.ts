// The page in a real browser: Debian's chromium, headless, driven by playwright-core. It uploads an image through
// the file picker, waits for the top-5 bars and the Grad-CAM layers, moves the opacity slider, and saves a
// screenshot to tmp/artifacts/serve-page.png (and to $RESNET_SCREENSHOT when set, e.g. docs/serve-page.png).
// Skips only when chromium is missing and RESNET_REQUIRE_BROWSER is unset; CI sets it.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import sharp from 'sharp';
import { type RunningServer, startServer } from '../../src/serve/server.ts';
import { readRunConfig } from '../../src/train/runDir.ts';
import { fixturesDir } from '../helpers.ts';
import { makeRunDir, testImage } from './helpers.ts';

const chromiumPath = process.env.RESNET_CHROMIUM ?? '/usr/bin/chromium';
const root = join(fixturesDir, '..', '..');
const artifact = join(root, 'tmp', 'artifacts', 'serve-page.png');
const missing = !existsSync(chromiumPath);
if (missing && process.env.RESNET_REQUIRE_BROWSER) {
  throw new Error(
    `RESNET_REQUIRE_BROWSER is set but there is no chromium at ${chromiumPath} (apt-get install chromium)`,
  );
}
const skip = missing ? `no chromium at ${chromiumPath} (apt-get install chromium, or set RESNET_CHROMIUM)` : false;

const work = mkdtempSync(join(tmpdir(), 'resnet-browser-'));
let server: RunningServer;
// RESNET_SERVE_RUN and RESNET_SERVE_IMAGE put a trained run and a real image in the screenshot.
const runDir = process.env.RESNET_SERVE_RUN ?? join(work, 'run');

before(async () => {
  if (skip) return;
  if (!process.env.RESNET_SERVE_RUN) await makeRunDir(runDir);
  server = await startServer({ runDir, port: 0, concurrency: 1 });
  await server.ready;
});
after(async () => {
  await server?.close();
  rmSync(work, { recursive: true, force: true });
});

test('chromium: upload an image → 5 bars, Grad-CAM layers, opacity slider, report images', { skip }, async () => {
  const classes = readRunConfig(runDir).classes;
  const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.goto(server.url);
    await page.waitForFunction((n) => document.querySelectorAll('#classes li').length === n, classes.length);
    const image = process.env.RESNET_SERVE_IMAGE;
    await page.setInputFiles(
      '#file',
      image ? image : { name: 'disc.png', mimeType: 'image/png', buffer: await testImage(3, 'png', 96, 80) },
    );
    await page.waitForSelector('#result:not([hidden])');
    const bars = await page.$$eval('#bars li', (items) =>
      items.map((li) => ({
        text: li.querySelector('.bar-label')?.textContent ?? '',
        width: (li.querySelector('.bar') as HTMLElement).getBoundingClientRect().width,
      })),
    );
    assert.equal(bars.length, Math.min(5, classes.length));
    for (let i = 1; i < bars.length; i++) assert.ok(bars[i - 1].width >= bars[i].width, 'bars are sorted');
    assert.ok(bars[0].width > 0);
    assert.ok(
      classes.some((c) => bars[0].text.startsWith(c)),
      `first bar "${bars[0].text}" names a class`,
    );
    // Both Grad-CAM layers decoded: the heat map and the network's view under it.
    const loaded = await page.$$eval('.stack img', (imgs) => imgs.map((i) => (i as HTMLImageElement).naturalWidth));
    assert.deepEqual(
      loaded.map((w) => w > 0),
      [true, true],
    );
    await page.$eval('#opacity', (el) => {
      const input = el as HTMLInputElement;
      input.value = '0.65';
      input.dispatchEvent(new Event('input'));
    });
    assert.equal(await page.$eval('#cam-heat', (el) => getComputedStyle(el).opacity), '0.65');
    const reports = await page.$$eval('#report-images img', (imgs) =>
      imgs.map((i) => (i as HTMLImageElement).complete && (i as HTMLImageElement).naturalWidth > 0),
    );
    assert.ok(reports.length >= 1 && reports.every(Boolean), `report images loaded: ${reports}`);
    assert.deepEqual(errors, []);
    mkdirSync(dirname(artifact), { recursive: true });
    await page.screenshot({ path: artifact, fullPage: true });
    // The README's copy is palette-quantised: a third of the size, and the page has few colours.
    if (process.env.RESNET_SCREENSHOT)
      await sharp(artifact).png({ palette: true }).toFile(process.env.RESNET_SCREENSHOT);
  } finally {
    await browser.close();
  }
});
