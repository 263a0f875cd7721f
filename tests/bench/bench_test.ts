/**
 * Smoke test of `deno task bench`: the harness runs every case at tiny sizes
 * for one iteration on wasm and cpu (and PyTorch where it is importable),
 * writes a results.json of the documented shape and a Markdown table, and
 * computes ratios and medians right. It measures no speed.
 */
import assert from "assert";
import { testNeeding } from "../_optional.ts";
import { main } from "../../tasks/bench.ts";
import { median } from "../../bench/_measure.ts";
import { CASE_NAMES } from "../../bench/cases.ts";
import {
  BENCH_SCHEMA,
  type BenchReport,
  type BenchRow,
  fmt,
  formatTable,
  formatTables,
  imagesPerSecond,
  TABLE_COLUMNS,
  timeRatio,
} from "../../bench/report.ts";
import { summarize } from "../../bench/_measure.ts";
import {
  deriveTeacherCache,
  formatTeacherCache,
  TEACHER_CACHE_CASE,
  TEACHER_CACHE_COLUMNS,
  TEACHER_CACHE_SPAN_COLUMNS,
  type TeacherCacheResult,
} from "../../bench/_teacher_cache_table.ts";
import { WEBGPU_GRADS_CASE } from "../../bench/_webgpu_grads.ts";
import { IGNORE_DEBIAN_FASHION_MNIST, withTempDir } from "../_helpers.ts";

/** The cases that run on wasm and cpu (`webgpu-grads` is WebGPU only, tested apart). */
const CPU_CASES = CASE_NAMES.filter((c) => c !== WEBGPU_GRADS_CASE);

const cellsOf = (line: string) => line.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim());

Deno.test("bench: median, ratio and images/s arithmetic", () => {
  assert.equal(median([5]), 5);
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.throws(() => median([]), RangeError);
  assert.equal(timeRatio(300, 200), 1.5);
  assert.equal(timeRatio(300, null), null);
  assert.equal(timeRatio(null, 200), null);
  assert.equal(timeRatio(300, 0), null);
  assert.equal(imagesPerSecond(128, 500), 256);
  assert.equal(imagesPerSecond(null, 500), null);
  assert.deepEqual([fmt(2512.4), fmt(38.25), fmt(1.234), fmt(0.4567), fmt(null)], [
    "2512",
    "38.3",
    "1.23",
    "0.457",
    "",
  ]);
});

Deno.test("bench: the Markdown table has one row per result and a fixed set of columns", () => {
  const torch = {
    case: "step-cnn28",
    iters: 3,
    warmup: 1,
    samplesMs: [190, 200, 210],
    medianMs: 200,
    minMs: 190,
    maxMs: 210,
    images: 128,
    params: 10,
    detail: "",
    threads: 2,
    torch: "1.13",
    peakRssBytes: 400 * 2 ** 20,
    startRssBytes: 300 * 2 ** 20,
    loadavg: [0.5, 0.5, 0.5],
  };
  const ok: BenchRow = {
    case: "step-cnn28",
    backend: "wasm",
    status: "ok",
    images: 128,
    params: 10,
    timing: {
      iters: 3,
      warmup: 1,
      samplesMs: [290, 300, 310],
      medianMs: 300,
      minMs: 290,
      maxMs: 310,
    },
    imagesPerSec: imagesPerSecond(128, 300),
    memory: { numBytes: 2 * 2 ** 20, numTensors: 42, leakedTensors: 0 },
    rss: { method: "vmhwm", startBytes: 100 * 2 ** 20, peakBytes: 250 * 2 ** 20 },
    loadavg: [1.5, 1, 1],
    torch,
    ratio: timeRatio(300, 200),
  };
  const skipped: BenchRow = {
    ...ok,
    backend: "cpu",
    status: "skipped",
    reason: "too slow; --force runs it",
    timing: null,
    ratio: null,
  };
  const table = formatTable([ok, skipped]).split("\n");
  assert.equal(table.length, 4);
  assert.deepEqual(cellsOf(table[0]), [...TABLE_COLUMNS]);
  for (const line of table.slice(2)) assert.equal(cellsOf(line).length, TABLE_COLUMNS.length);
  const cells = cellsOf(table[2]);
  const col = (name: string) => cells[TABLE_COLUMNS.indexOf(name)];
  assert.equal(col("tfjs median ms"), "300");
  assert.equal(col("PyTorch median ms"), "200");
  assert.equal(col("tfjs / PyTorch"), "1.50×");
  assert.equal(col("tfjs img/s"), "427");
  assert.equal(col("PyTorch img/s"), "640");
  assert.equal(col("tf.memory MiB / tensors"), "2.00 / 42");
  assert.equal(col("peak RSS MiB (start), tfjs"), "250 (100)");
  assert.equal(col("peak RSS MiB (start), PyTorch"), "400 (300)");
  assert.deepEqual(cellsOf(table[3]).slice(0, 4), ["step-cnn28", "cpu", "skipped", "too slow"]);
});

