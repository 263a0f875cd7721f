import * as tf from "@tensorflow/tfjs-core";
import assert from "assert";
import { testNeeding } from "./_optional.ts";
import { initBackend, probeWebGPU, WEBGPU_SUBMIT_BATCH } from "../lib/backend.ts";

const root = new URL("../", import.meta.url);
const quiet = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "initBackend: explicit cpu and wasm, reported on exactly one line",
  ...quiet,
  fn: async () => {
    for (const backend of ["cpu", "wasm"] as const) {
      const lines: string[] = [];
      const info = await initBackend({ backend, log: (l) => lines.push(l) });
      assert.equal(info.name, backend);
      assert.equal(tf.getBackend(), backend);
      assert.equal(info.source, "options");
      assert.equal(lines.length, 1);
      assert.equal(lines[0], info.line);
      assert.match(info.line, new RegExp(`^coss backend: ${backend} \\(requested`));
    }
  },
});

Deno.test({
  name: "initBackend: wasm gets the seven training kernels, cpu one",
  ...quiet,
  fn: async () => {
    const wasm = await initBackend({ backend: "wasm", log: false });
    assert.deepEqual(wasm.kernels.toSorted(), [
      "Conv2DBackpropFilter",
      "Conv2DBackpropInput",
      "DepthwiseConv2dNativeBackpropFilter",
      "DepthwiseConv2dNativeBackpropInput",
      "MaxPoolGrad",
      "Sum",
      "UnsortedSegmentSum",
    ]);
    for (const k of wasm.kernels) assert.ok(tf.getKernel(k, "wasm"), k);
    const cpu = await initBackend({ backend: "cpu", log: false });
    assert.deepEqual(cpu.kernels, ["Conv2DBackpropFilter"]);
  },
});

await testNeeding(["vulkan"], {
  name: "initBackend: auto skips a software WebGPU adapter for wasm and says so",
  ...quiet,
  fn: async () => {
    const probe = await probeWebGPU();
    const info = await initBackend({ backend: "auto", log: false });
    if (probe.software) {
      assert.equal(info.name, "wasm");
      assert.equal(info.softwareAdapter, true);
      assert.match(info.reason, /software adapter/);
      assert.ok(info.reason.includes(probe.description), info.reason);
    } else {
      assert.equal(info.name, "webgpu");
      assert.match(info.reason, /real GPU adapter/);
    }
  },
});

await testNeeding(["vulkan"], {
  name: "initBackend: explicit webgpu on a software adapter works and is labelled",
  ...quiet,
  fn: async () => {
    const info = await initBackend({ backend: "webgpu", log: false });
    assert.equal(info.name, "webgpu");
    assert.equal(tf.getBackend(), "webgpu");
    assert.deepEqual(info.kernels, [
      "Conv2DBackpropFilter",
      "AddN",
      "CossBatchNormForward",
      "CossBatchNormGrad",
      "CossBatchNormInference",
      "CossSgdUpdate",
      "CossAdamWUpdate",
    ]);
    assert.equal(tf.env().getNumber("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE"), WEBGPU_SUBMIT_BATCH);
    const x = tf.tensor1d([1, 2, 3]);
    const y = tf.square(x);
    assert.deepEqual(Array.from(await y.data()), [1, 4, 9]);
    tf.dispose([x, y]);
    if (info.softwareAdapter) assert.match(info.reason, /software adapter: correct but slow/);
  },
});

Deno.test({
  name: "initBackend: COSS_BACKEND is read when no option is given",
  ...quiet,
  fn: async () => {
    Deno.env.set("COSS_BACKEND", "cpu");
    try {
      const info = await initBackend({ log: false });
      assert.equal(info.name, "cpu");
      assert.equal(info.source, "COSS_BACKEND");
      Deno.env.set("COSS_BACKEND", "gpu");
      await assert.rejects(
        initBackend({ log: false }),
        (e: Error) =>
          e instanceof RangeError &&
          e.message ===
            'Unknown backend "gpu" (from COSS_BACKEND): expected one of auto, webgpu, wasm, cpu',
      );
    } finally {
      Deno.env.delete("COSS_BACKEND");
    }
  },
});

Deno.test({
  name: "initBackend: an unknown option value is a RangeError",
  ...quiet,
  fn: async () => {
    await assert.rejects(
      // @ts-expect-error: a wrong name, as from untyped config
      initBackend({ backend: "webgl", log: false }),
      RangeError,
    );
  },
});

/** Run `code` as a module in a child `deno run` from the repository root; its stdout and stderr. */
async function runScript(code: string, env: Record<string, string> = {}) {
  const child = new Deno.Command("deno", {
    args: ["run", "--quiet", "--allow-read", "--allow-env", "-"],
    cwd: root,
    env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(code));
  await w.close();
  const { stdout, stderr } = await child.output();
  const dec = new TextDecoder();
  return { out: dec.decode(stdout), err: dec.decode(stderr) };
}

Deno.test("initBackend: explicit webgpu without an adapter is an error, not a fallback", async () => {
  // Ask Deno for a graphics API this OS lacks, so no adapter exists, in a child process.
  const code = `import { initBackend } from "./lib/backend.ts";
try { await initBackend({ backend: "webgpu", log: false }); console.log("NO ERROR"); }
catch (e) { console.log("ERROR " + e.message); }`;
  const { out } = await runScript(code, { DENO_WEBGPU_BACKEND: "dx12" });
  assert.match(out, /^ERROR WebGPU requested but unavailable: /m);
});

await testNeeding(["vulkan"], {
  name: "initBackend: a WebGPU validation error is reported on stderr, not swallowed",
  fn: async () => {
    // tfjs's own AddN of 9 tensors binds 10 storage buffers, over the default limit of 8.
    const code = `import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "./lib/backend.ts";
import { originalKernel } from "./lib/kernels/mod.ts";
await initBackend({ backend: "webgpu", log: false });
tf.unregisterKernel("AddN", "webgpu");
tf.registerKernel(originalKernel("AddN", "webgpu"));
await tf.addN(Array.from({ length: 9 }, () => tf.ones([3]))).data();
await new Promise((r) => setTimeout(r, 200));
console.log("DONE");`;
    const { out, err } = await runScript(code);
    assert.match(out, /DONE/);
    const lines = err.split("\n").filter((l) => l.startsWith("coss: WebGPU error"));
    assert.ok(lines.length >= 1, err);
    assert.match(lines[0], /^coss: WebGPU error #1 \(results may be wrong\): .*StorageBuffers/);
  },
});
