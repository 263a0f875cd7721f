/**
 * Depthwise-conv gradients for backends that lack them (wasm), written as
 * forward depthwise convolutions.
 *
 * Weight gradient: fold the batch into the channels, `X → [1,H,W,C·B]`, and
 * use `dY → [Ho,Wo,C·B,m]` as the filter, with stride = the forward dilation
 * and dilation = the forward stride; the result `[1,kh,kw,C·B·m]` summed over
 * the batch is `dW[kh,kw,C,m]`.
 *
 * Input gradient: insert `s-1` zeros between the rows and columns of `dY`,
 * convolve depthwise (stride 1, the forward dilation) with the spatially
 * flipped filter reshaped to `[kh,kw,C·m,1]`, then sum the `m` multiplier
 * channels of each input channel.
 *
 * @module
 */
import { backend_util, type KernelBackend, type TensorInfo } from "@tensorflow/tfjs-core";
import { KernelRunner } from "./runner.ts";
import { convWithPads } from "./conv2d_grads.ts";
import type { KernelConfig } from "../tf_types.ts";

function depthwiseInfo(
  xShape: number[],
  filterShape: number[],
  attrs: Record<string, unknown>,
): backend_util.Conv2DInfo {
  return backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as [number, number],
    (attrs.dilations as [number, number]) ?? 1,
    attrs.pad as "same",
    attrs.dimRoundingMode as "floor" | undefined,
    true,
  );
}

/** `DepthwiseConv2dNativeBackpropFilter` for `backendName`. */
export function depthwiseBackpropFilterConfig(backendName: string): KernelConfig {
  return {
    kernelName: "DepthwiseConv2dNativeBackpropFilter",
    backendName,
    kernelFunc: (args) => {
      const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
      const attrs = args.attrs as Record<string, unknown>;
      const filterShape = attrs.filterShape as number[];
      const info = depthwiseInfo(x.shape, filterShape, attrs);
      const r = new KernelRunner(args.backend as KernelBackend, backendName);
      try {
        const [b, h, w, c] = x.shape;
        const [kh, kw, , m] = filterShape;
        const { strideHeight: sh, strideWidth: sw, outHeight: ho, outWidth: wo } = info;
        const { dilationHeight: dh, dilationWidth: dw } = info;
        const { top, left } = info.padInfo;
        const xin = r.reshape(r.transpose(x, [1, 2, 3, 0]), [1, h, w, c * b]);
        const dy5 = r.reshape(dy, [b, ho, wo, c, m]);
        const f = r.reshape(r.transpose(dy5, [1, 2, 3, 0, 4]), [ho, wo, c * b, m]);
        const bottom = (kh - 1) * dh + (ho - 1) * sh + 1 - h - top;
        const right = (kw - 1) * dw + (wo - 1) * sw + 1 - w - left;
        const out = convWithPads(
          r,
          xin,
          f,
          [dh, dw],
          [sh, sw],
          [top, bottom, left, right],
          "DepthwiseConv2dNative",
        );
        const summed = r.sum(r.reshape(out, [kh, kw, c, b, m]), [3]);
        return r.keep(summed);
      } finally {
        r.dispose();
      }
    },
  };
}

/** `DepthwiseConv2dNativeBackpropInput` for `backendName`. */
export function depthwiseBackpropInputConfig(backendName: string): KernelConfig {
  return {
    kernelName: "DepthwiseConv2dNativeBackpropInput",
    backendName,
    kernelFunc: (args) => {
      const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
      const attrs = args.attrs as Record<string, unknown>;
      const inputShape = attrs.inputShape as number[];
      const info = depthwiseInfo(inputShape, filter.shape, attrs);
      const r = new KernelRunner(args.backend as KernelBackend, backendName);
      try {
        const [b, h, w, c] = inputShape;
        const [kh, kw, , m] = filter.shape;
        const { strideHeight: sh, strideWidth: sw, outHeight: ho, outWidth: wo } = info;
        const { dilationHeight: dh, dilationWidth: dw } = info;
        const { top, left } = info.padInfo;
        const z = r.zeroInsert(dy, sh, sw);
        const flipped = r.run("Reverse", { x: filter }, { dims: [0, 1] });
        const f = r.reshape(flipped, [kh, kw, c * m, 1]);
        const padTop = (kh - 1) * dh - top;
        const padLeft = (kw - 1) * dw - left;
        const out = convWithPads(r, z, f, [1, 1], [dh, dw], [
          padTop,
          h - ho * sh + top,
          padLeft,
          w - wo * sw + left,
        ], "DepthwiseConv2dNative");
        if (m === 1) return r.keep(out);
        return r.keep(r.sum(r.reshape(out, [b, h, w, c, m]), [4]));
      } finally {
        r.dispose();
      }
    },
  };
}
