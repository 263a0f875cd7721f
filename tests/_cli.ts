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
