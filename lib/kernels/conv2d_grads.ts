/**
 * Conv2D gradients written as forward convolutions, so they run on the
 * backend's fast forward kernel (XNNPACK on wasm).
 *
 * Weight gradient (NHWC, stride s, padding top/left p):
 * `dW[a,b,i,o] = Σ_{n,y,x} X[n, y·s+a-p, x·s+b-p, i] · dY[n,y,x,o]`, which is a
 * stride-1 convolution of `Xᵀ = [Ci,H,W,B]` by the filter `dYᵀ = [Ho,Wo,B,Co]`
 * with dilation `s`, transposed back to `[kh,kw,Ci,Co]`.
 *
 * Input gradient: `dX` is the stride-1 convolution of `dY` with zeros inserted
 * between its rows and columns (`s-1` of them) by the spatially flipped,
 * in/out-swapped filter, padded by `k-1-p` on the leading side. For stride 1
 * nothing is inserted. 1×1 kernels skip convolution for a single matmul.
 *
 * Few input channels (the first layer): at stride 1 the weight gradient is
 * also one matmul, `dW = colsᵀ·dY` over the transposed im2col matrix
 * `colsᵀ = [kh·kw·Ci, B·Ho·Wo]`, on backends where that is faster.
 *
 * @module
 */
import {
  backend_util,
  type KernelBackend,
  type KernelFunc,
  type TensorInfo,
} from "@tensorflow/tfjs-core";
import { KernelRunner, requireOriginal } from "./runner.ts";
import type { KernelConfig } from "../tf_types.ts";

/** Per-side spatial padding `[top, bottom, left, right]`; negative crops. */
export type Pads = [number, number, number, number];

/**
 * A forward `Conv2D` (or `DepthwiseConv2dNative`) with per-side padding
 * `[top, bottom, left, right]`; negative padding crops.
 */
export function convWithPads(
  r: KernelRunner,
  x: TensorInfo,
  filter: TensorInfo,
  strides: [number, number],
  dilations: [number, number],
  [t, b, l, rt]: Pads,
  kernelName: "Conv2D" | "DepthwiseConv2dNative" = "Conv2D",
): TensorInfo {
  const cropped = r.padOrCrop(x, [Math.min(t, 0), Math.min(b, 0), Math.min(l, 0), Math.min(rt, 0)]);
  return r.run(kernelName, { x: cropped, filter }, {
    strides,
    dilations,
    pad: [[0, 0], [Math.max(t, 0), Math.max(b, 0)], [Math.max(l, 0), Math.max(rt, 0)], [0, 0]],
    dataFormat: "NHWC",
  });
}

/** `computeConv2DInfo` for a conv-gradient kernel's attributes (dilation 1). */
export function convInfo(
  xShape: number[],
  filterShape: number[],
  attrs: Record<string, unknown>,
): backend_util.Conv2DInfo {
  const format = backend_util.convertConv2DDataFormat((attrs.dataFormat as "NHWC") ?? "NHWC");
  return backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as [number, number],
    1,
    attrs.pad as "same",
    attrs.dimRoundingMode as "floor" | undefined,
    false,
    format,
  );
}

/**
 * `x[:, ::sh, ::sw, :]` limited to `ho × wo` positions, via a reshape and a
 * rank-4 slice (wasm's StridedSlice is much slower: docs/performance.md,
 * "Smaller measurements behind the code").
 */
function subsample(r: KernelRunner, x: TensorInfo, sh: number, sw: number, ho: number, wo: number) {
  const [n, h, w, c] = x.shape;
  if (sh === 1 && sw === 1 && ho === h && wo === w) return x;
  const fitted = r.padOrCrop(x, [0, ho * sh - h, 0, wo * sw - w]);
  const grouped = r.reshape(fitted, [n * ho, sh, wo, sw * c]);
  return r.reshape(r.slice(grouped, [0, 0, 0, 0], [n * ho, 1, wo, c]), [n, ho, wo, c]);
}

/** Options for {@linkcode conv2DBackpropFilterConfig}. */
export interface Conv2DBackpropFilterOptions {
  /**
   * Stride-1 layers with at most this many input channels get their filter
   * gradient as one im2col matrix product instead of a dilated convolution.
   * On wasm it is faster up to 4 channels and slower from 8; on cpu it is
   * slower at any width (docs/performance.md, "Smaller measurements behind
   * the code").
   * @default {4 on wasm, 0 elsewhere}
   */
  im2colMaxChannels?: number;
}

const IM2COL_MAX_CHANNELS: Record<string, number> = { wasm: 4 };

/**
 * Stride-1 `dW = colsᵀ · dY`, with `colsᵀ = [kh·kw·Ci, B·Ho·Wo]` whose row
 * `(a, b, i)` is input channel `i` seen through filter tap `(a, b)` at every
 * output position: one shifted window of the padded input per tap.
 */
