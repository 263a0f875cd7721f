/**
 * The `teacher-embed` case in onnxruntime-node: the same ResNet (same
 * arguments, same seed, so the same weights) exported by the toolkit's ONNX
 * writer and run natively with PyTorch's thread count, on the same images
 * (NCHW), reading the features back every iteration.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { ONNX_INPUT, ONNX_OUTPUT, onnxModelBytes } from "../lib/models/onnx_export.ts";
import { createModel } from "../lib/models/registry.ts";
import type { CaseConfig, CaseInstance } from "./_types.ts";

/** The row's backend label. */
export const ONNX_BACKEND = "onnxruntime-node";

/** Build the case: export, open a session with `threads` intra-op threads, fix the input. */
export async function onnxTeacherCase(c: CaseConfig, threads: number): Promise<CaseInstance> {
  const ort = await import("onnxruntime-node");
  const model = createModel(`resnet${c.depth}` as "resnet50", {
    stem: "cifar",
    width: c.width as number,
    inChannels: c.channels as number,
  });
  let bytes: Uint8Array;
  const params = model.parameterCount;
  try {
    bytes = await onnxModelBytes(model);
  } finally {
    model.dispose();
  }
  const [batch, size, channels] = [c.batch, c.size, c.channels] as number[];
  // The images of teacherCase (randomImages(c, 3) in _builders.ts), transposed to NCHW.
  const nchw = tf.tidy(() =>
    tf.transpose(tf.randomNormal([batch, size, size, channels], 0, 1, "float32", 3), [0, 3, 1, 2])
  );
  const data = await nchw.data() as Float32Array;
  nchw.dispose();
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: ["cpu"],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: "all",
  });
  const feeds = { [ONNX_INPUT]: new ort.Tensor("float32", data, [batch, channels, size, size]) };
  return {
    images: batch,
    params,
    async step() {
      const out = (await session.run(feeds))[ONNX_OUTPUT];
      void (out.data as Float32Array)[0];
      out.dispose();
    },
    dispose() {
      void session.release();
    },
  };
}
