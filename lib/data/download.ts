/**
 * Verified downloads: stream to `dest.part` while hashing, check the SHA-256
 * and/or MD5, then rename into place. A failed or corrupt download leaves no
 * file behind.
 *
 * @module
 */
import { type IncrementalHash, Md5, Sha256 } from "../util/hash.ts";
import { reason } from "../util/bytes.ts";

/** Expected digests of a file, as lowercase or uppercase hex; each one given is checked. */
export interface FileHashes {
  /** SHA-256 of the file. */
  sha256?: string;
  /** MD5 of the file (only where no SHA-256 is published; MD5 guards against corruption, not tampering). */
  md5?: string;
}

/** Progress of one download, as passed to {@linkcode DownloadOptions.onProgress}. */
export interface DownloadProgress {
  /** The URL being fetched. */
  url: string;
  /** Bytes received so far. */
  received: number;
  /** The size announced by the server, when it announced one. */
  total?: number;
  /** True on the last call, after the file is verified and in place. */
  done: boolean;
}

/** Options for {@linkcode downloadFile}. */
export interface DownloadOptions extends FileHashes {
  /**
   * The fetch to use (tests inject one).
   *
   * @default {globalThis.fetch}
   */
  fetch?: typeof fetch;
  /**
   * Called as bytes arrive and once at the end.
   *
   * @default {undefined}
   */
  onProgress?: (progress: DownloadProgress) => void;
}

function hashesOf(expected: FileHashes): Map<"sha256" | "md5", IncrementalHash> {
  const hashes = new Map<"sha256" | "md5", IncrementalHash>();
  if (expected.sha256) hashes.set("sha256", new Sha256());
  if (expected.md5) hashes.set("md5", new Md5());
  return hashes;
}

/** The first mismatch as `expected sha256 X, got Y`, or undefined when all match. */
function mismatch(
  expected: FileHashes,
  hashes: Map<"sha256" | "md5", IncrementalHash>,
): string | undefined {
  for (const [kind, hash] of hashes) {
    const want = expected[kind]!.toLowerCase();
    const got = hash.hex();
    if (got !== want) return `expected ${kind} ${want}, got ${got}`;
  }
  return undefined;
}

/**
 * Download `url` to `dest`, verifying every digest given. The body streams
 * to `dest + ".part"` while it is hashed; on success the file is flushed and
 * renamed into place, on any failure (HTTP error, interrupted stream, short
 * body, checksum mismatch) the partial file is deleted and a one-line error
 * names the URL and the file. Parent folders are created.
 *
 * @example
 * ```ts ignore
 * import { downloadFile } from "./download.ts";
 * await downloadFile(
 *   "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz",
 *   "/tmp/mnist/t10k-labels-idx1-ubyte.gz",
 *   { md5: "ec29112dd5afa0611ce80d1b7f02629c" },
 * );
 * ```
 *
 * @param url What to fetch.
 * @param dest Where the verified file ends up.
 * @param options Expected digests, fetch and progress hooks.
 * @throws {Error} On any failure; the message names `url`, `dest` and, for a mismatch, both digests.
 */
export async function downloadFile(
  url: string,
  dest: string,
  options: DownloadOptions = {},
): Promise<void> {
  const part = `${dest}.part`;
  const slash = dest.lastIndexOf("/");
  if (slash > 0) await Deno.mkdir(dest.slice(0, slash), { recursive: true });
  const hashes = hashesOf(options);
  let file: Deno.FsFile | undefined;
  let received = 0;
  try {
    let response: Response;
    try {
      response = await (options.fetch ?? fetch)(url);
    } catch (e) {
      throw new Error(`Cannot download "${url}" to "${dest}": ${reason(e)} (check the network)`);
    }
    if (!response.ok || !response.body) {
      await response.body?.cancel();
      throw new Error(
        `Cannot download "${url}" to "${dest}": HTTP ${response.status} ${response.statusText}`
          .trimEnd() + " (check the URL or mirror)",
      );
    }
    const length = response.headers.get("content-length");
    const total = length !== null && /^\d+$/.test(length) ? Number(length) : undefined;
    file = await Deno.open(part, { write: true, create: true, truncate: true });
    try {
      for await (const chunk of response.body) {
        for (const hash of hashes.values()) hash.update(chunk);
        let written = 0;
        while (written < chunk.length) written += await file.write(chunk.subarray(written));
        received += chunk.length;
        options.onProgress?.({ url, received, total, done: false });
      }
    } catch (e) {
      throw new Error(
        `Cannot download "${url}" to "${dest}": the transfer broke off after ${received} bytes ` +
          `(${reason(e)}); the partial file was deleted, retry`,
      );
    }
    if (total !== undefined && received !== total) {
      throw new Error(
        `Cannot download "${url}" to "${dest}": got ${received} of ${total} bytes; ` +
          `the partial file was deleted, retry`,
      );
    }
    await file.syncData();
    file.close();
    file = undefined;
    const bad = mismatch(options, hashes);
    if (bad) {
      throw new Error(
        `Checksum mismatch for "${url}": ${bad}; deleted the partial file "${part}" ` +
          `(retry; if it persists the server or mirror holds a different file)`,
      );
    }
    await Deno.rename(part, dest);
    options.onProgress?.({ url, received, total, done: true });
  } catch (e) {
    try {
      file?.close();
    } catch { /* already closed */ }
    await Deno.remove(part).catch(() => {});
    throw e;
  }
}

/**
 * Check a file on disk against the digests given; returns the digests it
 * computed. Both digests of the file are computed in one pass.
 *
 * @example
 * ```ts ignore
 * import { verifyFile } from "./download.ts";
 * await verifyFile("t10k-labels-idx1-ubyte.gz", { md5: "bb300cfdad3c16e7a12a480ee83cd310" });
 * ```
 *
 * @param path The file.
 * @param expected The digests it must have; none given just computes them.
 * @returns The file's SHA-256 and MD5.
 * @throws {Error} On a mismatch, naming the file and both digests.
 */
export async function verifyFile(
  path: string,
  expected: FileHashes = {},
): Promise<{ sha256: string; md5: string }> {
  const hashes = hashesOf({ sha256: "x", md5: "x" });
  const file = await Deno.open(path, { read: true });
  for await (const chunk of file.readable) {
    for (const hash of hashes.values()) hash.update(chunk);
  }
  const got = { sha256: hashes.get("sha256")!.hex(), md5: hashes.get("md5")!.hex() };
  for (const kind of ["sha256", "md5"] as const) {
    const want = expected[kind]?.toLowerCase();
    if (want && want !== got[kind]) {
      throw new Error(
        `Checksum mismatch for "${path}": expected ${kind} ${want}, got ${got[kind]} ` +
          `(delete the file and download it again)`,
      );
    }
  }
  return got;
}
