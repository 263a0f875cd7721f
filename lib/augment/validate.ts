/**
 * Validation of augmentation steps: one-line errors naming the step index,
 * the key and the allowed values, with a suggestion for misspelt names.
 *
 * @module
 */
import { closest } from "../util/suggest.ts";
import { AUGMENT_OPS, type AugmentStep, type ResolvedStep } from "./types.ts";

const KEYS: Record<AugmentStep["op"], readonly string[]> = {
  randomResizedCrop: ["op", "size", "scale", "ratio"],
  horizontalFlip: ["op", "p"],
  colorJitter: ["op", "brightness", "contrast", "saturation", "hue", "p"],
  grayscale: ["op", "p"],
  gaussianBlur: ["op", "sigma", "p", "kernelSize"],
  resize: ["op", "size"],
  centerCrop: ["op", "size"],
  normalize: ["op", "mean", "std"],
};

/** What is wrong with a step, as data: the step index, the key, what is allowed and what was given. */
export interface AugmentStepFault {
  /** The step's index in the list. */
  index: number;
  /** The key at fault (`"op"` for an unknown op); absent when the step is not a mapping. */
  key?: string;
  /**
   * `step`: not a mapping; `op`: unknown op; `key`: unknown key; `missing`: a
   * required key left out; `value`: a bad value.
   */
  kind: "step" | "op" | "key" | "missing" | "value";
  /** What is allowed, as it reads after "must be" (for `missing`: what to give). */
  expected: string;
  /** The value as the message shows it (`undefined` when absent). */
  got: string;
  /** The likeliest intended name, for an unknown op or key. */
  suggestion?: string;
}

/**
 * An invalid augmentation step: a `TypeError` (wrong type, unknown key) or
 * `RangeError` (unknown op, out of range) whose one-line message is for
 * people and whose `fault` is the same, as data.
 */
export type AugmentStepError = (TypeError | RangeError) & { readonly fault: AugmentStepFault };

function stepError(range: boolean, message: string, fault: AugmentStepFault): AugmentStepError {
  return Object.assign(range ? new RangeError(message) : new TypeError(message), { fault });
}

/**
 * The fault an error of {@linkcode validateAugmentSteps} carries, or
 * undefined for any other error.
 *
 * @example
 * ```ts
 * import { augmentStepFault, validateAugmentSteps } from "./augment.ts";
 * try {
 *   validateAugmentSteps([{ op: "grayscale", p: 2 }]);
 * } catch (e) {
 *   console.log(augmentStepFault(e)?.index, augmentStepFault(e)?.key); // 0 "p"
 * }
 * ```
 */
export function augmentStepFault(e: unknown): AugmentStepFault | undefined {
  if (!(e instanceof TypeError || e instanceof RangeError) || !("fault" in e)) return undefined;
  return (e as AugmentStepError).fault;
}

const show = (v: unknown): string => v === undefined ? "undefined" : JSON.stringify(v);
const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isPair = (v: unknown): v is [number, number] =>
  Array.isArray(v) && v.length === 2 && isNum(v[0]) && isNum(v[1]);

class StepChecker {
  constructor(readonly index: number, readonly step: Record<string, unknown>) {}

  get where(): string {
    return `augment step ${this.index} (${this.step.op})`;
  }

  fail(key: string, want: string, range = false): never {
    const got = show(this.step[key]);
    throw stepError(range, `${this.where}: "${key}" must be ${want}, got ${got}`, {
      index: this.index,
      key,
      kind: "value",
      expected: want,
      got,
    });
  }

  /** A required key left out; `what` is what to give. */
  missing(key: string, what: string): never {
    const got = show(this.step[key]);
    throw stepError(false, `${this.where}: "${key}" must be given (${what}), got ${got}`, {
      index: this.index,
      key,
      kind: "missing",
      expected: what,
      got,
    });
  }

