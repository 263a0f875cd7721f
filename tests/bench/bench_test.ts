/**
 * Smoke test of `deno task bench`: the harness runs every case at tiny sizes
 * for one iteration on wasm and cpu (and PyTorch where it is importable),
 * writes a results.json of the documented shape and a Markdown table, and
 * computes ratios and medians right. It measures no speed.
 */
import assert from "assert";
import { main } from "../../tasks/bench.ts";
import { median } from "../../lib/bench/_measure.ts";
import { CASE_NAMES } from "../../lib/bench/cases.ts";
import {
  BENCH_SCHEMA,
  type BenchReport,
  type BenchRow,
  fmt,
  formatTable,
  imagesPerSecond,
  TABLE_COLUMNS,
  timeRatio,
} from "../../lib/bench/report.ts";
import { withTempDir } from "../_helpers.ts";

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
        "step-cnn28,step-r18,augment,knn,teacher-embed",
        "--profile",
        "--out",
        dir,
      ]);
      assert.equal(code, 0);
      const report = JSON.parse(await Deno.readTextFile(`${dir}/results.json`)) as BenchReport;
      assert.equal(report.schema, BENCH_SCHEMA);
      assert.equal(report.options.quick, true);
      assert.deepEqual([...report.options.cases].sort(), [...CASE_NAMES].sort());
      assert.equal(report.rows.length, CASE_NAMES.length * 2);
      assert.ok(report.machine.cpus >= 1 && report.machine.deno && report.machine.tfjs);
      for (const r of report.rows) {
        const label = `${r.case} on ${r.backend}: ${JSON.stringify({ ...r, torch: undefined })}`;
        assert.equal(r.status, "ok", `${label}: ${r.reason}`);
        assert.equal(r.timing!.iters, 2, label);
        assert.equal(r.timing!.samplesMs.length, 2, label);
        assert.equal(r.timing!.medianMs, median(r.timing!.samplesMs), label);
        assert.ok(r.images! > 0 && r.imagesPerSec! > 0, label);
        assert.equal(r.memory!.leakedTensors, 0, `${label} leaked tensors`);
        assert.ok(r.rss!.peakBytes >= r.rss!.startBytes && r.rss!.startBytes > 0, label);
        if (report.torch.available) {
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
      for (const c of CASE_NAMES) {
        for (const b of ["wasm", "cpu"]) {
          assert.ok(md.includes(`| ${c} | ${b} |`), `results.md lacks ${c}/${b}`);
        }
      }
      assert.ok(md.includes("quick sizes"));
    }),
});

Deno.test("bench: bad flags are usage errors", async () => {
  assert.equal(await main(["--cases", "nope"]), 2);
  assert.equal(await main(["--iters", "0"]), 2);
  assert.equal(await main(["--no-such-flag"]), 2);
});
