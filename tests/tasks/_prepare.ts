/**
 * Shared by the `deno task prepare` tests (prepare_task_test.ts,
 * prepare_faults_test.ts): the small job's flags, the task's own command
 * line from deno.json, safetensors files compared up to their `created`
 * timestamp, and one-line refusals.
 */
import assert from "assert";
import { ROOT } from "../_cli.ts";

/**
 * The config flags of a small prepare or distill: 256 Fashion-MNIST images, the small bundled
 * teacher (64-d), an embed batch of 32 and mining blocks of 64, cache in `dir`.
 */
export const small = (dir: string, teacher = "fashion-mnist"): string[] => [
  "--backend=wasm",
  `--set=teacher.cacheDir=${dir}`,
  `--set=teacher.name=${teacher}`,
  "--set=data.subset=256",
  "--set=data.test=null",
  "--set=teacher.batchSize=32",
  "--set=teacher.mineChunk=64",
];

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

/** A safetensors file as (header without `created`, data bytes); `created` must be there. */
export async function withoutCreated(path: string): Promise<[unknown, Uint8Array]> {
  const bytes = await Deno.readFile(`${ROOT}${path}`);
  const len = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + len)));
  assert.match(header.__metadata__.created, /^\d{4}-\d\d-\d\dT/, path);
  delete header.__metadata__.created;
  return [header, bytes.subarray(8 + len)];
}

/** Files `a` and `b` hold the same tensors and metadata, up to `created`. */
export async function assertSameFile(a: string, b: string): Promise<void> {
  const [ha, da] = await withoutCreated(a);
  const [hb, db] = await withoutCreated(b);
  assert.deepEqual(ha, hb, `${a} and ${b}: headers differ`);
  assert.ok(da.length === db.length && da.every((x, i) => x === db[i]), `${a}, ${b}: bytes differ`);
}

/** A refusal: exit 1 and exactly one line on stderr starting `error:`; that line. */
export function refusal(r: { code: number; err: string }): string {
  assert.equal(r.code, 1, r.err);
  const errors = r.err.trim().split("\n").filter((l) => l.startsWith("error:"));
  assert.equal(errors.length, 1, r.err);
  return errors[0];
}