Deno.test("bench: teacher-cache extrapolates the medians to spans, ratios online / cached", () => {
  const t = deriveTeacherCache({
    config: "default.yaml",
    subset: 1000,
    batch: 100,
    sampler: "neighbour",
    stepsPerEpoch: 125,
    imagesPerEpoch: 16000,
    runSteps: 30,
    online: summarize([300, 320, 280], 1),
    cached: summarize([100, 200, 140], 1),
    build: { images: 1000, ms: 5000 },
    mineMs: 1000,
  });
  assert.equal(t.stepRatio, 300 / 140);
  assert.equal(t.pairedRatio, 2); // median of 3, 1.6, 2
  assert.equal(t.buildMsPerImage, 5);
  assert.deepEqual(t.spans.map((s) => [s.name, s.steps]), [["epoch", 125], ["pass", 10], [
    "run",
    30,
  ]]);
  const pass = t.spans[1];
  assert.ok(Math.abs(pass.onlineS - 3) < 1e-12 && Math.abs(pass.cachedS - 1.4) < 1e-12);
  assert.ok(Math.abs(pass.cachedWithBuildS - 6.4) < 1e-12);
  assert.ok(Math.abs(pass.ratioWithBuild - 3 / 6.4) < 1e-12);
  assert.ok(Math.abs(pass.ratioWithSetup! - 9 / 7.4) < 1e-12);
  assert.equal(deriveTeacherCache({ ...t, mineMs: null, runSteps: null }).spans.length, 2);
  assert.equal(deriveTeacherCache({ ...t, mineMs: null }).spans[0].ratioWithSetup, null);

  const row: BenchRow = {
    case: TEACHER_CACHE_CASE,
    backend: "wasm",
    status: "ok",
    images: 200,
    params: 10,
    timing: summarize([400, 520, 420], 1),
    imagesPerSec: 1,
    memory: { numBytes: 2 ** 20, numTensors: 5, leakedTensors: 0 },
    rss: { method: "vmhwm", startBytes: 2 ** 20, peakBytes: 2 ** 21 },
    loadavg: [0.5, 0.5, 0.5],
    torch: null,
    ratio: null,
    teacherCache: t,
  };
  const lines = formatTeacherCache([row, { ...row, backend: "cpu", status: "skipped" }])
    .split("\n");
  assert.match(lines[0], /Every ratio is online \/ cached/);
  const heads = lines.filter((l) => l.startsWith("| case |")).map(cellsOf);
  assert.deepEqual(heads, [[...TEACHER_CACHE_COLUMNS], [...TEACHER_CACHE_SPAN_COLUMNS]]);
  const body = lines.filter((l) => l.startsWith(`| ${TEACHER_CACHE_CASE} |`)).map(cellsOf);
  assert.equal(body.length, 2 + 3);
  const col = (name: string) => body[0][TEACHER_CACHE_COLUMNS.indexOf(name)];
  assert.equal(col("online ms/step"), "300");
  assert.equal(col("cached ms/step"), "140");
  assert.equal(col("online / cached"), "2.14×");
  assert.equal(col("online / cached, median of pairs"), "2.00×");
  assert.equal(col("cache build s (images)"), "5.00 (1000)");
  assert.deepEqual(body[1].slice(0, 3), [TEACHER_CACHE_CASE, "cpu", "skipped"]);
  assert.deepEqual(body[3].slice(2, 4), ["pass", "10"]);
  assert.equal(formatTeacherCache([]), "");
  // The main table leaves the case out: it has no PyTorch counterpart.
  assert.ok(!formatTables([row]).includes("| tfjs / PyTorch |"));
});

