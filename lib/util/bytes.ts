/**
 * Byte-level helpers shared by the dataset readers: an exact-length reader
 * over a stream, transparent gunzip, and file fingerprints.
 *
 * @module
 */

/** Reads exact byte counts from a stream, copying chunks straight into the caller's buffer. */
export class ByteReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #chunk: Uint8Array = new Uint8Array(0);
  #pos = 0;
  #done = false;
  /** Bytes handed out so far. */
  offset = 0;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  async #fill(): Promise<boolean> {
    while (this.#pos >= this.#chunk.length) {
      if (this.#done) return false;
      const { value, done } = await this.#reader.read();
      if (done) {
        this.#done = true;
        return false;
      }
      this.#chunk = value;
      this.#pos = 0;
    }
    return true;
  }

  /** Fill `target` as far as the stream allows; returns the count (short only at the end). */
  async readInto(target: Uint8Array): Promise<number> {
    let filled = 0;
    while (filled < target.length && await this.#fill()) {
      const take = Math.min(target.length - filled, this.#chunk.length - this.#pos);
      target.set(this.#chunk.subarray(this.#pos, this.#pos + take), filled);
      this.#pos += take;
      filled += take;
    }
    this.offset += filled;
    return filled;
  }

  /** Hand chunks of at most `n` bytes to `sink` without copying; returns the count passed. */
  async pipe(n: number, sink: (chunk: Uint8Array) => void | Promise<void>): Promise<number> {
    let passed = 0;
    while (passed < n && await this.#fill()) {
      const take = Math.min(n - passed, this.#chunk.length - this.#pos);
      await sink(this.#chunk.subarray(this.#pos, this.#pos + take));
      this.#pos += take;
      passed += take;
    }
    this.offset += passed;
    return passed;
  }

  /** Whether the stream has no bytes left. */
  async atEnd(): Promise<boolean> {
    return !(await this.#fill());
  }

  /** Count the remaining bytes, discarding them. */
  async drain(): Promise<number> {
    return await this.pipe(Number.MAX_SAFE_INTEGER, () => {});
  }

  /** Stop reading and release the stream. */
  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}

/** Whether `bytes` start with the gzip magic 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Open `path` as a byte stream, gunzipped when the file starts with the gzip
 * magic (whatever its name). The caller consumes or cancels the stream.
 */
export async function openBytes(
  path: string,
): Promise<{ stream: ReadableStream<Uint8Array>; gzip: boolean }> {
  const file = await Deno.open(path, { read: true });
  try {
    const head = new Uint8Array(2);
    let got = 0;
    while (got < 2) {
      const n = await file.read(head.subarray(got));
      if (n === null) break;
      got += n;
    }
    await file.seek(0, Deno.SeekMode.Start);
    const gzip = isGzip(head.subarray(0, got));
    const raw = file.readable;
    const stream = gzip
      ? raw.pipeThrough(new DecompressionStream("gzip") as ReadableWritablePair<Uint8Array>)
      : raw;
    return { stream, gzip };
  } catch (e) {
    file.close();
    throw e;
  }
}

/** The error's message, for embedding in a one-line error. */
export function reason(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, " ");
}

/** `path:size:mtime` for fingerprints; stable while the file is unchanged. */
export async function fileStamp(path: string): Promise<string> {
  const info = await Deno.stat(path);
  return `${path}:${info.size}:${info.mtime?.getTime() ?? 0}`;
}

/** Whether a path exists (any kind of entry). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Join path segments with "/" (POSIX only, like the rest of the toolkit). */
export function join(...parts: string[]): string {
  return parts.filter((p) => p !== "").join("/").replace(/\/{2,}/g, "/");
}

/** Hex SHA-256 of a string (for fingerprints of long file lists). */
export async function sha256Text(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}
