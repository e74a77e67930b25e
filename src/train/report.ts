// The run's report: training curves and a confusion matrix drawn as SVG and rendered to PNG by sharp, plus a
// readable summary.md. Plain SVG keeps the drawing code small and the output exact on any machine.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { EvalReport } from './metrics.ts';

export interface EpochMetrics {
  epoch: number;
  train_loss: number;
  train_acc: number;
  val_loss: number;
  val_acc: number;
  lr: number;
  sec: number;
  img_per_s: number;
}

const escapeXml = (s: string) => s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(3));

interface Series {
  label: string;
  color: string;
  values: number[];
}

/** One panel of line plots against epoch, with axes, ticks and a legend, at (x, y) of size w×h. */
function linePanel(
  x: number,
  y: number,
  w: number,
  h: number,
  title: string,
  epochs: number[],
  series: Series[],
): string {
  const all = series.flatMap((s) => s.values).filter(Number.isFinite);
  let lo = Math.min(...all, 0);
  let hi = Math.max(...all, lo + 1e-6);
  if (title.includes('accuracy')) [lo, hi] = [0, 1];
  // One diverging validation epoch should not flatten every other point: cap the axis at 4× the training peak.
  else hi = Math.min(hi, 4 * Math.max(...series[0].values.filter(Number.isFinite), 1e-6));
  const left = x + 50;
  const bottom = y + h - 30;
  const pw = w - 60;
  const ph = h - 60;
  const first = epochs[0] ?? 1;
  const last = epochs[epochs.length - 1] ?? 1;
  const px = (e: number) => left + (last === first ? pw / 2 : ((e - first) / (last - first)) * pw);
  const py = (v: number) => bottom - ((v - lo) / (hi - lo)) * ph;
  const parts = [`<text x="${x + w / 2}" y="${y + 18}" text-anchor="middle" font-size="15">${escapeXml(title)}</text>`];
  parts.push(`<rect x="${left}" y="${bottom - ph}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  for (let i = 0; i <= 4; i++) {
    const v = lo + ((hi - lo) * i) / 4;
    parts.push(`<line x1="${left}" x2="${left + pw}" y1="${py(v)}" y2="${py(v)}" stroke="#eee"/>`);
    parts.push(`<text x="${left - 6}" y="${py(v) + 4}" text-anchor="end" font-size="11">${fmt(v)}</text>`);
  }
  const step = Math.max(1, Math.ceil(epochs.length / 10));
  epochs.forEach((e, i) => {
    if (i % step === 0 || i === epochs.length - 1)
      parts.push(`<text x="${px(e)}" y="${bottom + 16}" text-anchor="middle" font-size="11">${e}</text>`);
  });
  parts.push(`<text x="${left + pw / 2}" y="${bottom + 28}" text-anchor="middle" font-size="11">epoch</text>`);
  series.forEach((s, si) => {
    const pts = s.values.map((v, i) => `${px(epochs[i])},${py(Number.isFinite(v) ? Math.min(v, hi) : hi)}`).join(' ');
    parts.push(`<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    for (const p of pts.split(' ')) {
      const [cx, cy] = p.split(',');
      parts.push(`<circle cx="${cx}" cy="${cy}" r="3" fill="${s.color}"/>`);
    }
    const ly = y + 34 + si * 16;
    parts.push(
      `<line x1="${left + 10}" x2="${left + 30}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"/>`,
    );
    parts.push(`<text x="${left + 36}" y="${ly + 4}" font-size="12">${escapeXml(s.label)}</text>`);
  });
  return parts.join('');
}