  size(key: string): [number, number] | number {
    const v = this.step[key];
    const ok = (n: unknown) => Number.isInteger(n) && (n as number) >= 1;
    if (ok(v)) return v as number;
    if (Array.isArray(v) && v.length === 2 && ok(v[0]) && ok(v[1])) return [v[0], v[1]];
    return this.fail(key, "a positive integer or an [height, width] pair of them");
  }

  prob(fallback: number): number {
    const v = this.step.p;
    if (v === undefined) return fallback;
    if (!isNum(v)) this.fail("p", "a probability in [0, 1]");
    if (v < 0 || v > 1) this.fail("p", "a probability in [0, 1]", true);
    return v;
  }

  range(key: string, fallback: [number, number], lo: number, hi: number, scalar = false) {
    let v = this.step[key] ?? fallback;
    const pairText = `a [min, max] pair with ${lo} < min ≤ max${hi < Infinity ? ` ≤ ${hi}` : ""}`;
    const want = scalar ? `a number > ${lo} or ${pairText}` : pairText;
    if (scalar && isNum(v)) v = [v, v];
    if (!isPair(v)) this.fail(key, want);
    if (!(v[0] > lo && v[0] <= v[1] && v[1] <= hi)) this.fail(key, want, true);
    return [v[0], v[1]] as [number, number];
  }

  /** torchvision's `ColorJitter._check_input`. */
  factor(key: string, center: number, bound: [number, number], clip: boolean) {
    const v = this.step[key];
    if (v === undefined) return null;
    const want = `a number ≥ 0 or a [min, max] pair within [${bound.join(", ")}]`;
    let r: [number, number];
    if (isNum(v)) {
      if (v < 0 || (key === "hue" && v > 0.5)) this.fail(key, want, true);
      r = [center - v, center + v];
      if (clip) r[0] = Math.max(r[0], 0);
    } else if (isPair(v)) {
      r = [v[0], v[1]];
    } else {
      return this.fail(key, want);
    }
    if (!(bound[0] <= r[0] && r[0] <= r[1] && r[1] <= bound[1])) this.fail(key, want, true);
    return r[0] === center && r[1] === center ? null : r;
  }

  numbers(key: string): number[] {
    const v = this.step[key];
    if (!Array.isArray(v) || v.length === 0 || !v.every(isNum)) {
      this.fail(key, "a non-empty array of finite numbers");
    }
    return [...v];
  }
}

/** The error of an op not in `AUGMENT_OPS`, naming the closest one when `op` is a string. */
function unknownOp(index: number, op: unknown): AugmentStepError {
  const suggestion = typeof op === "string"
    ? closest(op, AUGMENT_OPS, { always: true })
    : undefined;
  const hint = suggestion === undefined ? "" : `; did you mean "${suggestion}"?`;
  const got = show(op);
  return stepError(
    true,
    `augment step ${index}: unknown op ${got}${hint} Valid ops: ${AUGMENT_OPS.join(", ")}`,
    { index, key: "op", kind: "op", expected: `one of ${AUGMENT_OPS.join(", ")}`, got, suggestion },
  );
}

/** The error of a key the op does not take, naming the closest one it does. */
function unknownKey(c: StepChecker, key: string, keys: readonly string[]): AugmentStepError {
  const suggestion = closest(key, keys.slice(1), { always: true });
  return stepError(
    false,
    `${c.where}: unknown key "${key}"; did you mean "${suggestion}"? Allowed keys: ${
      keys.join(", ")
    }`,
    {
      index: c.index,
      key,
      kind: "key",
      expected: `one of ${keys.join(", ")}`,
      got: show(key),
      suggestion,
    },
  );
}

function pair(size: number | [number, number]): [number, number] {
  return typeof size === "number" ? [size, size] : size;
}

/**
 * Check one step and resolve its defaults. Errors are one line naming the
 * step index, the key and the allowed values.
 */
