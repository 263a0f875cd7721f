/**
 * The bench's GPU side without a GPU: WebGPU work counted at the API (exact
 * on llvmpipe), the tables that report it and the torch.compile column, and
 * the flags that size cases (`--set`) and place PyTorch (`--torch-device`).
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "assert";
import { main } from "../../tasks/bench.ts";
import { CASES } from "../../bench/cases.ts";
import { withSets } from "../../bench/run.ts";
import { type BenchRow, formatCompiled, formatGpuWork } from "../../bench/report.ts";
import { countGpuWork } from "../../bench/_gpu_work.ts";
import { summarize } from "../../bench/_measure.ts";
import { backendTest } from "../_helpers.ts";
import type { TorchCaseResult } from "../../bench/_python.ts";

backendTest("countGpuWork: one elementwise op is one dispatch, its readback one map", async () => {
  // Large enough that tfjs-webgpu does not hand the op to the CPU (WEBGPU_CPU_FORWARD).
  const n = 4096;
  const a = tf.tensor1d(Float32Array.from({ length: n }, (_, i) => i % 7));
  const b = tf.tensor1d(Float32Array.from({ length: n }, (_, i) => i % 5));
  const { result, work } = await countGpuWork(async () => {
    const c = tf.add(a, b);
    const d = tf.mul(c, c);
    const values = await d.data();
    tf.dispose([c, d]);
    return Array.from(values);
  }, { byKernel: true });
  assert.deepEqual(result, Array.from({ length: n }, (_, i) => (i % 7 + i % 5) ** 2));
  assert.equal(work.dispatches, 2);
  assert.equal(work.uploads, 2, "a and b go up once, when first used");
  assert.equal(work.readbacks, 1);
  assert.equal(work.bindGroups, 2);
  assert.ok(work.uniformWrites >= 2, JSON.stringify(work));
  assert.deepEqual(work.byKernel?.map((k) => [k.name, k.dispatches]).sort(), [
    ["Add", 1],
    ["Multiply", 1],
  ]);
  // The wrappers are gone afterwards: nothing counts a later dispatch.
  const e = tf.add(a, b);
  await e.data();
  assert.equal(work.dispatches, 2);
  tf.dispose([a, b, e]);
}, { backends: ["webgpu"] });

Deno.test("withSets: overrides a case's own keys and refuses others, naming the valid ones", () => {
  const spec = CASES["step-r18"];
  const config = spec.config(false);
  assert.equal(withSets(spec, config, { "step-r18": { batch: 256 } }).batch, 256);
  assert.equal(config.batch, 64, "the case's config is not changed");
  assert.throws(
    () => withSets(spec, config, { "step-r18": { bacth: 256 } }),
    /--set step-r18\.bacth: "bacth" is not a setting of step-r18; its settings are .*batch/,
  );
  assert.throws(
    () => withSets(spec, config, { "step-r18": { batch: "big" } }),
    /--set step-r18\.batch=big: expected a number, like its default 64/,
  );
});

Deno.test("bench: bad --set, --torch-device and --torch-timeout are usage errors", async () => {
  for (
    const args of [
      ["--set", "step-r18"],
      ["--set", "nope.batch=2"],
      ["--set", "step-r18.depth=2"],
      ["--torch-device", "tpu"],
      ["--torch-timeout", "0"],
    ]
  ) assert.equal(await main(args), 2, args.join(" "));
});

function row(over: Partial<BenchRow>): BenchRow {
  return {
    case: "step-r18",
    backend: "webgpu",
    status: "ok",
    images: 256,
    params: 1,
    timing: summarize([100, 120, 110], 1),
    imagesPerSec: 2327,
    memory: null,
    rss: null,
    loadavg: null,
    torch: null,
    ratio: null,
    ...over,
  };
}

Deno.test("formatGpuWork and formatCompiled: one row per webgpu row that has them", () => {
  assert.equal(formatGpuWork([row({})]), "");
  const work = {
    dispatches: 423,
    bindGroups: 423,
    buffersCreated: 3,
    bytesCreated: 3 * 2 ** 20,
    uploads: 3,
    uniformWrites: 423,
    readbacks: 1,
    submits: 5,
  };
  const gpu = formatGpuWork([row({ gpuWork: work }), row({ backend: "wasm" })]).split("\n");
  assert.equal(gpu.length, 5);
  assert.equal(gpu[4], "| step-r18 | 423 | 423 | 3 (3.00) | 3 | 423 | 1 | 5 |");
  const torch = { medianMs: 40 } as TorchCaseResult;
  const compiled = { medianMs: 20, warmupMs: 24_500 } as TorchCaseResult;
  const table = formatCompiled([
    row({ torch, ratio: 110 / 40, torchCompiled: compiled, ratioCompiled: 110 / 20 }),
  ]).split("\n");
  assert.equal(table.at(-1), "| step-r18 | webgpu | 110 | 40.0 | 20.0 | 24.5 | 2.75× | 5.50× |");
  assert.equal(formatCompiled([row({ torch })]), "", "no compiled result, no table");
});
