/**
 * Child process for the kill test in checkpoint_test.ts: saves a small good
 * checkpoint to `<dir>/ckpt.safetensors`, prints `good`, then prints
 * `large <bytes of tensor data>` and overwrites it with a large one, the save
 * the parent kills half-way. Prints `done` if it ever finishes.
 *
 *     deno run --allow-read --allow-write=tests/.tmp tests/train/_checkpoint_writer.ts <dir>
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { saveCheckpoint } from "../../lib/io/checkpoint.ts";

/** The good checkpoint's contents; the parent checks them exactly. */
export const GOOD = {
  a: [1, -2.5, 3.25e-7, 1e30],
  b: [[7, -8], [2147483647, -2147483648]],
  m: [0.125, 0.5, -0.75, 0],
  step: 42,
  epoch: 3,
  rng: { seed: 7, counter: [1, 2, 3] },
  config: { model: "resnet18", lr: 0.05 },
};

/** Size of the large checkpoint: 32 tensors of 4 MiB. */
export const LARGE = { tensors: 32, elements: 1 << 20 };

if (import.meta.main) {
  tf.enableProdMode();
  await tf.setBackend("cpu");
  const path = `${Deno.args[0]}/ckpt.safetensors`;
  const variables = {
    "conv/a": tf.tensor1d(GOOD.a),
    "fc/b": tf.tensor2d(GOOD.b, [2, 2], "int32"),
  };
  const optimizer = { "conv/a/m": tf.tensor1d(GOOD.m) };
  const { step, epoch, rng, config } = GOOD;
  await saveCheckpoint(path, { variables, optimizer, step, epoch, rng, config });
  console.log("good");

  const large: Record<string, tf.Tensor> = {};
  for (let i = 0; i < LARGE.tensors; i++) large[`big/${i}`] = tf.fill([LARGE.elements], i + 0.5);
  console.log(`large ${LARGE.tensors * LARGE.elements * 4}`);
  await saveCheckpoint(path, { variables: large, step: 99, epoch: 9 });
  console.log("done");
}
