/**
 * Non-finite numbers through `deno task distill`: a teacher cache or a
 * checkpoint holding NaN is never a hit or a resume; each is refused with one
 * line naming the file and the tensor.
 */
import assert from "assert";
import { testNeeding } from "../_optional.ts";
import { ROOT, runTask, smallDistill } from "../_cli.ts";

/** Write NaN over the first float of tensor `name` (or of the first F32 tensor) in a safetensors file. */
async function poison(path: string, name?: string): Promise<string> {
  const bytes = await Deno.readFile(path);
  const view = new DataView(bytes.buffer);
  const n = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  const pick = name ??
    Object.keys(header).find((k) => k !== "__metadata__" && header[k].dtype === "F32")!;
  view.setFloat32(8 + n + header[pick].data_offsets[0], NaN, true);
  await Deno.writeFile(path, bytes);
  return pick;
}

function oneError(r: { code: number; err: string }): string {
  assert.notEqual(r.code, 0, r.err);
  const lines = r.err.trim().split("\n").filter((l) => l.startsWith("error:"));
  assert.equal(lines.length, 1, r.err);
  return lines[0];
}

await testNeeding(["fashion-mnist"], {
  name:
    "deno task distill: a teacher cache or checkpoint holding NaN is refused, naming file and tensor",
  fn: async () => {
    const runDir = `runs/test-nan-${crypto.randomUUID().slice(0, 8)}`;
    const args = ["--run-dir", runDir, ...smallDistill(`${runDir}/cache`)];
    try {
      const first = await runTask("distill", args);
      assert.equal(first.code, 0, first.err);
      const ck = `${ROOT}${runDir}/checkpoint.safetensors`;
      const tensor = await poison(ck);
      const resume = oneError(await runTask("distill", args));
      assert.ok(resume.includes(`"${runDir}/checkpoint.safetensors"`), resume);
      // The poisoned tensor, under the checkpoint's name for it (slots sit under a prefix in the file).
      const named = resume.match(/tensor "([^"]+)" holds NaN or Inf/)?.[1];
      assert.ok(named && tensor.endsWith(named), `${tensor} vs ${resume}`);
      assert.match(resume, /--no-resume/);

      const [cache] = [...Deno.readDirSync(`${ROOT}${runDir}/cache`)]
        .filter((e) => e.name.startsWith("teacher-"));
      await poison(`${ROOT}${runDir}/cache/${cache.name}`, "features");
      const hit = oneError(await runTask("distill", [...args, "--no-resume"]));
      assert.ok(hit.includes(`teacher cache "${runDir}/cache/${cache.name}"`), hit);
      assert.match(hit, /tensor "features" holds NaN or Inf \(row 0\); delete the file/);
    } finally {
      await Deno.remove(`${ROOT}${runDir}`, { recursive: true }).catch(() => {});
    }
  },
});
