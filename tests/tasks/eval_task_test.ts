/**
 * `deno task distill` ends with its report, and `deno task eval` (under its
 * declared permissions) evaluates the same student from the run dir, the
 * checkpoint alone and both exports to the same numbers, compares runs, and
 * answers bad input with one line.
 */
import assert from "assert";
import { testNeeding } from "../_optional.ts";
import type { SavedReport } from "../../lib/eval/report.ts";
import { ROOT, runTask } from "../_cli.ts";

const task = runTask;

const readReport = async (path: string): Promise<SavedReport> =>
  JSON.parse(await Deno.readTextFile(`${ROOT}${path}`));

// Small enough for CI: 512 training images, 200 test images, 5 probe epochs.
const SMALL = [
  "--set",
  "data.subset=512",
  "--set",
  "eval.testSubset=200",
  "--set",
  "eval.linear.epochs=5",
  "--set",
  "eval.mapPoints=100",
];

await testNeeding(["fashion-mnist"], {
  name: "deno task distill ends with a report; deno task eval reproduces it from every form",
  sanitizeResources: false,
  fn: async () => {
    const runDir = `runs/test-eval-${crypto.randomUUID().slice(0, 8)}`;
    try {
      const d = await task("distill", [
        "--run-dir",
        runDir,
        "--set",
        `teacher.cacheDir=${runDir}/cache`,
        "--set",
        "train.steps=4",
        "--set",
        "train.logEvery=1",
        "--set",
        "train.evalEvery=2",
        "--set",
        "eval.subset=100",
        ...SMALL,
      ]);
      assert.equal(d.code, 0, d.err);
      assert.match(d.err, /^report: ".*report\.md" \(curves\.svg, map\.svg, nn_iou\.svg\)$/m);
      assert.match(
        d.out,
        /^kNN-10 top-1 +\d+\.\d\d% {2}student {2}\(weighted exp\(cos\/0\.07\), 200 test \/ 512 train/m,
      );
      const report = await readReport(`${runDir}/report.json`);
      const ev = report.runs[0].evaluation;
      assert.deepEqual(ev.knn.map((r) => r.name), [
        "raw pixels",
        "student, random init",
        "student",
        "teacher",
      ]);
      assert.deepEqual(ev.linear.map((r) => r.name), ["student", "teacher"]);
      assert.equal(ev.linear[0].protocol.epochs, 5);
      assert.deepEqual(ev.manifold!.nnIoU.map((b) => b.k), [1, 5, 11, 21, 31]);
      // Periodic kNN at steps 2 and 4 shows up in the curves.
      const knnSteps = report.runs[0].curves.filter((p) => p.metric.startsWith("kNN"))
        .map((p) => p.step);
      assert.deepEqual(knnSteps, [2, 4]);
      const md = await Deno.readTextFile(`${ROOT}${runDir}/report.md`);
      assert.match(md, /## Manifold agreement/);
      const studentTop1 = ev.knn[2].top1, teacherTop1 = ev.knn[3].top1;

      // The same student from the run dir, the checkpoint alone and both exports.
      for (
        const [form, path] of [
          ["run dir", runDir],
          ["checkpoint", `${runDir}/checkpoint.safetensors`],
          ["safetensors export", `${runDir}/student-safetensors`],
          ["tfjs export", `${runDir}/student-tfjs`],
        ]
      ) {
        const out = `${runDir}/eval-${form.replace(" ", "-")}`;
        const e = await task("eval", ["--student", path, "--out", out, ...SMALL]);
        assert.equal(e.code, 0, `${form}: ${e.err}`);
        const r = (await readReport(`${out}/report.json`)).runs[0].evaluation;
        const get = (name: string) => r.knn.find((x) => x.name === name)!.top1;
        // The tfjs graph computes the same function with other kernels: allow one near-tie flip.
        const tol = form === "tfjs export" ? 1 / 200 + 1e-9 : 1e-9;
        assert.ok(Math.abs(get("student") - studentTop1) <= tol, `${form}: student kNN`);
        assert.ok(Math.abs(get("teacher") - teacherTop1) < 1e-9, `${form}: teacher kNN`);
        // Only the run dir and checkpoint have the head for the projected cosines.
        const projected = r.manifold!.cosine?.projected ?? false;
        assert.equal(projected, form === "run dir" || form === "checkpoint", form);
      }

      const c = await task("eval", [
        "--compare",
        runDir,
        `${runDir}/eval-tfjs-export/report.json`,
        "--out",
        `${runDir}/compare`,
      ]);
      assert.equal(c.code, 0, c.err);
      const both = await readReport(`${runDir}/compare/report.json`);
      assert.equal(both.runs.length, 2);
      const cmd = await Deno.readTextFile(`${ROOT}${runDir}/compare/report.md`);
      assert.match(cmd, /\| student-tfjs: student \|/);
    } finally {
      await Deno.remove(`${ROOT}${runDir}`, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test("deno task eval: bad input is one line naming the flag or file", async () => {
  const cases: [string[], RegExp][] = [
    [
      ["--student", "runs/no-such-run"],
      /^error: "runs\/no-such-run": no such file or directory; expected a run dir/,
    ],
    [
      ["--student", "deno.json"],
      /^error: "deno\.json": not a coss-checkpoint file \(.*\); expected a run dir/,
    ],
    [
      ["--student", "tasks"],
      /^error: "tasks": holds neither card\.json nor checkpoint\.safetensors/,
    ],
    [["--student", "x", "--teacher", "t.bin"], /^error: --teacher t\.bin: expected bundled:<name>/],
    [
      ["--student", "x", "--teacher", "t.safetensors"],
      /^error: --teacher t\.safetensors: .*--teacher-arch/,
    ],
    [["--compare", "a"], /^error: --compare: give at least two/],
    [["--bogus"], /^error: --bogus: unknown flag/],
    [[], /^error: --student: required/],
  ];
  for (const [args, pattern] of cases) {
    const { code, err } = await task("eval", args);
    assert.notEqual(code, 0, args.join(" "));
    const lines = err.trim().split("\n");
    assert.equal(lines.length, 1, `${args.join(" ")}: ${err}`);
    assert.match(lines[0], pattern);
  }
});
