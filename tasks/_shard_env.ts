/**
 * The scheduler variables a shard index may come from (`--shard` aside), for
 * the tasks that run as array jobs (`prepare`, `compare`). Each is granted by
 * name in those tasks' `--allow-env` in deno.json.
 *
 * @module
 */

/** SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT (Slurm arrays), JOB_COMPLETION_INDEX (Indexed Jobs). */
export function shardEnv(): Record<string, string | undefined> {
  const names = ["SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "JOB_COMPLETION_INDEX"];
  return Object.fromEntries(names.map((n) => [n, Deno.env.get(n)]));
}
