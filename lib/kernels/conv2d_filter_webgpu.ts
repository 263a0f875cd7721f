/**
 * `Conv2DBackpropFilter` for WebGPU as one implicit-GEMM shader.
 *
 * tfjs-webgpu 4.22 computes the weight gradient with one thread per filter
 * element, each summing `B·Ho·Wo` products straight from global memory. Here
 * it is the matrix product `dW[M,N] = Aᵀ·dY` with `M = kh·kw·Ci`, `N = Co` and
 * `K = B·Ho·Wo`, where `A[k, (a,b,i)] = X[n, y·s+a-p, x·s+b-p, i]` is the
 * im2col matrix, never materialised: each workgroup stages a `16 × tile`
 * slice of `A` (gathered from `X`) and of `dY` in workgroup memory and every
 * thread accumulates a 4×4 block of `dW`. When the output has few tiles, `K`
 * is split across workgroups (split-K) and the partial products are summed
 * by the backend's `Sum`.
 *
 * NHWC only; other layouts go to tfjs's own kernel.
 *
 * @module
 */
import type { KernelBackend, TensorInfo } from "@tensorflow/tfjs-core";
import type { WebGPUBackend, WebGPUProgram } from "@tensorflow/tfjs-backend-webgpu";
import { KernelRunner } from "./runner.ts";
import { convInfo, nchwDelegate } from "./conv2d_grads.ts";
import type { KernelConfig } from "../tf_types.ts";

/** Options for {@linkcode conv2DBackpropFilterWebGPUConfig}. */
export interface Conv2DFilterGemmOptions {
  /**
   * Split the `B·Ho·Wo` reduction until the dispatch has about this many
   * workgroups (each split costs one partial `[M, N]` buffer and a `Sum`).
   * @default {256}
   */
  targetWorkgroups?: number;
  /**
   * Never split the reduction into chunks shorter than this.
   * @default {1024}
   */
  minChunk?: number;
}

/** Rows of `A`/`dY` staged per pass. */
const TILE_K = 16;

/** The launch geometry of one weight-gradient product. */
export interface FilterGemmPlan {
  /** Threads per workgroup side; each thread owns a 4×4 block. */
  threads: 8 | 16;
  /** Output tile side, `4 · threads`. */
  tile: number;
  /** Number of K chunks (1: no split). */
  splits: number;
  /** Length of each K chunk, a multiple of 16. */
  chunk: number;
  /** Workgroups along N, M and the splits. */
  dispatch: [number, number, number];
}

/**
 * The workgroup layout for `dW[m, n]`, `m < M`, `n < N`, reduced over `K`.
 *
 * @example
 * ```ts
 * import { planFilterGemm } from "./conv2d_filter_webgpu.ts";
 * // ResNet-18's first 3×3 layer at batch 64 on 32×32: 576×64 outputs over 65536 rows.
 * const plan = planFilterGemm(576, 64, 65536);
 * console.log(plan.threads, plan.dispatch); // 16 [1, 9, 29]: 9 tiles of 64×64, K split 29 ways
 * ```
 */
export function planFilterGemm(
  m: number,
  n: number,
  k: number,
  options: Conv2DFilterGemmOptions = {},
): FilterGemmPlan {
  const { targetWorkgroups = 256, minChunk = 1024 } = options;
  const threads = m * n >= 64 * 64 * 4 ? 16 : 8;
  const tile = 4 * threads;
  const tiles = Math.ceil(m / tile) * Math.ceil(n / tile);
  const maxSplits = Math.max(1, Math.floor(k / minChunk));
  const wanted = Math.max(1, Math.min(maxSplits, Math.ceil(targetWorkgroups / tiles)));
  const chunk = Math.ceil(k / wanted / TILE_K) * TILE_K;
  const splits = Math.ceil(k / chunk);
  return {
    threads,
    tile,
    splits,
    chunk,
    dispatch: [Math.ceil(n / tile), Math.ceil(m / tile), splits],
  };
}