function filterGradIm2col(
  r: KernelRunner,
  x: TensorInfo,
  dy: TensorInfo,
  filterShape: number[],
  info: backend_util.Conv2DInfo,
): TensorInfo {
  const [kh, kw, ci, co] = filterShape;
  const [n, h, w] = x.shape;
  const { outHeight: ho, outWidth: wo, padInfo: { top, left } } = info;
  // Channels first and no trailing unit axis: Slice copies whole image rows, not single values.
  const planes = r.reshape(ci === 1 ? x : r.transpose(x, [3, 0, 1, 2]), [ci * n, h, w]);
  const bottom = ho + kh - 1 - h - top;
  const right = wo + kw - 1 - w - left;
  const padded = top || bottom || left || right
    ? r.pad(planes, [[0, 0], [top, bottom], [left, right]])
    : planes;
  const rows: TensorInfo[] = [];
  for (let a = 0; a < kh; a++) {
    for (let b = 0; b < kw; b++) {
      const window = r.slice(padded, [0, a, b], [ci * n, ho, wo]);
      rows.push(r.reshape(window, [ci, n * ho * wo]));
    }
  }
  const dw = r.matMul(r.concat(rows, 0), r.reshape(dy, [n * ho * wo, co]), false, false);
  return r.reshape(dw, filterShape);
}

/** tfjs's own `kernelName` on `backendName`, for the layouts the toolkit's kernel leaves to it. */
export function nchwDelegate(kernelName: string, backendName: string): KernelFunc {
  const problem = `coss kernels: ${kernelName} on ${backendName} supports only NHWC data`;
  return (args) => requireOriginal(kernelName, backendName, problem).kernelFunc(args);
}

/** `Conv2DBackpropFilter` for `backendName`, built on its forward Conv2D or MatMul. */
export function conv2DBackpropFilterConfig(
  backendName: string,
  options: Conv2DBackpropFilterOptions = {},
): KernelConfig {
  const fallback = nchwDelegate("Conv2DBackpropFilter", backendName);
  const im2colMaxChannels = options.im2colMaxChannels ?? IM2COL_MAX_CHANNELS[backendName] ?? 0;
  return {
    kernelName: "Conv2DBackpropFilter",
    backendName,
    kernelFunc: (args) => {
      const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
      const attrs = args.attrs as Record<string, unknown>;
      const filterShape = attrs.filterShape as number[];
      const info = convInfo(x.shape, filterShape, attrs);
      if (info.dataFormat !== "channelsLast") return fallback(args);
      const r = new KernelRunner(args.backend as KernelBackend, backendName);
      try {
        const [kh, kw, ci, co] = filterShape;
        const [, h, w] = x.shape;
        const { strideHeight: sh, strideWidth: sw, outHeight: ho, outWidth: wo } = info;
        const { top, left } = info.padInfo;
        if (kh === 1 && kw === 1 && top === 0 && left === 0) {
          const xs = subsample(r, x, sh, sw, ho, wo);
          const rows = x.shape[0] * ho * wo;
          const dw = r.matMul(r.reshape(xs, [rows, ci]), r.reshape(dy, [rows, co]), true, false);
          return r.keep(r.reshape(dw, [1, 1, ci, co]));
        }
        if (ci <= im2colMaxChannels && sh === 1 && sw === 1) {
          return r.keep(filterGradIm2col(r, x, dy, filterShape, info));
        }
        const xt = r.transpose(x, [3, 1, 2, 0]);
        const dyt = r.transpose(dy, [1, 2, 0, 3]);
        const bottom = kh + (ho - 1) * sh - h - top;
        const right = kw + (wo - 1) * sw - w - left;
        const out = convWithPads(r, xt, dyt, [1, 1], [sh, sw], [top, bottom, left, right]);
        return r.keep(r.transpose(out, [1, 2, 0, 3]));
      } finally {
        r.dispose();
      }
    },
  };
}

/** `Conv2DBackpropInput` for `backendName`, built on its forward Conv2D. */
export function conv2DBackpropInputConfig(backendName: string): KernelConfig {
  const fallback = nchwDelegate("Conv2DBackpropInput", backendName);
  return {
    kernelName: "Conv2DBackpropInput",
    backendName,
    kernelFunc: (args) => {
      const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
      const attrs = args.attrs as Record<string, unknown>;
      const inputShape = attrs.inputShape as number[];
      const info = convInfo(inputShape, filter.shape, attrs);
      if (info.dataFormat !== "channelsLast") return fallback(args);
      const r = new KernelRunner(args.backend as KernelBackend, backendName);
      try {
        const [n, h, w, ci] = inputShape;
        const [kh, kw, , co] = filter.shape;
        const { strideHeight: sh, strideWidth: sw, outHeight: ho, outWidth: wo } = info;
        const { top, left } = info.padInfo;
        if (kh === 1 && kw === 1) {
          const rows = n * ho * wo;
          const f = r.reshape(filter, [ci, co]);
          const m = r.matMul(r.reshape(dy, [rows, co]), f, false, true);
          const z = r.zeroInsert(r.reshape(m, [n, ho, wo, ci]), sh, sw);
          const pads = [-top, h - ho * sh + top, -left, w - wo * sw + left];
          return r.keep(r.padOrCrop(z, pads));
        }
        const z = r.zeroInsert(dy, sh, sw);
        const flipped = r.run("Reverse", { x: filter }, { dims: [0, 1] });
        const swapped = r.transpose(flipped, [0, 1, 3, 2]);
        const pads: Pads = [
          kh - 1 - top,
          h - ho * sh + top,
          kw - 1 - left,
          w - wo * sw + left,
        ];
        return r.keep(convWithPads(r, z, swapped, [1, 1], [1, 1], pads));
      } finally {
        r.dispose();
      }
    },
  };
}
