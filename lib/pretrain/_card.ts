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
  for (let dir = start;; dir = dirname(dir)) {
    const git = await gitDirs(dir);
    if (git) {
      try {
        return await headCommit(git);
      } catch { /* an unreadable HEAD: look further up, as without .git */ }
    }
    if (dirname(dir) === dir) return null;
  }
}

/** A repository's git dir (HEAD) and common dir (refs): one folder, or a worktree's two. */
interface GitDirs {
  git: string;
  common: string;
}

/** `dir/.git` as a folder, or as a worktree's `gitdir:` file; undefined without one. */
async function gitDirs(dir: string): Promise<GitDirs | undefined> {
  const dotGit = join(dir, ".git");
  const info = await Deno.stat(dotGit).catch(() => undefined);
  if (!info) return undefined;
  if (info.isDirectory) return { git: dotGit, common: dotGit };
  const target = (await Deno.readTextFile(dotGit).catch(() => "")).match(/^gitdir: (.+)$/m)?.[1];
  if (!target) return undefined;
  const git = target.startsWith("/") ? target : join(dir, target);
  const common = await Deno.readTextFile(join(git, "commondir")).then(
    (t) => t.trim().startsWith("/") ? t.trim() : join(git, t.trim()),
    () => git,
  );
  return { git, common };
}

/** The commit HEAD names: detached, a loose ref, or a packed one; null for an unborn branch. */
async function headCommit({ git, common }: GitDirs): Promise<string | null> {
  const head = (await Deno.readTextFile(join(git, "HEAD"))).trim();
  if (!head.startsWith("ref: ")) return head;
  const ref = head.slice(5);
  for (const dir of [git, common]) {
    const loose = await Deno.readTextFile(join(dir, ref)).catch(() => undefined);
    if (loose !== undefined) return loose.trim();
  }
  const packed = await Deno.readTextFile(join(common, "packed-refs")).catch(() => "");
  const line = packed.split("\n").find((l) => l.endsWith(` ${ref}`));
  return line ? line.split(" ")[0] : null;
}
