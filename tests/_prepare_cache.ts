/**
 * The small `deno task prepare` / `deno task distill` runs the scale-out tests
 * share (a Fashion-MNIST subset and the small bundled teacher, 64-d), the
 * check that two teacher-cache folders hold the same files, byte for byte
 * but for the `created` timestamp in each header, a task's own command line
 * from deno.json, and one-line refusals.
 */
import assert from "assert";
import { ROOT } from "./_cli.ts";

const KEYED = /^(teacher|neighbours|views)-[0-9a-f]{16}(-k31)?\.safetensors$/;

/** Options of {@linkcode preparedFlags}. */
export interface PreparedFlagsOptions {
  /** The bundled teacher. @default "fashion-mnist" */
  teacher?: string;
  /** The first this many training images. @default 256 */
  subset?: number;
}

/**
 * The config flags of a small prepare or distill run whose teacher cache is
 * `dir`: an embed batch of 32 and mining blocks of 64, so that the shard
 * counts the tests use split the work; no test split.
 */
export function preparedFlags(dir: string, options: PreparedFlagsOptions = {}): string[] {
  return [
    "--backend=wasm",
    `--set=teacher.cacheDir=${dir}`,
    `--set=teacher.name=${options.teacher ?? "fashion-mnist"}`,
    `--set=data.subset=${options.subset ?? 256}`,
    "--set=data.test=null",
    "--set=teacher.batchSize=32",
    "--set=teacher.mineChunk=64",
  ];
}

/**
 * The flags of a distillation of `steps` steps with run dir `runDir` on top
 * of {@linkcode preparedFlags}: a width-0.125 stride-4 student, as wide as the
 * 64-d teacher (no projection head); the neighbour sampler of the config.
 */
export function shortDistillFlags(runDir: string, steps = 1): string[] {
  return [
    `--run-dir=${runDir}`,
    `--set=train.steps=${steps}`,
    "--set=student.args.stem=imagenet",
    "--set=student.args.width=0.125",
  ];
}

/** A safetensors file (path from the root) as (header without `created`, data bytes); `created` must be there. */
export async function withoutCreated(path: string): Promise<[unknown, Uint8Array]> {
  const bytes = await Deno.readFile(`${ROOT}${path}`);
  const len = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + len)));
  assert.match(header.__metadata__.created, /^\d{4}-\d\d-\d\dT/, path);
  delete header.__metadata__.created;
  return [header, bytes.subarray(8 + len)];
}

/** The keyed cache files of a cache folder (path from the root), by name. */
export async function cacheFiles(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(`${ROOT}${dir}`)) if (KEYED.test(e.name)) names.push(e.name);
  return names.sort();
}

/** The cache files of `a` (`kinds` of them) are in `b` with the same bytes, up to `created`. */
export async function assertSameCache(a: string, b: string, kinds: string[]): Promise<void> {
  const names = await cacheFiles(a);
  assert.deepEqual(names.map((n) => n.split("-")[0]).sort(), kinds.toSorted(), `${a}: ${names}`);
  const other = await cacheFiles(b);
  assert.ok(names.every((n) => other.includes(n)), `${b} lacks some of ${names}: ${other}`);
  for (const name of names) await assertSameFile(`${a}/${name}`, `${b}/${name}`);
}

/** Files `a` and `b` (paths from the root) hold the same tensors and metadata, up to `created`. */
export async function assertSameFile(a: string, b: string): Promise<void> {
  const [ha, da] = await withoutCreated(a);
  const [hb, db] = await withoutCreated(b);
  assert.deepEqual(ha, hb, `${a} and ${b}: headers differ`);
  assert.ok(sameBytes(da, db), `${a}, ${b}: bytes differ`);
}

/**
 * `deno run <flags> <script>` of deno.json's task `name` ($HOME expanded), for a child
 * that must be the task's process itself (`deno task` runs it as a grandchild, which a
 * test cannot signal without full run permission).
 */
export async function taskRunArgs(name: string): Promise<string[]> {
  const tasks = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).tasks;
  const words = String(tasks[name]).replaceAll("$HOME", Deno.env.get("HOME") ?? "").split(/\s+/);
  assert.deepEqual(words.slice(0, 2), ["deno", "run"], `task ${name}: ${tasks[name]}`);
  return words.slice(1);
}

/** A refusal: exit 1 and exactly one line on stderr starting `error:`; that line. */
export function refusal(r: { code: number; err: string }): string {
  assert.equal(r.code, 1, r.err);
  const errors = r.err.trim().split("\n").filter((l) => l.startsWith("error:"));
  assert.equal(errors.length, 1, r.err);
  return errors[0];
}

/** Whether two byte arrays are equal. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
