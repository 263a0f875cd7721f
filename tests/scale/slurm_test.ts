/**
 * The scale-out chain on a real Slurm cluster (the one-node cluster that
 * `.ci/slurm-up` starts), submitted with the very scripts of docs/scale-out/:
 * the dataset manifest as one job, the embed stage as an array job after it
 * (whose tasks then find the manifest rather than each building it), mining as an array that depends on it
 * (`afterok`), the merge, then a short distill, on 192 Fashion-MNIST images
 * and the small bundled teacher; and a small comparison as an array job plus
 * its `--merge` job. Every result must equal the one process's, bit for bit:
 * the teacher features and the neighbour table (up to their `created` time),
 * the training metrics (up to the images/s) and the exported student; the
 * comparison's table. Jobs run as this user from the repository root, and
 * write under `runs/test-slurm-<id>`, removed afterwards.
 */
import assert from "assert";
import { testNeeding } from "../_optional.ts";
import {
  type CommandResult,
  comparisonRoot,
  resultRows,
  ROOT,
  runTask,
  tableRows,
  tinyComparison,
} from "../_cli.ts";
import { assertSameCache, preparedFlags, sameBytes, shortDistillFlags } from "../_prepare_cache.ts";
import { outputs, SlurmJobs } from "./_slurm.ts";

const SCRIPTS = "docs/scale-out";
// The jobs get one CPU each, so the scripts run wasm on one thread (COSS_WASM_THREADS from
// SLURM_CPUS_PER_TASK); the one-process references do the same.
const ONE_THREAD = { COSS_WASM_THREADS: "1" };

/** A run's metrics lines without the throughput, which no two runs share. */
async function metrics(runDir: string): Promise<unknown[]> {
  const text = await Deno.readTextFile(`${ROOT}${runDir}/metrics.jsonl`);
  return text.trim().split("\n").map((l) => ({ ...JSON.parse(l), imagesPerSecond: undefined }));
}