/** The shader: partial `dW` products, one `[M, N]` slab per K chunk. */
class FilterGemmProgram implements WebGPUProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [2], y: [1], z: [0] };
  dispatch: [number, number, number];
  variableNames = ["x", "dy"];
  uniforms = "pads : vec2<i32>, strides : vec2<i32>, inSize : vec2<i32>, outSize : vec2<i32>, " +
    "kw : i32, ci : i32, dimM : i32, dimN : i32, dimK : i32, chunk : i32,";
  workgroupSize: [number, number, number];
  #threads: number;

  constructor(m: number, n: number, plan: FilterGemmPlan) {
    this.outputShape = [plan.splits, m, n];
    this.dispatch = plan.dispatch;
    this.workgroupSize = [plan.threads, plan.threads, 1];
    this.#threads = plan.threads;
    this.shaderKey = `cossConv2DFilterGemm_${plan.threads}`;
  }

  getUserCode(): string {
    const t = this.#threads;
    const tile = 4 * t;
    const loads = (TILE_K * tile) / (t * t); // A (and dY) values each thread stages per pass
    const rowStep = (t * t) / tile;
    return `
      var<workgroup> tileA : array<array<f32, ${tile}>, ${TILE_K}>;
      var<workgroup> tileB : array<array<f32, ${tile}>, ${TILE_K}>;

      fn main() {
        let tx = i32(localId.x);
        let ty = i32(localId.y);
        let lid = i32(localIndex);
        let n0 = i32(workgroupId.x) * ${tile};
        let m0 = i32(workgroupId.y) * ${tile};
        let split = i32(workgroupId.z);
        let kBegin = split * uniforms.chunk;
        let kEnd = min(kBegin + uniforms.chunk, uniforms.dimK);

        // The A column and dY column this thread stages; fixed across passes.
        let col = lid % ${tile};
        let row0 = lid / ${tile};
        let m = m0 + col;
        let channel = m % uniforms.ci;
        let tap = m / uniforms.ci;
        let fa = tap / uniforms.kw;
        let fb = tap % uniforms.kw;
        let mValid = m < uniforms.dimM;
        let n = n0 + col;
        let nValid = n < uniforms.dimN;

        var acc : array<array<f32, 4>, 4>;
        let passes = (uniforms.chunk + ${TILE_K - 1}) / ${TILE_K};
        for (var p = 0; p < passes; p = p + 1) {
          for (var j = 0; j < ${loads}; j = j + 1) {
            let r = row0 + j * ${rowStep};
            let k = kBegin + p * ${TILE_K} + r;
            var av = 0.0;
            var bv = 0.0;
            if (k < kEnd) {
              let ox = k % uniforms.outSize.y;
              let rest = k / uniforms.outSize.y;
              let oy = rest % uniforms.outSize.x;
              let b = rest / uniforms.outSize.x;
              let iy = oy * uniforms.strides.x + fa - uniforms.pads.x;
              let ix = ox * uniforms.strides.y + fb - uniforms.pads.y;
              if (mValid && iy >= 0 && iy < uniforms.inSize.x && ix >= 0 && ix < uniforms.inSize.y) {
                av = x[((b * uniforms.inSize.x + iy) * uniforms.inSize.y + ix) * uniforms.ci + channel];
              }
              if (nValid) {
                bv = dy[k * uniforms.dimN + n];
              }
            }
            tileA[r][col] = av;
            tileB[r][col] = bv;
          }
          workgroupBarrier();
          for (var kk = 0; kk < ${TILE_K}; kk = kk + 1) {
            var a : array<f32, 4>;
            var bb : array<f32, 4>;
            for (var i = 0; i < 4; i = i + 1) {
              a[i] = tileA[kk][ty + i * ${t}];
              bb[i] = tileB[kk][tx + i * ${t}];
            }
            for (var i = 0; i < 4; i = i + 1) {
              for (var jj = 0; jj < 4; jj = jj + 1) {
                acc[i][jj] = acc[i][jj] + a[i] * bb[jj];
              }
            }
          }
          workgroupBarrier();
        }
        for (var i = 0; i < 4; i = i + 1) {
          let om = m0 + ty + i * ${t};
          for (var jj = 0; jj < 4; jj = jj + 1) {
            let on = n0 + tx + jj * ${t};
            if (om < uniforms.dimM && on < uniforms.dimN) {
              result[(split * uniforms.dimM + om) * uniforms.dimN + on] = acc[i][jj];
            }
          }
        }
      }
    `;
  }
}

/**
 * `Conv2DBackpropFilter` for the `webgpu` backend as an implicit GEMM
 * (see the module doc); `dataFormat: "NCHW"` goes to tfjs's own kernel.
 */
export function conv2DBackpropFilterWebGPUConfig(
  backendName = "webgpu",
  options: Conv2DFilterGemmOptions = {},
): KernelConfig {
  const fallback = nchwDelegate("Conv2DBackpropFilter", backendName);
  return {
    kernelName: "Conv2DBackpropFilter",
    backendName,
    kernelFunc: (args) => {
      const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
      const attrs = args.attrs as Record<string, unknown>;
      const filterShape = attrs.filterShape as [number, number, number, number];
      const info = convInfo(x.shape, filterShape, attrs);
      if (info.dataFormat !== "channelsLast") return fallback(args);
      const [kh, kw, ci, co] = filterShape;
      const m = kh * kw * ci;
      const k = info.batchSize * info.outHeight * info.outWidth;
      const plan = planFilterGemm(m, co, k, options);
      const backend = args.backend as unknown as WebGPUBackend;
      const program = new FilterGemmProgram(m, co, plan);
      const partials = backend.runWebGPUProgram(program, [x, dy], "float32", [
        { type: "int32", data: [info.padInfo.top, info.padInfo.left] },
        { type: "int32", data: [info.strideHeight, info.strideWidth] },
        { type: "int32", data: [info.inHeight, info.inWidth] },
        { type: "int32", data: [info.outHeight, info.outWidth] },
        { type: "int32", data: [kw] },
        { type: "int32", data: [ci] },
        { type: "int32", data: [m] },
        { type: "int32", data: [co] },
        { type: "int32", data: [k] },
        { type: "int32", data: [plan.chunk] },
      ]);
      const r = new KernelRunner(args.backend as KernelBackend, backendName);
      try {
        r.adopt(partials);
        const summed = plan.splits > 1 ? r.sum(partials, [0]) : partials;
        return r.keep(r.reshape(summed, filterShape));
      } finally {
        r.dispose();
      }
    },
  };
}
