/**
 * Keyed random streams for the batch samplers: an {@linkcode Rng} seeded by
 * `(seed, epoch, batch)`, so any batch of any epoch can be regenerated
 * without replaying the ones before it (which is what makes resuming from a
 * checkpoint exact). The key mixing uses the murmur3 `fmix32` finaliser.
 *
 * @module
 */
import { Rng } from "./rng.ts";

/** murmur3's fmix32: a well-mixed uint32 from a uint32. */
function fmix32(z: number): number {
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** A uint32 stream key from integer parts (each taken modulo 2^32, high bits folded in). */
export function streamKey(...parts: number[]): number {
  let h = 0x243f6a88;
  for (const p of parts) {
    const lo = p >>> 0;
    const hi = Math.floor(p / 4294967296) >>> 0;
    h = fmix32((h ^ lo) + 0x9e3779b9);
    h = fmix32((h ^ hi) + 0x7f4a7c15);
  }
  return h;
}

/** The generator for the stream keyed by `parts`. */
export function streamRng(...parts: number[]): Rng {
  return new Rng(streamKey(...parts));
}
