/**
 * `deno task compare` under its declared permissions: two methods × two
 * seeds with the same budget, a table of mean ± std, a rerun that skips the
 * finished runs, and one-line errors for a bad comparison file.
 */
import assert from "assert";
import { testNeeding } from "../_optional.ts";
import { comparisonRoot, ROOT, runTask, tinyComparison } from "../_cli.ts";

const compare = (args: string[]) => runTask("compare", args);

await testNeeding(["fashion-mnist"], {
  name: "deno task compare: methods × seeds, a mean ± std table, finished runs skipped",
  fn: async () => {
    const dir = await comparisonRoot("test-compare");
    try {
      await Deno.writeTextFile(
        `${ROOT}${dir}/compare.yaml`,
        tinyComparison(
          dir,
          "runs",
          "  coss, random batches: { name: coss, set: [data.sampler.kind=random, data.sampler.batchSize=64] }\n",
        ),
      );
      // --seeds 0 first: every row of seed 0, in the file's row order, and a one-seed table.
      // (--only: a row per flag for a name with a comma, or names separated by commas.)
      const part = await compare([
        "--config",
        `${dir}/compare.yaml`,
        "--seeds",
        "0",
        "--only",
        "coss, random batches",
        "--only",
        "rkd,coss",
      ]);
      assert.equal(part.code, 0, part.err);
      assert.match(part.err, /compare: 3 methods × 1 seeds, 256 image passes per run/);
      assert.match(part.err, /\[1\/3\] coss seed 0: 4 steps[^]*\[2\/3\] rkd seed 0: 4 steps/);
      assert.match(
        await Deno.readTextFile(`${ROOT}${dir}/runs/results.md`),
        /mean ± sample std over seeds 0; /,
      );
      const first = await compare(["--config", `${dir}/compare.yaml`]);
      assert.equal(first.code, 0, first.err);
      assert.match(first.err, /compare: 3 methods × 2 seeds, 256 image passes per run/);
      // Seed-major: the seed-0 runs are done, seed 1 starts with the first row.
      assert.match(first.err, /\[3\/6\] coss, random batches seed 0: finished earlier, skipped/);
      assert.match(first.err, /\[4\/6\] coss seed 1: 4 steps/);
      const md = await Deno.readTextFile(`${ROOT}${dir}/runs/results.md`);
      assert.match(
        md,
        /mean ± sample std over seeds 0, 1; Δ: mean per-seed difference from "coss"/,
      );
      assert.match(md, /256 image passes per run/);
      assert.match(
        md,
        /^\| coss \| \d+\.\d\d ± \d+\.\d\d \| \d+\.\d\d ± \d+\.\d\d \| 0\.\d{4} ± 0\.\d{4} \| \(reference\) \| \| \| \d+ \|$/m,
      );
      assert.match(
        md,
        /^\| rkd \| .* \| [+−]\d+\.\d\d ± \d+\.\d\d \| [+−]\d+\.\d\d ± \d+\.\d\d \| /m,
      );
      const results = JSON.parse(await Deno.readTextFile(`${ROOT}${dir}/runs/results.json`));
      assert.deepEqual(
        results.rows.map((r: { method: string; seeds: number }) => [r.method, r.seeds]),
        [
          ["coss", 2],
          ["rkd", 2],
          ["coss, random batches", 2],
        ],
      );
      // The paired difference is the mean of the per-seed differences of the runs' own reports.
      const knnOf = async (run: string) => {
        const r = JSON.parse(await Deno.readTextFile(`${ROOT}${dir}/runs/${run}/report.json`));
        return r.runs[0].evaluation.knn.find((k: { name: string }) => k.name === "student").top1;
      };
      const d = [
        (await knnOf("rkd-s0")) - (await knnOf("coss-s0")),
        (await knnOf("rkd-s1")) - (await knnOf("coss-s1")),
      ];
      const rkd = results.rows[1].paired.knn;
      assert.ok(Math.abs(rkd.mean - (d[0] + d[1]) / 2) < 1e-12, JSON.stringify(rkd));
      assert.ok(
        Math.abs(rkd.se - Math.abs(d[0] - d[1]) / 2) < 1e-12,
        "se = |d0 − d1| / 2 for 2 seeds",
      );
      // The control row's own overrides reached its runs.
      const control = await Deno.readTextFile(
        `${ROOT}${dir}/runs/coss, random batches-s0/config.yaml`,
      );
      assert.match(control, /kind: random/);
      for (const f of ["report.md", "nn_iou.svg", "coss-s1/distill.log", "rkd-s0/wall.json"]) {
        await Deno.stat(`${ROOT}${dir}/runs/${f}`);
      }
      const again = await compare(["--config", `${dir}/compare.yaml`]);
      assert.equal(again.code, 0, again.err);
      assert.equal((again.err.match(/finished earlier, skipped/g) ?? []).length, 6);
      assert.equal(await Deno.readTextFile(`${ROOT}${dir}/runs/results.md`), md);

      // Another budget for the same run dirs is refused, naming the file and the fix.
      const changed = await compare(["--config", `${dir}/compare.yaml`, "--set", "optim.lr=0.1"]);
      assert.notEqual(changed.code, 0);
      assert.match(
        changed.err.trim(),
        /^error: .*compare\.yaml: run dir ".*coss-s0" holds a run of another config; delete it or change runDir/,
      );
    } finally {
      await Deno.remove(`${ROOT}${dir}`, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test("deno task compare: a bad comparison file is one line naming the key", async () => {
  const dir = `runs/test-compare-bad-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(`${ROOT}${dir}`, { recursive: true });
  try {
    const cases: [string, RegExp][] = [
      [
        "base: default.yaml\nrunDir: x\nseeds: [0]\nimages: 10\nmethods: {}\n",
        /methods: expected a map/,
      ],
      [
        "base: nope.yaml\nrunDir: x\nseeds: [0]\nimages: 10\nmethods: {a: {name: coss}}\n",
        /base: cannot read/,
      ],
      [
        "base: b.yaml\nrunDir: x\nseeds: [0.5]\nimages: 10\nmethods: {a: {name: coss}}\n",
        /seeds\[0\]: expected an integer/,
      ],
      ["bas: b.yaml\n", /bas: unknown key/],
      [
        "base: b.yaml\nrunDir: x\nseeds: [0]\nimages: 10\nreference: z\nmethods: {a: {name: coss}}\n",
        /reference: expected one of the rows \(a\)/,
      ],
      [
        "base: b.yaml\nrunDir: x\nseeds: [0]\nimages: 10\nmethods: {a: {name: coss, sett: []}}\n",
        /methods\.a: unknown key "sett"/,
      ],
      [
        "base: b.yaml\nrunDir: x\nseeds: [0]\nimages: 10\nmethods: {a: {name: cos}}\n",
        /loss\.name/,
      ],
    ];
    await Deno.writeTextFile(`${ROOT}${dir}/b.yaml`, "data: {test: null}\n");
    for (const [i, [text, pattern]] of cases.entries()) {
      await Deno.writeTextFile(`${ROOT}${dir}/c${i}.yaml`, text);
      const { code, err } = await compare(["--config", `${dir}/c${i}.yaml`]);
      assert.notEqual(code, 0, text);
      const lines = err.trim().split("\n");
      assert.equal(lines.length, 1, err);
      assert.match(lines[0], pattern);
    }
    const ok = "base: b.yaml\nrunDir: x\nseeds: [0, 1]\nimages: 10\nmethods: {a: {name: coss}}\n";
    await Deno.writeTextFile(`${ROOT}${dir}/ok.yaml`, ok);
    const only = await compare(["--config", `${dir}/ok.yaml`, "--only", "a,b"]);
    assert.notEqual(only.code, 0);
    assert.match(only.err.trim(), /^error: .*ok\.yaml: methods: no row "b"; rows: a$/);
    for (
      const [seeds, pattern] of [
        ["5", /ok\.yaml: seeds: no seed 5; the file's seeds are 0, 1$/],
        ["0,x", /--seeds: expected integers ≥ 0 separated by commas, got "0,x"$/],
      ] as const
    ) {
      const { code, err } = await compare(["--config", `${dir}/ok.yaml`, "--seeds", seeds]);
      assert.notEqual(code, 0);
      assert.equal(err.trim().split("\n").length, 1, err);
      assert.match(err.trim(), pattern);
    }
  } finally {
    await Deno.remove(`${ROOT}${dir}`, { recursive: true }).catch(() => {});
  }
});
