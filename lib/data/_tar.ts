/**
 * A minimal streaming tar extractor: ustar/GNU headers, regular files and
 * folders (GNU long names and pax `path` records honoured), every header
 * checksum verified, file bodies streamed to disk. Links and devices are
 * skipped; paths that would escape the destination are an error.
 *
 * Format: POSIX.1-1988 ustar, 512-byte blocks; the archive ends with a zero block.
 *
 * @module
 */
import { ByteReader, join, reason } from "../util/bytes.ts";

const BLOCK = 512;

function text(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end >= 0 ? bytes.subarray(0, end) : bytes);
}

function octal(bytes: Uint8Array): number {
  const s = text(bytes).trim();
  return s === "" ? 0 : parseInt(s, 8);
}

/** Checksum of a header with its checksum field counted as spaces. */
function checksum(header: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i];
  return sum;
}

function safeName(name: string, archive: string): string {
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (name.startsWith("/") || parts.includes("..")) {
    throw new SyntaxError(
      `Cannot extract "${archive}": entry "${name}" would be written outside the destination ` +
        `(refusing; is the archive trustworthy?)`,
    );
  }
  return parts.join("/");
}

function paxPath(body: Uint8Array): string | undefined {
  const records = new TextDecoder().decode(body);
  let path: string | undefined;
  let at = 0;
  while (at < records.length) {
    const space = records.indexOf(" ", at);
    const len = parseInt(records.slice(at, space), 10);
    if (!(len > 0)) break;
    const record = records.slice(space + 1, at + len - 1);
    const eq = record.indexOf("=");
    if (record.slice(0, eq) === "path") path = record.slice(eq + 1);
    at += len;
  }
  return path;
}

/**
 * Extract the tar stream `stream` into `destDir`; returns the regular files
 * written, as paths relative to `destDir`. `archive` names the source in errors.
 *
 * @throws {SyntaxError} On a bad header checksum, a truncated archive or an unsafe path.
 */
export async function extractTar(
  stream: ReadableStream<Uint8Array>,
  destDir: string,
  archive: string,
): Promise<string[]> {
  const fail = (what: string) =>
    new SyntaxError(`Cannot extract "${archive}": ${what} (delete it and download it again)`);
  const reader = new ByteReader(stream);
  const written: string[] = [];
  const header = new Uint8Array(BLOCK);
  let longName: string | undefined;
  try {
    while (true) {
      const at = reader.offset;
      const got = await reader.readInto(header);
      if (got === 0) break; // some writers omit the end blocks
      if (got < BLOCK) throw fail(`truncated inside the header at byte ${at}`);
      if (header.every((b) => b === 0)) break;
      const stored = octal(header.subarray(148, 156));
      if (stored !== checksum(header)) {
        throw fail(`header at byte ${at} has checksum ${stored}, computed ${checksum(header)}`);
      }
      const size = octal(header.subarray(124, 136));
      const type = String.fromCharCode(header[156] || 0x30);
      const magic = text(header.subarray(257, 263));
      const prefix = magic.startsWith("ustar") ? text(header.subarray(345, 500)) : "";
      let name = longName ?? (prefix ? `${prefix}/` : "") + text(header.subarray(0, 100));
      longName = undefined;
      const padded = Math.ceil(size / BLOCK) * BLOCK;
      if (type === "L" || type === "x") {
        const body = new Uint8Array(padded);
        if (await reader.readInto(body) < padded) throw fail(`truncated inside "${name}"`);
        longName = type === "L" ? text(body.subarray(0, size)) : paxPath(body.subarray(0, size));
        continue;
      }
      name = safeName(name, archive);
      if (type === "0" || type === "7") {
        const path = join(destDir, name);
        const slash = path.lastIndexOf("/");
        if (slash > 0) await Deno.mkdir(path.slice(0, slash), { recursive: true });
        const file = await Deno.open(path, { write: true, create: true, truncate: true });
        try {
          const n = await reader.pipe(size, async (chunk) => {
            let w = 0;
            while (w < chunk.length) w += await file.write(chunk.subarray(w));
          });
          if (n < size) throw fail(`truncated inside "${name}" (${n} of ${size} bytes)`);
        } finally {
          file.close();
        }
        written.push(name);
        if (await reader.pipe(padded - size, () => {}) < padded - size) {
          throw fail(`truncated after "${name}"`);
        }
      } else {
        if (type === "5" && name) await Deno.mkdir(join(destDir, name), { recursive: true });
        if (await reader.pipe(padded, () => {}) < padded) throw fail(`truncated inside "${name}"`);
      }
    }
    return written;
  } catch (e) {
    if (e instanceof SyntaxError && e.message.startsWith("Cannot extract")) throw e;
    throw fail(reason(e));
  } finally {
    await reader.cancel();
  }
}
