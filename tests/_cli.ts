/**
 * Running the toolkit's commands from tests as a user would: `deno task
 * <name>` under the permissions `deno.json` declares, from the repository
 * root, without colours; and the smallest jobs of the training tasks.
 */

/** The repository root, with a trailing slash. */
export const ROOT: string = new URL("../", import.meta.url).pathname;

/** What a command printed and how it ended. */
export interface CommandResult {
  code: number;
  out: string;
  err: string;
  /** Wall time of the command. */
  seconds: number;
}

/** Run `cmd args` in the repository root with `NO_COLOR=1` (plus `env`) and capture its output. */
export async function runCommand(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<CommandResult> {
  const t0 = performance.now();
  const { code, stdout, stderr } = await new Deno.Command(cmd, {
    args,
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  const seconds = (performance.now() - t0) / 1000;
  return { code, out: dec.decode(stdout), err: dec.decode(stderr), seconds };
}

/** `deno task --quiet <name> args`: the task with exactly its declared permissions. */
export function runTask(
  name: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<CommandResult> {
  return runCommand("deno", ["task", "--quiet", name, ...args], env);
}

/**
 * A distillation in seconds: 256 images, 2 steps of 32 random images, no
 * test split, a width-0.125 student; the teacher cache in `cacheDir`.
 */
export function smallDistill(cacheDir: string): string[] {
  return [
    "--backend=wasm",
    `--set=teacher.cacheDir=${cacheDir}`,
    "--set=data.subset=256",
    "--set=data.test=null",
    "--set=train.steps=2",
    "--set=data.sampler.kind=random",
    "--set=data.sampler.batchSize=32",
    // The small bundled teacher (64-d) and a stride-4 student of the same width: the fastest
    // pair, and one that needs no projection head.
    "--set=teacher.name=fashion-mnist",
    "--set=student.args.stem=imagenet",
    "--set=student.args.width=0.125",
  ];
}

/** The smallest pretrain job: 64 images, one epoch of 32, kNN on 64 × 64, no linear probe. */
export const SMALL_PRETRAIN: readonly string[] = [
  "--set=backend=wasm",
  "--set=data.subset=64",
  "--set=train.epochs=1",
  "--set=train.batchSize=32",
  "--set=eval.trainImages=64",
  "--set=eval.testImages=64",
  "--set=eval.linear.epochs=0",
];

/**
 * A tiny comparison file (`deno task compare`) over `base.yaml` beside it: coss and rkd × seeds 0
 * and 1, 4 steps each on 512 images, run dirs under `dir/runDir`, then any `extraMethods` rows
 * (YAML lines indented by two spaces).
 */
export function tinyComparison(dir: string, runDir: string, extraMethods = ""): string {
  return `base: base.yaml
runDir: ${dir}/${runDir}
seeds: [0, 1]
images: 256
set: [data.subset=512, eval.testSubset=100, eval.linear.epochs=3, eval.mapPoints=50,
  eval.baselines=false, teacher.cacheDir=${dir}/cache, train.evalEvery=0]
reference: coss
methods:
  coss: { name: coss }
  rkd: { name: rkd }
${extraMethods}`;
}

/** A fresh `runs/<prefix>-<id>` holding `base.yaml`, a copy of the default config; its path. */
export async function comparisonRoot(prefix: string): Promise<string> {
  const dir = `runs/${prefix}-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(`${ROOT}${dir}`, { recursive: true });
  const base = await Deno.readTextFile(`${ROOT}tasks/configs/default.yaml`);
  await Deno.writeTextFile(`${ROOT}${dir}/base.yaml`, base);
  return dir;
}

/** A comparison table's rows (`results.md`) without the wall-seconds column, which differs by run. */
export function tableRows(md: string): string[] {
  return md.split("\n").filter((l) => l.startsWith("| ") && !/^\| (method|---) /.test(l))
    .map((l) => l.replace(/ \d+ \|$/, " |"));
}

/** The rows of a comparison's `results.json` in run dir `runDir` (from the root), without wall seconds. */
export async function resultRows(runDir: string): Promise<Record<string, unknown>[]> {
  const json = JSON.parse(await Deno.readTextFile(`${ROOT}${runDir}/results.json`));
  return json.rows.map((r: Record<string, unknown>) => ({ ...r, seconds: undefined }));
}