await testNeeding(["slurm", "fashion-mnist"], {
  name:
    "Slurm: manifest → embed array → mine array (afterok) → merge → distill equals one process, bit for bit",
  fn: async (t) => {
    const runs = `runs/test-slurm-${crypto.randomUUID().slice(0, 8)}`;
    const slurm = new SlurmJobs(`${ROOT}${runs}/slurm`);
    const sharded = `${runs}/sharded`;
    const single = `${runs}/single`;
    const flags = (cache: string) => preparedFlags(cache, { subset: 192 });
    const distill = (run: string) => [...shortDistillFlags(run, 4), "--set=train.logEvery=2"];
    let reference: Promise<CommandResult> | undefined;
    try {
      // The chain as docs/scale-out/submit.sh submits it, all at once.
      const manifest = await slurm.submit(`${SCRIPTS}/manifest.sbatch`, { args: flags(sharded) });
      const embed = await slurm.submit(`${SCRIPTS}/embed.sbatch`, {
        array: "0-2",
        after: [manifest],
        args: flags(sharded),
      });
      const mine = await slurm.submit(`${SCRIPTS}/mine.sbatch`, {
        array: "0-1",
        after: [embed],
        args: flags(sharded),
      });
      const merge = await slurm.submit(`${SCRIPTS}/merge.sbatch`, {
        after: [mine],
        args: flags(sharded),
      });
      const train = await slurm.submit(`${SCRIPTS}/distill.sbatch`, {
        after: [merge],
        args: [...flags(sharded), ...distill(`${runs}/d-sharded`)],
      });
      // The reference runs here meanwhile: one process computes the same caches and trains.
      reference = runTask(
        "distill",
        [...flags(single), ...distill(`${runs}/d-single`)],
        ONE_THREAD,
      );

      await t.step("the manifest job: every image hashed once", async () => {
        const [log] = await outputs(await slurm.wait(manifest));
        assert.match(log, /dataset manifest: hashed 192 images in [\d.]+ s → "/);
      });

      await t.step("the embed array: 3 shards of 64 images, from SLURM_ARRAY_TASK_ID", async () => {
        const logs = await outputs(await slurm.wait(embed));
        assert.equal(logs.length, 3);
        logs.forEach((log, i) => {
          assert.match(log, new RegExp(`prepare embed ${i}/3: 64 images in `));
          // The manifest job built it: no embed task reads every image again.
          assert.match(log, /dataset manifest: hit /);
          assert.doesNotMatch(log, /dataset manifest: (hashed|none at)/);
        });
      });

      await t.step("the mine array after it: 2 query blocks, 192 queries in all", async () => {
        const logs = await outputs(await slurm.wait(mine));
        assert.equal(logs.length, 2);
        // Query blocks are whole mining chunks (64 images): 128 and 64.
        const queries = logs.map((log, q) => {
          const m = new RegExp(`prepare mine ${q}/2: (\\d+) queries in `).exec(log);
          assert.ok(m, log);
          return Number(m[1]);
        });
        assert.deepEqual(queries, [128, 64]);
      });

      await t.step("the merge job: one summary line", async () => {
        const [log] = await outputs(await slurm.wait(merge));
        const lines = log.trim().split("\n").filter((l) => l.startsWith("prepare merge"));
        assert.equal(lines.length, 1, log);
        assert.match(
          lines[0],
          /192 images × 64-d from 3 embed shards, 192×31 neighbours from 2 mine shards → /,
        );
      });

      await t.step(
        "the distill job reads the merged caches: hits, nothing recomputed",
        async () => {
          const [log] = await outputs(await slurm.wait(train));
          assert.match(log, /teacher cache: hit /);
          assert.match(log, /neighbour cache: hit /);
          assert.doesNotMatch(log, /miss|stale|corrupt|computing|mining/);
          assert.match(log, /trained steps 0→4 of 4/);
        },
      );

      await t.step(
        "the same features and neighbours as one process (up to `created`)",
        async () => {
          const r = await reference!;
          assert.equal(r.code, 0, r.err);
          assert.match(r.err, /teacher cache: miss/);
          assert.match(r.err, /neighbour cache: miss/);
          await assertSameCache(single, sharded, ["neighbours", "teacher"]);
        },
      );

      await t.step("the same training: metrics and exported student", async () => {
        const got = await metrics(`${runs}/d-sharded`);
        assert.equal(got.length, 2, "logged at steps 2 and 4");
        assert.deepEqual(got, await metrics(`${runs}/d-single`));
        for (const file of ["student-safetensors/model.safetensors", "student-tfjs/weights.bin"]) {
          const a = await Deno.readFile(`${ROOT}${runs}/d-sharded/${file}`);
          const b = await Deno.readFile(`${ROOT}${runs}/d-single/${file}`);
          assert.ok(sameBytes(a, b), `${file}: bytes differ`);
        }
      });
    } finally {
      await slurm.cancel();
      await reference; // the child must end before its folder goes
      await Deno.remove(`${ROOT}${runs}`, { recursive: true }).catch(() => {});
    }
  },
});

await testNeeding(["slurm", "fashion-mnist"], {
  name: "Slurm: compare as an array job, then compare --merge (afterok): the one-process table",
  fn: async (t) => {
    const dir = await comparisonRoot("test-slurm");
    const slurm = new SlurmJobs(`${ROOT}${dir}/slurm`);
    let reference: Promise<CommandResult> | undefined;
    try {
      await Deno.writeTextFile(`${ROOT}${dir}/sharded.yaml`, tinyComparison(dir, "sharded"));
      await Deno.writeTextFile(`${ROOT}${dir}/single.yaml`, tinyComparison(dir, "single"));
      // compare.sbatch and compare-merge.sbatch read the comparison from $COMPARE.
      const env = { COMPARE: `${dir}/sharded.yaml` };
      const cells = await slurm.submit(`${SCRIPTS}/compare.sbatch`, { array: "0-1", env });
      const merge = await slurm.submit(`${SCRIPTS}/compare-merge.sbatch`, { after: [cells], env });
      reference = runTask("compare", ["--config", `${dir}/single.yaml`], ONE_THREAD);

      await t.step("the array: task i runs the cells k with k mod 2 = i", async () => {
        const [s0, s1] = await outputs(await slurm.wait(cells));
        // Cells, seed-major: [1] coss s0, [2] rkd s0, [3] coss s1, [4] rkd s1.
        assert.match(s0, /compare shard 0\/2: cells 1, 3 of 4/);
        assert.doesNotMatch(s0, /rkd seed/);
        assert.match(s1, /compare shard 1\/2: cells 2, 4 of 4/);
        assert.doesNotMatch(s1, /coss seed/);
      });

      await t.step("the merge job runs nothing and writes the table", async () => {
        const [log] = await outputs(await slurm.wait(merge));
        assert.doesNotMatch(log, /steps →/, "--merge runs nothing");
        const md = await Deno.readTextFile(`${ROOT}${dir}/sharded/results.md`);
        assert.match(md, /mean ± sample std over seeds 0, 1/);
        await Deno.stat(`${ROOT}${dir}/sharded/report.md`);
      });

      await t.step("the same table as one process", async () => {
        const r = await reference!;
        assert.equal(r.code, 0, r.err);
        const md = await Deno.readTextFile(`${ROOT}${dir}/sharded/results.md`);
        const one = await Deno.readTextFile(`${ROOT}${dir}/single/results.md`);
        assert.equal(tableRows(md).length, 2);
        assert.deepEqual(tableRows(md), tableRows(one));
        assert.deepEqual(await resultRows(`${dir}/sharded`), await resultRows(`${dir}/single`));
      });
    } finally {
      await slurm.cancel();
      await reference; // the child must end before its folder goes
      await Deno.remove(`${ROOT}${dir}`, { recursive: true }).catch(() => {});
    }
  },
});