/** Every number of a teacher-cache result is finite, and the times positive. */
function assertTeacherCache(t: TeacherCacheResult | undefined, label: string): void {
  assert.ok(t, `${label}: no teacherCache`);
  for (const timing of [t.online, t.cached]) {
    assert.equal(timing.samplesMs.length, timing.iters, label);
    assert.ok(timing.samplesMs.every((x) => Number.isFinite(x) && x > 0), label);
  }
  const positive = [
    t.stepRatio,
    t.pairedRatio,
    t.buildMsPerImage,
    t.build.ms,
    t.build.images,
    t.batch,
    t.subset,
    t.stepsPerEpoch,
    t.mineMs!, // the default config's neighbour sampler needs the lists
  ];
  assert.ok(positive.every((x) => Number.isFinite(x) && x > 0), `${label}: ${positive}`);
  assert.equal(t.build.images, t.subset, label);
  assert.deepEqual(t.spans.map((s) => s.name), ["epoch", "pass", "run"], label);
  for (const s of t.spans) {
    const values = [s.steps, s.onlineS, s.cachedS, s.cachedWithBuildS, s.ratio, s.ratioWithBuild];
    assert.ok(values.every((x) => Number.isFinite(x) && x > 0), `${label}: ${s.name}`);
    assert.ok(s.ratioWithSetup! > 0, label);
  }
}

Deno.test({
  name: "bench: --quick runs every case on wasm and cpu and writes results.json and results.md",
  // probeWebGPU keeps the adapter alive; Python runs as child processes.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withTempDir("bench", async (dir) => {
      const args = ["--quick", "--iters", "2", "--warmup", "0", "--backends", "wasm,cpu"];
      const code = await main([
        ...args,
        "--cases",
        "step-cnn28,step-r18,augment,knn,teacher-embed,teacher-cache",
        "--profile",
        "--out",
        dir,
      ]);
      assert.equal(code, 0);
      const report = JSON.parse(await Deno.readTextFile(`${dir}/results.json`)) as BenchReport;
      assert.equal(report.schema, BENCH_SCHEMA);
      assert.equal(report.options.quick, true);
      assert.deepEqual([...report.options.cases].sort(), [...CPU_CASES].sort());
      // teacher-embed also runs in onnxruntime-node: one more row.
      assert.equal(report.rows.length, CPU_CASES.length * 2 + 1);
      const ort = report.rows.find((r) => r.backend === "onnxruntime-node");
      assert.equal(ort?.case, "teacher-embed");
      assert.equal(ort?.params, report.rows.find((r) => r.case === "teacher-embed")?.params);
      assert.ok(report.machine.cpus >= 1 && report.machine.deno && report.machine.tfjs);
      for (const r of report.rows) {
        const label = `${r.case} on ${r.backend}: ${JSON.stringify({ ...r, torch: undefined })}`;
        if (r.case === TEACHER_CACHE_CASE && IGNORE_DEBIAN_FASHION_MNIST) {
          // It reads the default config's dataset, Debian's Fashion-MNIST.
          assert.match(`${r.status}: ${r.reason}`, /ok|Fashion-MNIST/, label);
          continue;
        }
        assert.equal(r.status, "ok", `${label}: ${r.reason}`);
        assert.equal(r.timing!.iters, 2, label);
        assert.equal(r.timing!.samplesMs.length, 2, label);
        assert.equal(r.timing!.medianMs, median(r.timing!.samplesMs), label);
        assert.ok(r.images! > 0 && r.imagesPerSec! > 0, label);
        assert.equal(r.memory!.leakedTensors, 0, `${label} leaked tensors`);
        assert.ok(r.rss!.peakBytes >= r.rss!.startBytes && r.rss!.startBytes > 0, label);
        if (r.case === TEACHER_CACHE_CASE) {
          // No PyTorch side: the comparison is online / cached, in teacherCache.
          assert.equal(r.torch, null, label);
          assert.equal(r.ratio, null, label);
          assertTeacherCache(r.teacherCache, label);
          assert.equal(r.teacherCache!.online.iters, 2, label);
          assert.equal(r.images, 2 * r.teacherCache!.batch, label);
        } else if (report.torch.available) {
          assert.ok(r.torch && r.torch.medianMs > 0, label);
          assert.equal(r.ratio, r.timing!.medianMs / r.torch!.medianMs, label);
          assert.ok(r.torch.peakRssBytes > 0, label);
          if (r.params != null && r.torch.params != null) {
            assert.equal(r.params, r.torch.params, `${label}: parameter counts differ`);
          }
        } else {
          assert.equal(r.ratio, null, label);
        }
      }
      const profiled = new Set(report.profiles.map((p) => `${p.case}/${p.backend}`));
      for (const c of ["step-cnn28", "step-r18"]) {
        for (const b of ["wasm", "cpu"]) {
          assert.ok(profiled.has(`${c}/${b}`), `no profile for ${c}/${b}`);
        }
      }
      for (const p of report.profiles) {
        assert.ok(p.kernels.length > 0 && p.totalMs > 0, `${p.case}/${p.backend}`);
      }
      const md = await Deno.readTextFile(`${dir}/results.md`);
      assert.ok(
        md.includes(`| ${TABLE_COLUMNS.join(" | ")} |`),
        "results.md lacks the table header",
      );
      for (const c of CPU_CASES) {
        for (const b of ["wasm", "cpu"]) {
          assert.ok(md.includes(`| ${c} | ${b} |`), `results.md lacks ${c}/${b}`);
        }
      }
      assert.ok(md.includes("quick sizes"));
      assert.ok(
        md.includes(`| ${TEACHER_CACHE_COLUMNS.join(" | ")} |`) &&
          md.includes(`| ${TEACHER_CACHE_SPAN_COLUMNS.join(" | ")} |`),
        "results.md lacks the teacher-cache tables",
      );
    }),
});

