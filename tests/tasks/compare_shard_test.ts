/**
 * `deno task compare` as an array job, through the real CLI: two shards run
 * separately (one by `--shard`, one by Slurm's variables), `--merge` names
 * the missing cells until both have finished, then writes the same table
 * rows as one unsharded run; an Indexed Job's shard skips finished cells.
 */
import assert from "assert";
import { testNeeding } from "../_optional.ts";
import {
  comparisonRoot,
  resultRows,
  ROOT,
  runTask,
  tableRows as rows,
  tinyComparison,
} from "../_cli.ts";

const compare = (args: string[], env: Record<string, string> = {}) => runTask("compare", args, env);

await testNeeding(["fashion-mnist"], {
  name: "deno task compare --shard i/N, then --merge: the single run's table; missing cells named",
  fn: async () => {
    const dir = await comparisonRoot("test-compare-shard");
    try {
      await Deno.writeTextFile(`${ROOT}${dir}/sharded.yaml`, tinyComparison(dir, "sharded"));
      await Deno.writeTextFile(`${ROOT}${dir}/single.yaml`, tinyComparison(dir, "single"));
      const sharded = ["--config", `${dir}/sharded.yaml`];

      // Cells, seed-major: [1] coss s0, [2] rkd s0, [3] coss s1, [4] rkd s1; shard i takes k mod 2 = i.
      const s0 = await compare([...sharded, "--shard", "0/2"]);
      assert.equal(s0.code, 0, s0.err);
      assert.match(s0.err, /compare shard 0\/2: cells 1, 3 of 4/);
      assert.match(s0.err, /\[1\/4\] coss seed 0: 4 steps[^]*\[3\/4\] coss seed 1: 4 steps/);
      assert.doesNotMatch(s0.err, /rkd seed/);
      // A shard writes no table.
      assert.equal(await Deno.stat(`${ROOT}${dir}/sharded/results.md`).catch(() => null), null);

      const early = await compare([...sharded, "--merge"]);
      assert.notEqual(early.code, 0);
      const errors = early.err.trim().split("\n").filter((l) => l.startsWith("error:"));
      assert.equal(errors.length, 1, early.err);
      assert.match(
        errors[0],
        /sharded\.yaml: 2 of 4 cells have no report\.json for these settings: \[2\] rkd seed 0; \[4\] rkd seed 1; /,
      );
      assert.equal(await Deno.stat(`${ROOT}${dir}/sharded/results.md`).catch(() => null), null);

      // The other shard from a Slurm array's variables, as `sbatch --array=0-1` sets them.
      const s1 = await compare(sharded, { SLURM_ARRAY_TASK_ID: "1", SLURM_ARRAY_TASK_COUNT: "2" });
      assert.equal(s1.code, 0, s1.err);
      assert.match(s1.err, /compare shard 1\/2: cells 2, 4 of 4/);
      assert.doesNotMatch(s1.err, /coss seed/);

      const merged = await compare([...sharded, "--merge"]);
      assert.equal(merged.code, 0, merged.err);
      assert.doesNotMatch(merged.err, /steps →/, "--merge runs nothing");
      const md = await Deno.readTextFile(`${ROOT}${dir}/sharded/results.md`);
      assert.match(md, /mean ± sample std over seeds 0, 1/);
      await Deno.stat(`${ROOT}${dir}/sharded/report.md`);

      // An Indexed Job's pod: JOB_COMPLETION_INDEX with --shards; its cells are done, so skipped.
      const k8s = await compare([...sharded, "--shards", "2"], { JOB_COMPLETION_INDEX: "1" });
      assert.equal(k8s.code, 0, k8s.err);
      assert.equal((k8s.err.match(/rkd seed \d: finished earlier, skipped/g) ?? []).length, 2);

      const single = await compare(["--config", `${dir}/single.yaml`]);
      assert.equal(single.code, 0, single.err);
      const one = await Deno.readTextFile(`${ROOT}${dir}/single/results.md`);
      assert.equal(rows(md).length, 2);
      assert.deepEqual(rows(md), rows(one));
      assert.deepEqual(await resultRows(`${dir}/sharded`), await resultRows(`${dir}/single`));
    } finally {
      await Deno.remove(`${ROOT}${dir}`, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test("deno task compare: a bad shard is one error line", async () => {
  for (
    const [args, env, pattern] of [
      [["--shard", "2/2"], {}, /shard 2\/2 from --shard 2\/2 is out of range/],
      [["--shard", "x"], {}, /--shard "x" is not i\/N/],
      [["--merge", "--shard", "0/2"], {}, /--merge runs no cells: drop --shard\/--shards/],
      [
        [],
        { JOB_COMPLETION_INDEX: "0" },
        /from JOB_COMPLETION_INDEX with --shards is out of range/,
      ],
    ] as const
  ) {
    const r = await compare([...args], { ...env });
    assert.notEqual(r.code, 0, r.err);
    const lines = r.err.trim().split("\n");
    assert.equal(lines.length, 1, r.err);
    assert.match(lines[0], pattern);
  }
});
