/**
 * Crash-safe file writes: write a temporary file in the target's directory,
 * flush it to disk, then rename it over the target. A kill at any moment
 * leaves either the old file or the new one, never a partial file.
 *
 * @module
 */

/** Options for {@linkcode writeFileAtomic}. */
export interface WriteAtomicOptions {
  /**
   * Called after the temporary file is complete and flushed, just before the
   * rename; lets tests stop a writer at the worst moment.
   *
   * @default {undefined}
   */
  beforeRename?: (tempPath: string) => void | Promise<void>;
}

function tempPathFor(path: string): string {
  const slash = path.lastIndexOf("/");
  const dir = slash >= 0 ? path.slice(0, slash + 1) : "";
  const base = path.slice(slash + 1);
  const tag = `${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  return `${dir}.${base}.tmp-${tag}`;
}

/**
 * Write `data` to `path` atomically (temp file in the same directory, fsync,
 * rename). On failure the temporary file is removed and the error names
 * `path`.
 *
 * @example
 * ```ts ignore
 * import { writeFileAtomic } from "./atomic.ts";
 * await writeFileAtomic("out/weights.bin", new Uint8Array([1, 2, 3]));
 * ```
 *
 * @param path Where the file ends up.
 * @param data The bytes, or an async source of chunks for large files.
 * @param options Test hooks.
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  options: WriteAtomicOptions = {},
): Promise<void> {
  const temp = tempPathFor(path);
  let file: Deno.FsFile | undefined;
  try {
    file = await Deno.open(temp, { write: true, createNew: true });
    // Held until close: a sweeper that can lock a temp file knows its writer is gone.
    await file.lock(true);
    const chunks = data instanceof Uint8Array ? [data] : data;
    for await (const chunk of chunks) {
      let written = 0;
      while (written < chunk.length) written += await file.write(chunk.subarray(written));
    }
    await file.syncData();
    file.close();
    file = undefined;
    await options.beforeRename?.(temp);
    await Deno.rename(temp, path);
  } catch (e) {
    try {
      file?.close();
    } catch { /* already closed */ }
    await Deno.remove(temp).catch(() => {});
    const reason = e instanceof Error ? e.message : String(e);
    throw new Error(`Cannot write "${path}": ${reason}${advice(reason)}`, { cause: e });
  }
}

/** What to do about the commonest ways a write fails. */
function advice(reason: string): string {
  if (/No space left on device|os error 28\b/.test(reason)) {
    return "; free some space on that disk, or write elsewhere";
  }
  if (/Read-only file system|Permission denied|os error (13|30)\b/.test(reason)) {
    return "; make the folder writable, or write elsewhere";
  }
  return "";
}

const TEMP = /^\..+\.tmp-\d+-[0-9a-f]{8}$/;

/**
 * Remove the temporary files of dead writers in `dir` (`.<name>.tmp-<pid>-<id>`
 * left by a killed {@linkcode writeFileAtomic}). A live writer holds its temp
 * file under an exclusive lock, and files younger than a minute are left
 * alone, so that a writer between opening and locking is never swept.
 *
 * @returns The names removed.
 */
export async function sweepStaleTemps(dir: string): Promise<string[]> {
  const removed: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch {
    return removed;
  }
  for (const e of entries) {
    if (!e.isFile || !TEMP.test(e.name)) continue;
    const path = `${dir}/${e.name}`;
    let file: Deno.FsFile | undefined;
    try {
      file = await Deno.open(path, { read: true, write: true });
      const age = Date.now() - ((await file.stat()).mtime?.getTime() ?? Date.now());
      if (age < 60_000 || !(await file.tryLock(true))) continue;
      await Deno.remove(path);
      removed.push(e.name);
    } catch {
      /* gone or not ours to remove */
    } finally {
      file?.close();
    }
  }
  return removed;
}
