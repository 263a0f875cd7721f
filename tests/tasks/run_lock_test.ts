/**
 * The run-dir lock through `deno task distill`: a run dir locked by a live
 * process is refused with one line naming the holder, and a lock left by a
 * dead process on this host is taken over with a notice and released at the
 * end of the run.
 */
import assert from "assert";
import { testNeeding } from "../_optional.ts";
import { ROOT, runCommand, runTask, smallDistill } from "../_cli.ts";

async function hostname(): Promise<string> {
  const { out } = await runCommand("deno", ["eval", "console.log(Deno.hostname())"]);
  return out.trim();
}

/** The pid of a process that has exited (pids are not reused within seconds). */
async function deadPid(): Promise<number> {
  const child = new Deno.Command("deno", { args: ["eval", ""], stdout: "null", stderr: "null" })
    .spawn();
  await child.status;
  return child.pid;
}

await testNeeding(["fashion-mnist"], {
  name: "deno task distill: a run dir locked by a live process is refused, a dead one's taken over",
  fn: async () => {
    const runDir = `runs/test-lock-${crypto.randomUUID().slice(0, 8)}`;
    const lock = `${ROOT}${runDir}/run.lock`;
    const host = await hostname();
    try {
      await Deno.mkdir(`${ROOT}${runDir}`, { recursive: true });
      const since = "2026-01-01T00:00:00.000Z";
      await Deno.writeTextFile(lock, JSON.stringify({ pid: Deno.pid, host, since }));
      // This test process is the live holder: it keeps the file under an exclusive flock.
      const holder = await Deno.open(lock, { read: true, write: true });
      await holder.lock(true);
      const held = await runTask("distill", [
        "--run-dir",
        runDir,
        ...smallDistill(`${runDir}/cache`),
      ])
        .finally(() => holder.close());
      assert.notEqual(held.code, 0);
      const lines = held.err.trim().split("\n").filter((l) => l.startsWith("error:"));
      assert.equal(lines.length, 1, held.err);
      assert.match(lines[0], new RegExp(`locked by pid ${Deno.pid} on ${host} since ${since}`));
      assert.match(lines[0], /use another --run-dir/);
      // Nothing of the refused run landed, and the holder's lock is untouched.
      await assert.rejects(Deno.stat(`${ROOT}${runDir}/config.yaml`));
      assert.equal(JSON.parse(await Deno.readTextFile(lock)).pid, Deno.pid);

      const pid = await deadPid();
      await Deno.writeTextFile(lock, JSON.stringify({ pid, host, since }));
      const took = await runTask("distill", [
        "--run-dir",
        runDir,
        ...smallDistill(`${runDir}/cache`),
      ]);
      assert.equal(took.code, 0, took.err);
      assert.match(
        took.err,
        new RegExp(`taking over ".*run\\.lock" left by pid ${pid} on ${host}`),
      );
      await Deno.stat(`${ROOT}${runDir}/checkpoint.safetensors`);
      await assert.rejects(Deno.stat(lock), Deno.errors.NotFound);
    } finally {
      await Deno.remove(`${ROOT}${runDir}`, { recursive: true }).catch(() => {});
    }
  },
});
