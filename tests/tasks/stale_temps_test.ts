/**
 * Leftovers through `deno task distill`: temporary files of killed writers in
 * the run dir and the teacher-cache dir are swept when those are opened; a
 * temp file whose writer still holds it, or a fresh one, stays.
 */
import assert from "assert";
import { testNeeding } from "../_optional.ts";
import { ROOT, runTask, smallDistill } from "../_cli.ts";

const exists = (p: string) => Deno.stat(p).then(() => true, () => false);

await testNeeding(["fashion-mnist"], {
  name: "deno task distill: dead writers' temp files are swept from the run and cache dirs",
  fn: async () => {
    const runDir = `runs/test-sweep-${crypto.randomUUID().slice(0, 8)}`;
    const dir = `${ROOT}${runDir}`;
    const old = new Date(Date.now() - 10 * 60_000);
    try {
      await Deno.mkdir(`${dir}/cache`, { recursive: true });
      const dead = [
        `${dir}/.checkpoint.safetensors.tmp-99999-0123abcd`,
        `${dir}/cache/.x.tmp-1-89abcdef`,
      ];
      const live = `${dir}/.metrics.jsonl.tmp-2-00000000`;
      const fresh = `${dir}/cache/.y.tmp-3-11111111`;
      const other = `${dir}/notes.tmp-4-22222222`; // not the helper's pattern (no leading dot)
      for (const p of [...dead, live, fresh, other]) await Deno.writeTextFile(p, "partial");
      for (const p of [...dead, live, other]) await Deno.utime(p, old, old);
      const holder = await Deno.open(live, { read: true, write: true });
      await holder.lock(true);
      const r = await runTask("distill", ["--run-dir", runDir, ...smallDistill(`${runDir}/cache`)])
        .finally(() => holder.close());
      assert.equal(r.code, 0, r.err);
      for (const p of dead) assert.equal(await exists(p), false, `${p} was not swept`);
      for (const p of [live, fresh, other]) assert.equal(await exists(p), true, `${p} was swept`);
      assert.match(
        r.err,
        /removed ".*\.checkpoint\.safetensors\.tmp-99999-0123abcd", a temporary file/,
      );
      assert.match(r.err, /teacher cache: removed ".*\.x\.tmp-1-89abcdef"/);
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