await testNeeding(["vulkan"], {
  name: "bench: --quick webgpu-grads compares the two WebGPU filter gradients (webgpu only)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withTempDir("bench", async (dir) => {
      const args = ["--quick", "--iters", "2", "--warmup", "1", "--no-torch", "--out", dir];
      const code = await main([...args, "--cases", WEBGPU_GRADS_CASE, "--backends", "webgpu,wasm"]);
      assert.equal(code, 0);
      const report = JSON.parse(await Deno.readTextFile(`${dir}/results.json`)) as BenchReport;
      const wasm = report.rows.find((r) => r.backend === "wasm")!;
      assert.equal(wasm.status, "skipped");
      const r = report.rows.find((r) => r.backend === "webgpu")!;
      assert.equal(r.status, "ok", r.reason);
      assert.equal(r.memory!.leakedTensors, 0);
      const rows = r.webgpuGrads!.rows;
      // 20 convolution shapes, a per-step sum for each net, the whole step.
      assert.equal(rows.length, 23);
      for (const row of rows) {
        assert.ok(row.builtinMs > 0 && row.toolkitMs > 0 && row.perStep >= 1, row.label);
      }
      const cnn = rows.filter((row) => row.label.startsWith("cnn28"));
      const sum = rows.find((row) => row.label === "all cnn28 filter gradients of one step")!;
      assert.ok(
        Math.abs(sum.toolkitMs - cnn.reduce((t, x) => t + x.toolkitMs * x.perStep, 0)) < 1e-9,
      );
      const md = await Deno.readTextFile(`${dir}/results.md`);
      assert.ok(md.includes("| what | per step | tfjs ms | toolkit ms | tfjs / toolkit |"), md);
      assert.ok(!md.includes(`| ${WEBGPU_GRADS_CASE} | wasm |`), "the skipped wasm row is noise");
    }),
});

Deno.test("bench: bad flags are usage errors", async () => {
  assert.equal(await main(["--cases", "nope"]), 2);
  assert.equal(await main(["--iters", "0"]), 2);
  assert.equal(await main(["--no-such-flag"]), 2);
});