export function resolveStep(step: unknown, index: number): ResolvedStep {
  if (step === null || typeof step !== "object" || Array.isArray(step)) {
    const [expected, got] = ['an object with an "op"', show(step)];
    throw stepError(false, `augment step ${index} must be ${expected}, got ${got}`, {
      index,
      kind: "step",
      expected,
      got,
    });
  }
  const s = step as Record<string, unknown>;
  if (typeof s.op !== "string" || !(AUGMENT_OPS as readonly string[]).includes(s.op)) {
    throw unknownOp(index, s.op);
  }
  const op = s.op as AugmentStep["op"];
  const c = new StepChecker(index, s);
  for (const key of Object.keys(s)) {
    if (!KEYS[op].includes(key)) throw unknownKey(c, key, KEYS[op]);
  }
  switch (op) {
    case "randomResizedCrop":
      if (s.size === undefined) c.missing("size", "a positive integer or [height, width]");
      return {
        op,
        size: pair(c.size("size")),
        scale: c.range("scale", [0.2, 1], 0, 1),
        ratio: c.range("ratio", [3 / 4, 4 / 3], 0, Infinity),
      };
    case "horizontalFlip":
      return { op, p: c.prob(0.5) };
    case "grayscale":
      return { op, p: c.prob(0.2) };
    case "colorJitter":
      return {
        op,
        p: c.prob(0.8),
        ranges: [
          c.factor("brightness", 1, [0, Infinity], true),
          c.factor("contrast", 1, [0, Infinity], true),
          c.factor("saturation", 1, [0, Infinity], true),
          c.factor("hue", 0, [-0.5, 0.5], false),
        ],
      };
    case "gaussianBlur": {
      const k = s.kernelSize;
      if (
        k !== undefined && !(Number.isInteger(k) && (k as number) >= 1 && (k as number) % 2 === 1)
      ) {
        c.fail("kernelSize", "an odd positive integer", Number.isInteger(k));
      }
      return {
        op,
        p: c.prob(0.5),
        sigma: c.range("sigma", [0.1, 2], 0, Infinity, true),
        kernelSize: (k as number | undefined) ?? null,
      };
    }
    case "resize":
      if (s.size === undefined) c.missing("size", "a shorter side, or [height, width]");
      return { op, size: c.size("size") };
    case "centerCrop":
      if (s.size === undefined) c.missing("size", "a positive integer or [height, width]");
      return { op, size: pair(c.size("size")) };
    case "normalize": {
      const mean = c.numbers("mean");
      const std = c.numbers("std");
      if (std.length !== mean.length) {
        c.fail("std", `an array as long as "mean" (${mean.length})`, true);
      }
      if (!std.every((v) => v > 0)) c.fail("std", "an array of positive numbers", true);
      return { op, mean, std };
    }
  }
}

/**
 * Validate a list of steps from a config, returning deep copies.
 *
 * @example
 * ```ts
 * import { validateAugmentSteps } from "./augment.ts";
 *
 * const steps = validateAugmentSteps([
 *   { op: "horizontalFlip", p: 0.5 },
 *   { op: "normalize", mean: [0.286], std: [0.353] },
 * ]);
 * console.log(steps.length); // 2
 * try {
 *   validateAugmentSteps([{ op: "rotate" }]);
 * } catch (e) {
 *   console.log((e as Error).name); // "RangeError": unknown op
 * }
 * ```
 *
 * @param steps The parsed config value.
 * @returns The steps, validated.
 * @throws {TypeError} For a non-array, a wrong type or an unknown key.
 * @throws {RangeError} For an unknown op or a value out of range.
 */
export function validateAugmentSteps(steps: unknown): AugmentStep[] {
  if (!Array.isArray(steps)) {
    throw new TypeError(`augment steps must be an array, got ${show(steps)}`);
  }
  steps.forEach(resolveStep);
  return structuredClone(steps) as AugmentStep[];
}
