/**
 * The git commit of a run, read from `.git` without running git (so the
 * task needs no `--allow-run`); the card type lives in lib/models/bundled.ts.
 *
 * @module
 */
import { dirname, join } from "node:path";

export type { CardKnn, CardLinear, TeacherCard } from "../models/bundled.ts";

/**
 * The commit checked out in the repository holding `start` (walking up), or null.
 *
 * @example
 * ```ts
 * import { gitCommit } from "./pretrain.ts";
 *
 * console.log(await gitCommit()); // the 40-hex-digit commit of the current checkout, or null outside git
 * ```
 */
export async function gitCommit(start: string = Deno.cwd()): Promise<string | null> {
  let dir = start;
  for (;;) {
    const git = join(dir, ".git");
    try {
      const head = (await Deno.readTextFile(join(git, "HEAD"))).trim();
      if (!head.startsWith("ref: ")) return head;
      const ref = head.slice(5);
      try {
        return (await Deno.readTextFile(join(git, ref))).trim();
      } catch {
        const packed = await Deno.readTextFile(join(git, "packed-refs")).catch(() => "");
        const line = packed.split("\n").find((l) => l.endsWith(` ${ref}`));
        return line ? line.split(" ")[0] : null;
      }
    } catch {
      const up = dirname(dir);
      if (up === dir) return null;
      dir = up;
    }
  }
}
