// Decoded images kept in SharedArrayBuffer chunks up to a byte budget, so that loader workers read them in place
// instead of decoding every epoch.
import type { DecodedImage } from './image.ts';

/** Where a cached image lies: chunk, byte offset, width, height, channels. */
export type CacheRef = [chunk: number, offset: number, width: number, height: number, channels: 1 | 3];

const chunkBytes = 64 * 1024 * 1024;

export function cachedImage(chunks: readonly SharedArrayBuffer[], ref: CacheRef): DecodedImage {
  const [chunk, offset, width, height, channels] = ref;
  return { data: new Uint8Array(chunks[chunk], offset, width * height * channels), width, height, channels };
}

export class PixelCache {
  readonly chunks: SharedArrayBuffer[] = [];
  private readonly refs = new Map<number, CacheRef>();
  private fill = 0;
  /** Bytes held, always ≤ budget. */
  bytes = 0;

  constructor(readonly budget: number) {}

  ref(index: number): CacheRef | undefined {
    return this.refs.get(index);
  }

  get(index: number): DecodedImage | undefined {
    const ref = this.refs.get(index);
    return ref && cachedImage(this.chunks, ref);
  }

  get size(): number {
    return this.refs.size;
  }

  /** Copies the image in, unless it is there already or would go over the budget; says whether it is cached. */
  put(index: number, img: DecodedImage): boolean {
    if (this.refs.has(index)) return true;
    const n = img.data.length;
    let last = this.chunks.length - 1;
    if (last < 0 || this.fill + n > this.chunks[last].byteLength) {
      // The unused tail of the previous chunk counts against the budget: it stays allocated.
      const size = Math.min(Math.max(chunkBytes, n), this.budget - this.allocated());
      if (size < n) return false;
      this.chunks.push(new SharedArrayBuffer(size));
      last++;
      this.fill = 0;
    }
    new Uint8Array(this.chunks[last], this.fill, n).set(img.data);
    this.refs.set(index, [last, this.fill, img.width, img.height, img.channels]);
    this.fill += n;
    this.bytes += n;
    return true;
  }

  private allocated(): number {
    let total = 0;
    for (const c of this.chunks) total += c.byteLength;
    return total;
  }
}
