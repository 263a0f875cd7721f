/**
 * `deno task compare [--config file.yaml] [--only a,b] [--seeds 0,1] [--set key=value ...]
 * [--shard i/N | --shards N | --merge]`
 *
 * Distil with every method of a comparison file × each seed, under the same
 * teacher, student, data, augmentation, optimiser, schedule and budget of
 * image passes; finished runs are skipped, interrupted ones resume, and ones
 * evaluated under other `eval.*` settings are evaluated again. Then
 * write `results.md` (mean ± std over seeds) and a report with the plots.
 * As an array job: `--shard i/N` (or SLURM_ARRAY_TASK_ID/COUNT, or
 * JOB_COMPLETION_INDEX with `--shards N`) runs every N-th cell from i and
 * writes no table; `--merge` then writes it from the finished cells.
 *
 * @module
 */
import {
  loadComparison,
  mergeComparison,
  runComparison,
  shardCells,
} from "../lib/train/compare.ts";
import { ConfigError } from "../lib/config/config.ts";
import { resolveShard, type ShardSpec } from "../lib/data/manifest.ts";
import { runTask } from "./_main.ts";
import { parseFlags } from "./_cli.ts";
import { shardEnv } from "./_shard_env.ts";

const USAGE =
  `usage: deno task compare [--config file.yaml] [--only m1,m2] [--seeds 0,1] [--set key=value ...]
                         [--shard i/N | --shards N | --merge]
Without --config, tasks/configs/compare-fmnist.yaml is used (Fashion-MNIST, the bundled teacher,
8 methods × 3 seeds). --set overrides a key of every run (e.g. --set backend=wasm).
--only takes row names separated by commas, or one row per --only (for names with a comma in them).
--seeds runs and tabulates only those of the file's seeds (runs go seed by seed: every row of the
first seed, then the next). Rerunning skips finished runs, resumes an interrupted one, and
evaluates again (without training) one evaluated under other eval.* settings.
As an array job: --shard i/N runs only the cells (method, seed) whose index k (0-based, in that
seed-major order) has k mod N = i, and writes no table; the shard may also come from
SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT, or JOB_COMPLETION_INDEX with --shards N.
--merge runs nothing: it writes the table and report from the finished cells, or names the
missing cells in one line and exits 1 (no partial table; use --only/--seeds for one).`;

const DEFAULT = new URL("./configs/compare-fmnist.yaml", import.meta.url).pathname;

function parseSeeds(raw: string | undefined): number[] | undefined {
  if (raw === undefined) return undefined;
  const seeds = raw.split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  if (!seeds.length || seeds.some((s) => !Number.isInteger(s) || s < 0)) {
    throw new ConfigError(`--seeds: expected integers ≥ 0 separated by commas, got "${raw}"`);
  }
  return seeds;
}

async function main(): Promise<number> {
  const { values, help } = parseFlags(Deno.args, {
    options: {
      config: { type: "string" },
      only: { type: "string", multiple: true },
      seeds: { type: "string" },
      set: { type: "string", multiple: true },
      shard: { type: "string" },
      shards: { type: "string" },
      merge: { type: "boolean" },
      verbose: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    usage: USAGE,
    onError: (e) =>
      new ConfigError(
        `${e.flag ?? e.message}: unknown flag or missing value; see deno task compare --help`,
      ),
  });
  if (help) return 0;
  const sharded = values.shard !== undefined || values.shards !== undefined ||
    Deno.env.get("SLURM_ARRAY_TASK_ID") !== undefined ||
    Deno.env.get("JOB_COMPLETION_INDEX") !== undefined;
  let shard: ShardSpec | undefined;
  if (values.merge) {
    if (values.shard !== undefined || values.shards !== undefined) {
      throw new ConfigError("--merge runs no cells: drop --shard/--shards");
    }
  } else if (sharded) {
    let shards: number | undefined;
    if (values.shards !== undefined) {
      shards = Number(values.shards);
      if (!Number.isInteger(shards) || shards < 1) {
        throw new ConfigError(`--shards "${values.shards}" is not a positive integer`);
      }
    }
    try {
      shard = resolveShard(values.shard as string | undefined, shardEnv(), shards);
    } catch (e) {
      // resolveShard's lines start "error: ", which the task's exit path adds itself.
      throw new ConfigError((e as Error).message.replace(/^error: /, ""));
    }
  }
  const comparison = await loadComparison(values.config ?? DEFAULT, {
    overrides: values.set ?? [],
    only: values.only as string[] | undefined,
    seeds: parseSeeds(values.seeds as string | undefined),
  });
  console.error(
    `compare: ${Object.keys(comparison.methods).length} methods × ${comparison.seeds.length} ` +
      `seeds, ${comparison.images} image passes per run → "${comparison.runDir}"`,
  );
  if (values.merge) {
    const { table } = await mergeComparison(comparison);
    console.log(table);
    console.log(`wrote "${comparison.runDir}/results.md" and the report beside it`);
    return 0;
  }
  if (shard) {
    const cells = shardCells(comparison, shard);
    console.error(
      `compare shard ${shard.index}/${shard.count}: cells ${
        cells.map((k) => k + 1).join(", ") || "(none)"
      } of ${comparison.runs.length}`,
    );
    await runComparison(comparison, { shard });
    console.error(
      `compare shard ${shard.index}/${shard.count}: done; ` +
        `deno task compare --merge writes the table once every shard has finished`,
    );
    return 0;
  }
  const { table } = await runComparison(comparison);
  console.log(table);
  console.log(`wrote "${comparison.runDir}/results.md" and the report beside it`);
  return 0;
}

await runTask(main);
