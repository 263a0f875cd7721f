/**
 * Resume checks through `deno task distill`: the checkpoint records its
 * config hash, its step and the training data's fingerprint, and a resume
 * from a checkpoint of another config, past the run's total, or over changed
 * data is refused with one line and the fix, leaving the checkpoint as it was.
 */
import assert from "assert";
import { testNeeding } from "../_optional.ts";
import { ROOT, runTask, smallDistill } from "../_cli.ts";

/** Rewrite a safetensors file's `coss.state` metadata through `edit`. */
async function editState(
  path: string,
  edit: (state: Record<string, unknown>) => void,
): Promise<void> {
  const bytes = await Deno.readFile(path);
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  const state = JSON.parse(header.__metadata__["coss.state"]);
  edit(state);
  header.__metadata__["coss.state"] = JSON.stringify(state);
  let text = JSON.stringify(header);
  while (text.length % 8) text += " ";
  const head = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + head.length + bytes.length - 8 - n);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  out.set(bytes.subarray(8 + n), 8 + head.length);
  await Deno.writeFile(path, out);
}

function oneError(r: { code: number; err: string }): string {
  assert.notEqual(r.code, 0, r.err);
  const lines = r.err.trim().split("\n").filter((l) => l.startsWith("error:"));
  assert.equal(lines.length, 1, r.err);
  return lines[0];
}

await testNeeding(["fashion-mnist"], {
  name:
    "deno task distill: a resume of another config, past the total, or over changed data is refused",
  fn: async () => {
    const runDir = `runs/test-resume-${crypto.randomUUID().slice(0, 8)}`;
    const ck = `${ROOT}${runDir}/checkpoint.safetensors`;
    const args = ["--run-dir", runDir, ...smallDistill(`${runDir}/cache`)];
    try {
      const first = await runTask("distill", args);
      assert.equal(first.code, 0, first.err);
      const original = await Deno.readFile(ck);
      let state: Record<string, unknown> = {};
      await editState(ck, (s) => (state = structuredClone(s)));
      const extra = state.extra as { configHash: string; dataset: { count: number } };
      assert.match(extra.configHash, /^[0-9a-f]{64}$/);
      assert.equal(extra.dataset.count, 256);
      assert.equal(state.step, 2);

      await Deno.writeFile(ck, original);
      await editState(ck, (s) => (s.step = 9));
      const past = oneError(await runTask("distill", args));
      assert.match(past, /step 9 is past this run's 2 steps; raise train\.steps/);

      await Deno.writeFile(ck, original);
      await editState(ck, (s) => ((s.extra as typeof extra).configHash = "ab".repeat(32)));
      const other = oneError(await runTask("distill", args));
      assert.match(other, /written by another config \(hash abababababab, .*--no-resume/);

      await Deno.writeFile(ck, original);
      await editState(ck, (s) => ((s.extra as typeof extra).dataset.count = 255));
      const edited = await Deno.readFile(ck);
      const data = oneError(await runTask("distill", args));
      assert.match(data, /training data changed since it was written \(255 images.*now 256 images/);
      // A refusal leaves the checkpoint as it found it.
      assert.deepEqual(await Deno.readFile(ck), edited);
      await Deno.writeFile(ck, original);
      const resumed = await runTask("distill", args);
      assert.equal(resumed.code, 0, resumed.err);
      assert.match(resumed.err, /resuming .* from its checkpoint at step 2\/2/);
    } finally {
      await Deno.remove(`${ROOT}${runDir}`, { recursive: true }).catch(() => {});
    }
  },
});
