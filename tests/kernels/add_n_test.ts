/**
 * `tf.addN` of many tensors on every backend. tfjs-webgpu 4.22 binds every
 * input of `AddN` as a storage buffer; from 8 inputs on that exceeds the
 * device's limit, the shader never runs and the result is a stale buffer.
 * The distillation loop's finiteness check sums one count per variable with
 * `tf.addN`, so `deno task distill --backend=webgpu` stopped with
 * "non-finite weights" on finite weights; the last test runs that command.
 *
 * Every input value is a multiple of 1/4 below 2¹⁰, so every partial sum is
 * exact in float32 whatever the order of the additions: each backend must
 * match the float64 reference (what the cpu backend computes) exactly.
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "assert";
import { testNeeding } from "../_optional.ts";
import { backendTest } from "../_helpers.ts";
import { runTask, smallDistill } from "../_cli.ts";

/** Input `i` of `n`, element `j`: exact in float32, different per input and element. */
const value = (i: number, j: number) => (i + 1) * 0.5 + (j % 5) * 0.25 - (i % 3);

/** Run `fn`, and on WebGPU fail if it raised a validation error (tfjs does not throw them). */
async function noValidationError(fn: () => Promise<void>): Promise<void> {
  // deno-lint-ignore no-explicit-any
  const device = (tf.backend() as any).device as GPUDevice | undefined;
  device?.pushErrorScope("validation");
  let error: GPUError | null | undefined;
  try {
    await fn();
  } finally {
    error = await device?.popErrorScope();
  }
  assert.equal(error ?? null, null, `WebGPU validation error: ${error?.message}`);
}

backendTest("addN sums 1 to 100 tensors exactly", async () => {
  await noValidationError(async () => {
    for (const n of [1, 2, 7, 8, 9, 15, 49, 50, 100]) {
      for (const shape of [[], [2, 3]]) {
        const size = shape.reduce((a, b) => a * b, 1);
        const inputs = Array.from(
          { length: n },
          (_, i) => tf.tensor(Array.from({ length: size }, (_, j) => value(i, j)), shape),
        );
        const sum = tf.addN(inputs);
        const got = Array.from(await sum.data());
        tf.dispose([sum, ...inputs]);
        const want = Array.from({ length: size }, (_, j) => {
          let s = 0;
          for (let i = 0; i < n; i++) s += value(i, j);
          return s;
        });
        assert.deepEqual(got, want, `addN of ${n} tensors of shape [${shape}]`);
      }
    }
  });
});

backendTest("addN sums many int32 tensors exactly", async () => {
  await noValidationError(async () => {
    const inputs = Array.from({ length: 20 }, (_, i) => tf.tensor1d([i, -2 * i, 7], "int32"));
    const sum = tf.addN(inputs);
    assert.equal(sum.dtype, "int32");
    assert.deepEqual(Array.from(await sum.data()), [190, -380, 140]);
    tf.dispose([sum, ...inputs]);
  });
});

backendTest("the loop's finiteness count over 100 variables", async () => {
  // The check in lib/train/loop.ts: one count of non-finite values per variable, summed.
  const vars = Array.from({ length: 100 }, (_, i) => tf.fill([i % 4 + 1, 3], i * 0.01));
  const badAt = tf.tensor1d([1, NaN, Infinity]);
  const count = async (ts: tf.Tensor[]) => {
    const bad = tf.tidy(() =>
      tf.addN(ts.map((v) => tf.sum(tf.cast(tf.logicalNot(tf.isFinite(v)), "float32"))))
    );
    const n = (await bad.data())[0];
    bad.dispose();
    return n;
  };
  await noValidationError(async () => {
    // Leave a stale non-zero buffer in the pool, as a training step does.
    tf.dispose(tf.tidy(() => tf.mul(tf.ones([1]), 5)));
    assert.equal(await count(vars), 0, "finite variables counted as non-finite");
    assert.equal(await count([...vars, badAt]), 2, "non-finite values missed");
  });
  tf.dispose([...vars, badAt]);
});

await testNeeding(["vulkan", "fashion-mnist"], {
  name: "distill --backend=webgpu keeps finite weights and exits 0",
  fn: async () => {
    // The task may write only under runs/ (deno.json), so its cache goes there too.
    const root = `runs/test-webgpu-addn-${crypto.randomUUID().slice(0, 8)}`;
    const args = smallDistill(`${root}/cache`).map((a) =>
      a === "--backend=wasm" ? "--backend=webgpu" : a
    );
    assert.ok(args.includes("--backend=webgpu"), "smallDistill no longer sets --backend=wasm");
    try {
      const r = await runTask("distill", [...args, `--run-dir=${root}/run`]);
      const tail = r.err.trim().split("\n").slice(-3).join("\n");
      assert.doesNotMatch(r.err, /non-finite/, tail);
      assert.equal(r.code, 0, `exit code ${r.code}:\n${tail}`);
    } finally {
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});
