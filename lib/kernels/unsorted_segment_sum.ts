/**
 * `UnsortedSegmentSum` (the gradient of `gather`) for backends that lack it:
 * `out[s, ...] = Σ_{i : ids[i] = s} x[i, ...]`, ids below zero dropped as in
 * TensorFlow. Runs in JavaScript over the backend's memory; it is only used
 * for embedding-sized gradients.
 *
 * @module
 */
import { type KernelBackend, type TensorInfo, util } from "@tensorflow/tfjs-core";
import type { KernelConfig } from "../tf_types.ts";

/** `UnsortedSegmentSum` for `backendName`. */
export function unsortedSegmentSumConfig(backendName: string): KernelConfig {
  return {
    kernelName: "UnsortedSegmentSum",
    backendName,
    kernelFunc: ({ inputs, attrs, backend: b }) => {
      const backend = b as KernelBackend;
      const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
      const numSegments = (attrs as { numSegments: number }).numSegments;
      const idRank = segmentIds.shape.length;
      const rows = util.sizeFromShape(segmentIds.shape);
      const inner = util.sizeFromShape(x.shape.slice(idRank));
      const values = backend.readSync(x.dataId) as Float32Array | Int32Array;
      const ids = backend.readSync(segmentIds.dataId) as Int32Array;
      const out = x.dtype === "int32"
        ? new Int32Array(numSegments * inner)
        : new Float32Array(numSegments * inner);
      for (let i = 0; i < rows; i++) {
        const s = ids[i];
        if (s < 0) continue;
        if (s >= numSegments) {
          throw new RangeError(
            `UnsortedSegmentSum: segment id ${s} at ${i} is not below numSegments ${numSegments}`,
          );
        }
        const src = i * inner, dst = s * inner;
        for (let j = 0; j < inner; j++) out[dst + j] += values[src + j];
      }
      const shape = [numSegments, ...x.shape.slice(idRank)];
      return { dataId: backend.write(out, shape, x.dtype), shape, dtype: x.dtype };
    },
  };
}
