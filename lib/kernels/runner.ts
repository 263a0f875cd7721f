/**
 * Run a backend's own kernels directly from inside another kernel, tracking
 * every intermediate so it is freed exactly once. Intermediates never reach
 * the engine, so they cost no tensor bookkeeping and never leak into the tape.
 */
import {
  getKernel,
  type KernelBackend,
  type NamedAttrMap,
  type TensorInfo,
} from "@tensorflow/tfjs-core";
import type { KernelConfig } from "../tf_types.ts";

/** Kernels the toolkit replaced, as tfjs registered them, by `backend/kernelName`. */
const originals = new Map<string, KernelConfig>();

/**
 * Record `backend`'s `kernelName` as tfjs shipped it, before the toolkit
 * replaces it. Only the first call for a kernel records anything.
 */
export function recordOriginal(kernelName: string, backend: string): void {
  const key = `${backend}/${kernelName}`;
  if (originals.has(key)) return;
  const config = getKernel(kernelName, backend);
  if (config) originals.set(key, config);
}

/** tfjs's own `kernelName` on `backend` if the toolkit replaced it, else undefined. */
export function originalKernel(kernelName: string, backend: string): KernelConfig | undefined {
  return originals.get(`${backend}/${kernelName}`);
}

/**
 * tfjs's own `kernelName` on `backend`, for the calls a toolkit kernel hands
 * back to it; throws `problem` (by default: there is none) when the toolkit
 * did not replace one.
 */
export function requireOriginal(
  kernelName: string,
  backend: string,
  problem = `coss kernels: backend ${backend} has no ${kernelName} of its own to delegate to`,
): KernelConfig {
  const config = originalKernel(kernelName, backend);
  if (!config) throw new Error(problem);
  return config;
}

/** Scratch space for one kernel invocation on one backend. */
export class KernelRunner {
  #temps: TensorInfo[] = [];

  constructor(readonly backend: KernelBackend, readonly backendName: string) {}

  /** Run `kernelName` on this backend; the result is freed by {@linkcode dispose}. */
  run(
    kernelName: string,
    inputs: Record<string, TensorInfo>,
    attrs: Record<string, unknown> = {},
  ): TensorInfo {
    const config = getKernel(kernelName, this.backendName);
    if (!config) throw new Error(`coss kernels: backend ${this.backendName} lacks ${kernelName}`);
    const out = config.kernelFunc({
      inputs,
      attrs: attrs as NamedAttrMap,
      backend: this.backend,
    }) as TensorInfo;
    this.#temps.push(out);
    return out;
  }

  /** Free `info`, made outside this runner, with the intermediates. */
  adopt(info: TensorInfo): TensorInfo {
    this.#temps.push(info);
    return info;
  }

  /** Keep `info` past {@linkcode dispose} (the kernel's output). */
  keep(info: TensorInfo): TensorInfo {
    const i = this.#temps.lastIndexOf(info);
    if (i >= 0) this.#temps.splice(i, 1);
    return info;
  }

  /** Free every intermediate not kept. */
  dispose(): void {
    for (const t of this.#temps) this.backend.disposeData(t.dataId);
    this.#temps = [];
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run("Reshape", { x }, { shape });
  }

  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run("Transpose", { x }, { perm });
  }

  slice(x: TensorInfo, begin: number[], size: number[]): TensorInfo {
    return this.run("Slice", { x }, { begin, size });
  }

  pad(x: TensorInfo, paddings: [number, number][]): TensorInfo {
    return this.run("PadV2", { x }, { paddings, constantValue: 0 });
  }

  /** Join `xs` along `axis`. */
  concat(xs: TensorInfo[], axis: number): TensorInfo {
    // Concat takes its inputs as a list, not by name.
    return this.run("Concat", xs as unknown as Record<string, TensorInfo>, { axis });
  }

  sum(x: TensorInfo, axis: number[]): TensorInfo {
    return this.run("Sum", { x }, { axis, keepDims: false });
  }

  /**
   * `[n,k] x [k,m]` products through BatchMatMul with a batch of one. A
   * transposed operand is copied first: wasm's BatchMatMul is much slower with
   * `transposeA` or `transposeB` than a copy then a plain product
   * (docs/performance.md, "Smaller measurements behind the code").
   */
  matMul(a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): TensorInfo {
    const a2 = transposeA ? this.transpose(a, [1, 0]) : a;
    const b2 = transposeB ? this.transpose(b, [1, 0]) : b;
    const a3 = this.reshape(a2, [1, ...a2.shape]);
    const b3 = this.reshape(b2, [1, ...b2.shape]);
    const out = this.run("BatchMatMul", { a: a3, b: b3 }, { transposeA: false, transposeB: false });
    return this.reshape(out, out.shape.slice(1));
  }

  /**
   * Pad (positive) or crop (negative) the two spatial axes of an NHWC tensor
   * by `[top, bottom, left, right]`; returns the input itself when all are 0.
   */
  padOrCrop(x: TensorInfo, [top, bottom, left, right]: number[]): TensorInfo {
    const [n, h, w, c] = x.shape;
    let out = x;
    if (top < 0 || bottom < 0 || left < 0 || right < 0) {
      const t = Math.max(0, -top), b = Math.max(0, -bottom);
      const l = Math.max(0, -left), r = Math.max(0, -right);
      out = this.slice(out, [0, t, l, 0], [n, h - t - b, w - l - r, c]);
    }
    if (top > 0 || bottom > 0 || left > 0 || right > 0) {
      out = this.pad(out, [
        [0, 0],
        [Math.max(0, top), Math.max(0, bottom)],
        [Math.max(0, left), Math.max(0, right)],
        [0, 0],
      ]);
    }
    return out;
  }

  /**
   * Insert `sh - 1` zero rows after every row and `sw - 1` zero columns after
   * every column of an NHWC tensor: `[n,h,w,c] -> [n,h*sh,w*sw,c]`.
   */
  zeroInsert(x: TensorInfo, sh: number, sw: number): TensorInfo {
    const [n, h, w, c] = x.shape;
    let out = x;
    // Two rank-4 pads rather than one rank-6 pad: WebGPU's PadV2 is wrong above rank 4.
    if (sh > 1) {
      const rows = this.reshape(out, [n * h, 1, w, c]);
      const padded = this.pad(rows, [[0, 0], [0, sh - 1], [0, 0], [0, 0]]);
      out = this.reshape(padded, [n, h * sh, w, c]);
    }
    if (sw > 1) {
      const cols = this.reshape(out, [n * h * sh, w, 1, c]);
      const padded = this.pad(cols, [[0, 0], [0, 0], [0, sw - 1], [0, 0]]);
      out = this.reshape(padded, [n, h * sh, w * sw, c]);
    }
    return out;
  }
}
