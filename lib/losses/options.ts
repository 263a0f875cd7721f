/**
 * Private helpers for the losses' option objects and extra input tensors:
 * read a numeric option with its default and range, and check the shape of a
 * queue or memory bank against the embeddings it is compared with.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";

/** The range a numeric option must lie in. */
export interface NumberRange {
  /**
   * Lower bound.
   * @default {-Infinity}
   */
  min?: number;
  /**
   * Whether `min` itself is excluded.
   * @default {false}
   */
  minOpen?: boolean;
  /**
   * Upper bound.
   * @default {Infinity}
   */
  max?: number;
  /**
   * Whether the value must be an integer.
   * @default {false}
   */
  integer?: boolean;
}

/**
 * Read `options[name]`, falling back to `fallback`, and check it: a finite
 * number (`TypeError` / `RangeError` otherwise) inside `range` (`RangeError`).
 *
 * @example
 * ```ts
 * import { numberOption } from "./options.ts";
 *
 * console.log(numberOption("myLoss", {}, "tau", 0.2, { min: 0, minOpen: true })); // 0.2
 * try {
 *   numberOption("myLoss", { tau: 0 }, "tau", 0.2, { min: 0, minOpen: true });
 * } catch (e) {
 *   console.log((e as Error).message); // myLoss: option tau is 0, must be > 0
 * }
 * ```
 */
export function numberOption(
  fn: string,
  options: object,
  name: string,
  fallback: number,
  range: NumberRange = {},
): number {
  const v = (options as Record<string, unknown>)[name] ?? fallback;
  if (typeof v !== "number") {
    throw new TypeError(`${fn}: option ${name} must be a number, got ${typeof v}`);
  }
  if (!Number.isFinite(v)) throw new RangeError(`${fn}: option ${name} is ${v}, not finite`);
  const { min = -Infinity, minOpen = false, max = Infinity, integer = false } = range;
  if (minOpen ? !(v > min) : !(v >= min)) {
    throw new RangeError(`${fn}: option ${name} is ${v}, must be ${minOpen ? ">" : ">="} ${min}`);
  }
  if (v > max) throw new RangeError(`${fn}: option ${name} is ${v}, must be <= ${max}`);
  if (integer && !Number.isInteger(v)) {
    throw new RangeError(`${fn}: option ${name} is ${v}, must be an integer`);
  }
  return v;
}

/** `[a,b]`: a shape as error messages print it. */
export function shapeText(t: tf.Tensor): string {
  return `[${t.shape.join(",")}]`;
}

/**
 * Check that `teacher` and `student` are float32 `[batch, dim]` tensors with
 * the same, non-zero batch; their widths may differ (relational losses such
 * as RKD, SP and PKT compare samples, not features).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { checkBatchPair } from "./options.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const t = tf.zeros([4, 8]);
 * const s = tf.zeros([3, 6]);
 * try {
 *   checkBatchPair("rkdLoss", t, s);
 * } catch (e) {
 *   console.log((e as Error).message); // rkdLoss: teacher shape [4,8] and student shape [3,6] have different batch sizes
 * }
 * tf.dispose([t, s]);
 * ```
 */
export function checkBatchPair(
  fn: string,
  teacher: tf.Tensor,
  student: tf.Tensor,
  minBatch = 1,
): void {
  const shapes = `teacher shape ${shapeText(teacher)} and student shape ${shapeText(student)}`;
  if (teacher.rank !== 2 || student.rank !== 2) {
    throw new RangeError(`${fn}: ${shapes} must both be rank 2 [batch, dim]`);
  }
  if (teacher.shape[0] !== student.shape[0]) {
    throw new RangeError(`${fn}: ${shapes} have different batch sizes`);
  }
  if (teacher.size === 0 || student.size === 0) {
    throw new RangeError(`${fn}: ${shapes} are empty; batch and dim must both be at least 1`);
  }
  if (teacher.shape[0] < minBatch) {
    throw new RangeError(`${fn}: batch size ${teacher.shape[0]} is below ${minBatch}`);
  }
  checkFloat(fn, "teacher", teacher);
  checkFloat(fn, "student", student);
}

/** Throw a `TypeError` unless `t` is float32. */
export function checkFloat(fn: string, role: string, t: tf.Tensor): void {
  if (t.dtype !== "float32") {
    throw new TypeError(`${fn}: ${role} dtype "${t.dtype}" is not float32`);
  }
}

/**
 * Check an extra input against the embeddings it goes with: a float32 tensor
 * `[rows, dim]` with `dim` equal to `like`'s width and, when `sameRows` is
 * set, as many rows as `like`; at least one row in any case.
 */
export function checkCompanion(
  fn: string,
  role: string,
  t: tf.Tensor | undefined,
  like: tf.Tensor,
  likeRole: string,
  sameRows = false,
): void {
  if (t === undefined || t === null) throw new TypeError(`${fn}: ${role} is missing`);
  const both = `${role} shape ${shapeText(t)} and ${likeRole} shape ${shapeText(like)}`;
  if (t.rank !== 2) throw new RangeError(`${fn}: ${role} shape ${shapeText(t)} is not rank 2`);
  if (t.shape[1] !== like.shape[1]) throw new RangeError(`${fn}: ${both} differ in width`);
  if (sameRows && t.shape[0] !== like.shape[0]) {
    throw new RangeError(`${fn}: ${both} differ in batch size`);
  }
  if (t.shape[0] === 0) throw new RangeError(`${fn}: ${role} shape ${shapeText(t)} has no rows`);
  checkFloat(fn, role, t);
}
