/**
 * The command line of `deno task prepare` (see tasks/prepare.ts).
 *
 * @module
 */
import { loadConfig, parseCli } from "../lib/config/config.ts";
import { ConfigError } from "../lib/config/config.ts";
import { resolveShard, type ShardSpec } from "../lib/data/manifest.ts";
import {
  embedShard,
  mergePrepared,
  mineShard,
  shardDir,
  type ShardStage,
} from "../lib/teacher/prepare.ts";
import { sweepStaleTemps } from "../lib/io/atomic.ts";
import { openPrepare, prepareManifest } from "../lib/train/prepare.ts";
import { shardEnv } from "./_shard_env.ts";

/** `deno task prepare --help`. */
export const USAGE = `usage: deno task prepare [--config file.yaml] [--set key=value ...]
                         --stage manifest|embed|mine|merge [--shard i/N | --shards N] [--workers W]
The offline stages of deno task distill as shards, for Slurm array jobs, Kubernetes Indexed Jobs
or one big machine. manifest: one task hashes every training image once (the images' identity in
every cache key) into teacher.cacheDir; run it before an embed array, whose tasks otherwise each
build it. embed i/N: the teacher's features of block i of N of the training images.
mine q/Q: the neighbours of query block q of Q, streaming every embed shard. merge: check the
shards and write the cache files deno task distill reads (teacher.cacheDir).
The shard comes from --shard, else SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT, else
JOB_COMPLETION_INDEX with --shards N. --workers W runs every shard of --shards N (default W)
as W local child processes (embed builds the manifest first). A shard whose output exists with the right key exits at once.`;

const OWN = ["--stage", "--shard", "--shards", "--workers"];

/** Split prepare's own flags from the config flags (which go to parseCli). */
function split(args: string[]): { own: Record<string, string>; rest: string[] } {
  const own: Record<string, string> = {};
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const eq = a.indexOf("=");
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (!OWN.includes(name)) {
      rest.push(a);
      continue;
    }
    const value = eq > 0 ? a.slice(eq + 1) : args[++i];
    if (value === undefined) throw new ConfigError(`${name}: missing value`);
    own[name.slice(2)] = value;
  }
  return { own, rest };
}

function count(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!(Number.isInteger(n) && n >= 1)) {
    throw new RangeError(`--${flag} "${value}" is not a positive integer`);
  }
  return n;
}

/** Run shards 0..N-1 of `stage` as child `deno task prepare` processes, `workers` at a time. */
async function runWorkers(rest: string[], stage: ShardStage, n: number, workers: number) {
  if (stage === "embed") {
    // Once, before the shards: else each of them would build the manifest.
    const { code } = await new Deno.Command("deno", {
      args: ["task", "--quiet", "prepare", ...rest, "--stage", "manifest"],
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (code !== 0) {
      throw new Error(
        `the manifest failed; rerun: deno task prepare ${rest.join(" ")} --stage manifest`,
      );
    }
  }
  const failed: string[] = [];
  let next = 0;
  const one = async () => {
    while (next < n) {
      const shard = `${next++}/${n}`;
      const { code } = await new Deno.Command("deno", {
        args: ["task", "--quiet", "prepare", ...rest, "--stage", stage, "--shard", shard],
        stdout: "inherit",
        stderr: "inherit",
      }).output();
      if (code !== 0) failed.push(shard);
    }
  };
  await Promise.all(Array.from({ length: Math.min(workers, n) }, one));
  if (failed.length > 0) {
    const cmd = `deno task prepare ${rest.join(" ")} --stage ${stage} --shard`;
    throw new Error(`${stage} shards ${failed.sort().join(", ")} failed; rerun: ${cmd} <i/N>`);
  }
  console.error(`prepare ${stage}: ${n} shards done by ${Math.min(workers, n)} workers`);
}

/**
 * Run `deno task prepare` with `args`; resolves to the exit code.
 *
 * @param args As `Deno.args`.
 * @param defaultConfig The config used without `--config`.
 */
export async function prepareMain(args: string[], defaultConfig: string): Promise<number> {
  const { own, rest } = split(args);
  const cli = parseCli(rest);
  if (cli.help) {
    console.log(USAGE);
    return 0;
  }
  const stage = own.stage;
  if (!["manifest", "embed", "mine", "merge"].includes(stage)) {
    throw new ConfigError(
      `--stage: expected manifest, embed, mine or merge, got "${stage ?? ""}"`,
    );
  }
  const shards = count("shards", own.shards);
  const workers = count("workers", own.workers);
  if (workers !== undefined && (stage === "embed" || stage === "mine")) {
    await runWorkers(rest, stage, shards ?? workers, workers);
    return 0;
  }
  const config = await loadConfig(cli.configPath ?? defaultConfig, cli.overrides);
  if (stage === "manifest") {
    // One line: found (exits at once) or hashed, with the count, the time and the path.
    await prepareManifest(config);
    return 0;
  }
  const base = `deno task prepare ${rest.join(" ")}`.trim();
  const rebuild = (s: ShardStage, shard: ShardSpec) =>
    `${base} --stage ${s} --shard ${shard.index}/${shard.count}`;
  let shard: ShardSpec | undefined;
  try {
    if (stage !== "merge") shard = resolveShard(own.shard, shardEnv(), shards);
  } catch (e) {
    // resolveShard's lines start "error: ", which the task's exit path adds itself.
    throw new ConfigError((e as Error).message.replace(/^error: /, ""));
  }
  const opened = await openPrepare(config, rebuild);
  try {
    if (stage === "merge") {
      console.error((await mergePrepared(opened.plan)).summary);
      return 0;
    }
    const what = `prepare ${stage} ${shard!.index}/${shard!.count}`;
    for (const name of await sweepStaleTemps(shardDir(opened.plan))) {
      console.error(`${what}: removed "${shardDir(opened.plan)}/${name}", left by a killed writer`);
    }
    const r = stage === "embed"
      ? await embedShard(opened.plan, shard!, opened)
      : await mineShard(opened.plan, shard!);
    if (r.done) {
      console.error(`${what}: done already, "${r.path}" (key ${opened.plan.key.slice(0, 16)}…)`);
    } else {
      const rate = (r.rows / Math.max(r.seconds, 1e-9)).toFixed(1);
      // A mine task's peak sizes --mem for the real run: it grows with the query block and
      // the largest embed shard, not with the number of shards.
      const held = stage === "mine"
        ? `, held ${(r.peakBytes / 2 ** 20).toFixed(2)} MiB at most`
        : "";
      console.error(
        `${what}: ${r.rows} ${stage === "embed" ? "images" : "queries"} in ` +
          `${r.seconds.toFixed(2)} s (${rate}/s${held}) → "${r.path}"`,
      );
    }
    return 0;
  } finally {
    opened.close();
  }
}
