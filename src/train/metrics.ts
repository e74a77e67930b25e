// Classification metrics from logits: top-k hits, the confusion matrix and per-class precision, recall and F1,
// with sklearn's conventions (rows = true class, a 0/0 ratio reported as 0).

/** Indices of the k largest values in row r of logits [rows, cols], largest first. */
export function topK(logits: Float32Array, cols: number, r: number, k: number): number[] {
  const row = logits.subarray(r * cols, (r + 1) * cols);
  return [...row.keys()].sort((a, b) => row[b] - row[a] || a - b).slice(0, Math.min(k, cols));
}

/** Row-wise softmax of logits [rows, cols] in float64, stable for large logits. */
export function softmax(logits: Float32Array, cols: number): Float64Array {
  const out = new Float64Array(logits.length);
  for (let o = 0; o < logits.length; o += cols) {
    let max = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < cols; j++) max = Math.max(max, logits[o + j]);
    let sum = 0;
    for (let j = 0; j < cols; j++) sum += out[o + j] = Math.exp(logits[o + j] - max);
    for (let j = 0; j < cols; j++) out[o + j] /= sum;
  }
  return out;
}

export interface ClassReport {
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface EvalReport {
  count: number;
  top1: number;
  top5: number;
  /** confusion[t][p]: images of true class t predicted as p. */
  confusion: number[][];
  perClass: ClassReport[];
}

/** Accumulates predictions batch by batch into top-1/top-5 accuracy and a confusion matrix. */
export class ClassificationMeter {
  private count = 0;
  private hits1 = 0;
  private hits5 = 0;
  private readonly confusion: number[][];

  constructor(readonly numClasses: number) {
    this.confusion = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  }

  add(logits: Float32Array, labels: ArrayLike<number>): void {
    const k = this.numClasses;
    for (let r = 0; r < labels.length; r++) {
      const top = topK(logits, k, r, 5);
      const label = labels[r];
      this.count++;
      if (top[0] === label) this.hits1++;
      if (top.includes(label)) this.hits5++;
      this.confusion[label][top[0]]++;
    }
  }

  report(): EvalReport {
    const c = this.confusion;
    const perClass = c.map((row, i) => {
      const tp = row[i];
      const support = row.reduce((a, b) => a + b, 0);
      const predicted = c.reduce((a, r) => a + r[i], 0);
      const precision = predicted ? tp / predicted : 0;
      const recall = support ? tp / support : 0;
      const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
      return { precision, recall, f1, support };
    });
    const n = Math.max(1, this.count);
    return {
      count: this.count,
      top1: this.hits1 / n,
      top5: this.hits5 / n,
      confusion: c.map((r) => [...r]),
      perClass,
    };
  }
}

/** How many rows of logits [rows, cols] have their largest value at the label. */
export function countCorrect(logits: Float32Array, cols: number, labels: ArrayLike<number>): number {
  let correct = 0;
  for (let r = 0; r < labels.length; r++) {
    let best = 0;
    for (let j = 1; j < cols; j++) if (logits[r * cols + j] > logits[r * cols + best]) best = j;
    if (best === labels[r]) correct++;
  }
  return correct;
}
