/**
 * A small seedable pseudo-random number generator whose whole state is four
 * 32-bit integers, so that it can be saved in a JSON checkpoint and resumed
 * exactly.
 *
 * The generator is xoshiro128** 1.1 (Blackman & Vigna, "Scrambled linear
 * pseudorandom number generators", 2018, https://prng.di.unimi.it/), seeded
 * by running splitmix32 over the seed. It is fast, passes BigCrush, and has a
 * period of 2^128 − 1. It is not cryptographic.
 *
 * @example Draw, save, resume
 * ```ts
 * import { Rng } from "./rng.ts";
 *
 * const rng = new Rng(42);
 * rng.next();
 * const saved = rng.state(); // four uint32, JSON-safe
 * const a = [rng.next(), rng.int(10), rng.normal()];
 * const b = Rng.fromState(saved);
 * console.log(a[0] === b.next() && a[1] === b.int(10) && a[2] === b.normal()); // true
 * ```
 *
 * @module
 */

const TWO_32 = 4294967296;

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** The splitmix32 (murmur3 fmix32) finaliser: a well-mixed uint32 from a uint32. */
function mix32(z: number): number {
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

const GOLDEN_GAMMA = 0x9e3779b9;

/**
 * A seedable xoshiro128** generator with serialisable state.
 *
 * Every method draws a documented number of 32-bit outputs, so a sequence of
 * calls is reproducible from the seed alone: {@linkcode Rng.next} and
 * {@linkcode Rng.uniform} draw one, {@linkcode Rng.int} one (rarely more, by
 * rejection), {@linkcode Rng.normal} two.
 *
 * @example
 * ```ts
 * import { Rng } from "./rng.ts";
 *
 * const rng = new Rng(7);
 * console.log(rng.uniform(0.2, 1)); // a number in [0.2, 1)
 * console.log(rng.permutation(4)); // e.g. [2, 0, 3, 1]
 * ```
 */
export class Rng {
  #s0 = 0;
  #s1 = 0;
  #s2 = 0;
  #s3 = 0;

  /**
   * Seed a generator. Equal seeds give equal sequences.
   *
   * @param seed Any safe integer (negative ones included); both its low and
   *   high 32 bits are used.
   * @throws {TypeError} When the seed is not a safe integer.
   */
  constructor(seed: number) {
    if (typeof seed !== "number" || !Number.isSafeInteger(seed)) {
      throw new TypeError(`Rng seed must be a safe integer, got ${String(seed)}`);
    }
    const lo = seed >>> 0;
    const hi = Math.floor(seed / TWO_32) >>> 0;
    // splitmix32: a Weyl sequence through the mixer, started from both seed halves.
    let counter = lo ^ mix32((hi + GOLDEN_GAMMA) | 0);
    const words: number[] = [];
    for (let i = 0; i < 4; i++) words.push(mix32(counter = (counter + GOLDEN_GAMMA) | 0) | 0);
    if ((words[0] | words[1] | words[2] | words[3]) === 0) words[0] = 1;
    [this.#s0, this.#s1, this.#s2, this.#s3] = words;
  }

  /**
   * Rebuild a generator from {@linkcode Rng.state}'s output.
   *
   * @example
   * ```ts
   * import { Rng } from "./rng.ts";
   *
   * const copy = Rng.fromState(new Rng(1).state());
   * console.log(copy.next() === new Rng(1).next()); // true
   * ```
   *
   * @param state Four integers in `[0, 2^32)`, not all zero.
   * @returns A generator that continues exactly where the saved one was.
   * @throws {TypeError} When `state` is not an array of four integers.
   * @throws {RangeError} When a word is out of range or all are zero.
   */
  static fromState(state: readonly number[]): Rng {
    if (!Array.isArray(state) || state.length !== 4) {
      throw new TypeError(
        `Rng state must be an array of 4 uint32 words, got ${JSON.stringify(state)}`,
      );
    }
    for (const [i, w] of state.entries()) {
      if (typeof w !== "number" || !Number.isInteger(w)) {
        throw new TypeError(`Rng state word ${i} must be an integer, got ${JSON.stringify(w)}`);
      }
      if (w < 0 || w >= TWO_32) {
        throw new RangeError(`Rng state word ${i} is ${w}, outside [0, 2^32)`);
      }
    }
    if (state.every((w) => w === 0)) {
      throw new RangeError("Rng state [0, 0, 0, 0] is invalid: xoshiro128** would emit only 0");
    }
    const rng = new Rng(0);
    [rng.#s0, rng.#s1, rng.#s2, rng.#s3] = state.map((w) => w | 0);
    return rng;
  }

  /**
   * The generator's state: four uint32 words, JSON-serialisable.
   *
   * @returns A copy; changing it does not affect the generator.
   */
  state(): number[] {
    return [this.#s0 >>> 0, this.#s1 >>> 0, this.#s2 >>> 0, this.#s3 >>> 0];
  }

  /**
   * An independent copy at the same position.
   *
   * @returns A new generator with this one's state.
   */
  clone(): Rng {
    return Rng.fromState(this.state());
  }

  /**
   * The next raw 32-bit output.
   *
   * @returns An integer in `[0, 2^32)`.
   */
  nextUint32(): number {
    const s0 = this.#s0;
    const s1 = this.#s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
    const t = s1 << 9;
    this.#s2 ^= s0;
    this.#s3 ^= s1;
    this.#s1 ^= this.#s2;
    this.#s0 ^= this.#s3;
    this.#s2 ^= t;
    this.#s3 = rotl(this.#s3, 11);
    return result >>> 0;
  }

  /**
   * A uniform number in `[0, 1)` with 32 random bits (one output).
   *
   * @returns `nextUint32() / 2^32`.
   */
  next(): number {
    return this.nextUint32() / TWO_32;
  }

  /**
   * A uniform number in `[a, b)` (one output), as `a + (b − a) · next()`.
   *
   * @param a Lower end.
   * @param b Upper end; `b ≥ a` is not required.
   * @returns The number.
   */
  uniform(a: number, b: number): number {
    return a + (b - a) * this.next();
  }

  /**
   * A uniform integer in `[0, n)`, without modulo bias (rejection sampling;
   * one output except with probability below `n / 2^32`).
   *
   * @param n A positive integer up to 2^32.
   * @returns The integer.
   * @throws {RangeError} When `n` is not an integer in `[1, 2^32]`.
   */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_32) {
      throw new RangeError(`Rng.int(n) needs an integer n in [1, 2^32], got ${n}`);
    }
    const limit = TWO_32 - (TWO_32 % n);
    let u = this.nextUint32();
    while (u >= limit) u = this.nextUint32();
    return u % n;
  }

  /**
   * A standard normal number, by the Box–Muller transform (two outputs; the
   * second variate is discarded so that the state stays four words).
   *
   * @returns A sample of N(0, 1).
   */
  normal(): number {
    const u1 = 1 - this.next(); // (0, 1]: log is finite
    const u2 = this.next();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /**
   * A uniformly random permutation of `0 … n−1` (Fisher–Yates, `n − 1`
   * calls to {@linkcode Rng.int}).
   *
   * @param n Length, a non-negative integer.
   * @returns The permutation.
   */
  permutation(n: number): number[] {
    if (!Number.isInteger(n) || n < 0) {
      throw new RangeError(`Rng.permutation(n) needs a non-negative integer, got ${n}`);
    }
    const p = Array.from({ length: n }, (_, i) => i);
    return this.shuffle(p);
  }

  /**
   * Shuffle an array in place (Fisher–Yates) and return it.
   *
   * @param items The array to shuffle.
   * @returns The same array, shuffled.
   */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i];
      items[i] = items[j];
      items[j] = tmp;
    }
    return items;
  }
}
