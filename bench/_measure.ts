/**
 * Timing loops and the medians the bench reports.
 *
 * @module
 */

/** Wall-clock samples of one case on one backend, in milliseconds. */
export interface Timing {
  /** Timed iterations. */
  iters: number;
  /** Untimed iterations run first. */
  warmup: number;
  /** Every timed iteration, in order. */
  samplesMs: number[];
  /** Median of the samples (the mean of the middle two for an even count). */
  medianMs: number;
  /** Fastest sample. */
  minMs: number;
  /** Slowest sample. */
  maxMs: number;
}

/**
 * The median of a non-empty list: the middle value, or the mean of the two
 * middle values for an even count.
 *
 * @example
 * ```ts
 * import { median } from "./_measure.ts";
 * console.log(median([3, 1, 2]), median([4, 1, 3, 2])); // 2 2.5
 * ```
 *
 * @throws {RangeError} For an empty list.
 */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError("median of an empty list");
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Summarise samples as a {@linkcode Timing}. */
export function summarize(samplesMs: number[], warmup: number): Timing {
  return {
    iters: samplesMs.length,
    warmup,
    samplesMs,
    medianMs: median(samplesMs),
    minMs: Math.min(...samplesMs),
    maxMs: Math.max(...samplesMs),
  };
}

/**
 * Run `step` `warmup` times untimed, then `iters` times timed. `step`
 * must await its own readback, so that each sample covers the computation
 * and not only its scheduling.
 */
export async function timeSteps(
  step: () => Promise<void>,
  iters: number,
  warmup: number,
  onSample?: (i: number, ms: number) => void,
): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await step();
  const samples: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    await step();
    const ms = performance.now() - t0;
    samples.push(ms);
    onSample?.(i, ms);
  }
  return summarize(samples, warmup);
}