export function curvesSvg(metrics: EpochMetrics[]): string {
  const epochs = metrics.map((m) => m.epoch);
  const pick = (k: keyof EpochMetrics) => metrics.map((m) => m[k]);
  const w = 900;
  const h = 360;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="DejaVu Sans, sans-serif">`,
    `<rect width="${w}" height="${h}" fill="white"/>`,
    linePanel(0, 0, w / 2, h, 'loss', epochs, [
      { label: 'train', color: '#1f77b4', values: pick('train_loss') },
      { label: 'val', color: '#ff7f0e', values: pick('val_loss') },
    ]),
    linePanel(w / 2, 0, w / 2, h, 'accuracy', epochs, [
      { label: 'train', color: '#1f77b4', values: pick('train_acc') },
      { label: 'val', color: '#ff7f0e', values: pick('val_acc') },
    ]),
    '</svg>',
  ].join('');
}

/** The confusion matrix as a heat map normalised per true class, with counts in the cells. */
export function confusionSvg(confusion: number[][], classes: string[]): string {
  const k = classes.length;
  const cell = Math.max(18, Math.min(60, Math.floor(600 / k)));
  const label = Math.min(160, 8 + 7 * Math.max(...classes.map((c) => Math.min(c.length, 22))));
  const size = label + k * cell + 20;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size + 40}" font-family="DejaVu Sans, sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${label + (k * cell) / 2}" y="20" text-anchor="middle" font-size="14">predicted →   (rows: true class)</text>`,
  ];
  const top = label + 40;
  confusion.forEach((row, t) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    row.forEach((count, p) => {
      const f = count / total;
      const shade = Math.round(255 * (1 - f));
      const fill = `rgb(${shade},${Math.round(255 - 120 * f)},255)`;
      parts.push(
        `<rect x="${label + p * cell}" y="${top - label + t * cell}" width="${cell}" height="${cell}" fill="${fill}" stroke="#ccc"/>`,
      );
      if (cell >= 24)
        parts.push(
          `<text x="${label + p * cell + cell / 2}" y="${top - label + t * cell + cell / 2 + 4}" text-anchor="middle" font-size="${Math.min(12, cell / 3)}" fill="${f > 0.5 ? 'white' : 'black'}">${count}</text>`,
        );
    });
    const name = escapeXml(classes[t].slice(0, 22));
    parts.push(
      `<text x="${label - 6}" y="${top - label + t * cell + cell / 2 + 4}" text-anchor="end" font-size="11">${name}</text>`,
    );
    const cx = label + t * cell + cell / 2;
    parts.push(
      `<text x="${cx}" y="${top - label + k * cell + 12}" font-size="11" transform="rotate(45 ${cx} ${top - label + k * cell + 12})">${name}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('');
}

async function renderPng(svg: string, file: string): Promise<void> {
  await sharp(Buffer.from(svg)).png().toFile(file);
}

export function summaryMarkdown(
  arch: string,
  classes: string[],
  metrics: EpochMetrics[],
  evalReport: EvalReport,
): string {
  const best = metrics.reduce((a, m) => (m.val_acc > a.val_acc ? m : a), metrics[0]);
  const lines = [
    `# Training report: ${arch}, ${classes.length} classes`,
    '',
    `Best validation accuracy ${(best.val_acc * 100).toFixed(2)}% at epoch ${best.epoch}; the saved model is that epoch's.`,
    `Evaluated on ${evalReport.count} validation images: top-1 ${(evalReport.top1 * 100).toFixed(2)}%, top-5 ${(evalReport.top5 * 100).toFixed(2)}%.`,
    '',
    '| epoch | train loss | train acc | val loss | val acc | lr | sec | img/s |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...metrics.map(
      (m) =>
        `| ${m.epoch} | ${m.train_loss.toFixed(4)} | ${(m.train_acc * 100).toFixed(2)}% | ${m.val_loss.toFixed(4)} | ${(m.val_acc * 100).toFixed(2)}% | ${m.lr.toExponential(2)} | ${m.sec.toFixed(1)} | ${m.img_per_s.toFixed(0)} |`,
    ),
    '',
    '| class | precision | recall | F1 | support |',
    '|---|---:|---:|---:|---:|',
    ...evalReport.perClass.map(
      (c, i) =>
        `| ${classes[i]} | ${c.precision.toFixed(3)} | ${c.recall.toFixed(3)} | ${c.f1.toFixed(3)} | ${c.support} |`,
    ),
    '',
    '![training curves](curves.png)',
    '',
    '![confusion matrix](confusion.png)',
    '',
  ];
  return lines.join('\n');
}

/** Writes report/curves.png, report/confusion.png and report/summary.md; returns the folder. */
export async function writeReport(
  runDir: string,
  arch: string,
  classes: string[],
  metrics: EpochMetrics[],
  evalReport: EvalReport,
): Promise<string> {
  const dir = join(runDir, 'report');
  mkdirSync(dir, { recursive: true });
  await renderPng(curvesSvg(metrics), join(dir, 'curves.png'));
  await renderPng(confusionSvg(evalReport.confusion, classes), join(dir, 'confusion.png'));
  writeFileSync(join(dir, 'summary.md'), summaryMarkdown(arch, classes, metrics, evalReport));
  return dir;
}
