/**
 * Verified downloads against a local HTTP server and an injected fetch: a
 * good file, a corrupt one (partial deleted, both digests named), a 404, a
 * stream that breaks off, a short body; and the SHA-256 / MD5 code itself
 * against published test vectors, WebCrypto and coreutils.
 */
import assert from "assert";
import { testNeeding } from "../_optional.ts";
import { downloadFile, type DownloadProgress, verifyFile } from "../../lib/data/download.ts";
import { Md5, Sha256 } from "../../lib/util/hash.ts";
import { withTempDir } from "../_helpers.ts";

async function webSha256(bytes: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
}

function hexOf(hash: Md5 | Sha256, ...chunks: Uint8Array[]): string {
  for (const c of chunks) hash.update(c);
  return hash.hex();
}

const PAYLOAD = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 7919) % 251);
const PAYLOAD_SHA256 = await webSha256(PAYLOAD);
const PAYLOAD_MD5 = hexOf(new Md5(), PAYLOAD);

/** A local server: /good, /corrupt (one byte flipped), /missing (404), /broken (dies mid-body). */
async function withServer(fn: (base: string) => Promise<void>): Promise<void> {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/good") return new Response(PAYLOAD as Uint8Array<ArrayBuffer>);
    if (path === "/corrupt") {
      const bad = PAYLOAD.slice();
      bad[1234] ^= 1;
      return new Response(bad);
    }
    if (path === "/broken") {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(PAYLOAD.slice(0, 5000));
          // Closing short of the announced length makes the server drop the connection.
          setTimeout(() => controller.close(), 20);
        },
      });
      return new Response(body, { headers: { "content-length": String(PAYLOAD.length) } });
    }
    return new Response("no such file", { status: 404, statusText: "Not Found" });
  });
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`);
  } finally {
    await server.shutdown();
  }
}

Deno.test("hashes: published vectors, chunk boundaries, WebCrypto", async () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  // RFC 1321, appendix A.5.
  const md5Suite: [string, string][] = [
    ["", "d41d8cd98f00b204e9800998ecf8427e"],
    ["a", "0cc175b9c0f1b6a831c399e269772661"],
    ["abc", "900150983cd24fb0d6963f7d28e17f72"],
    ["message digest", "f96b697d7cb7938d525a2f31aaf161d0"],
    ["abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"],
    [
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
      "d174ab98d277d9f5a5611c2c9f419d9f",
    ],
    ["1234567890".repeat(8), "57edf4a22be3c955ac49da2e2107b67a"],
  ];
  for (const [s, want] of md5Suite) assert.equal(hexOf(new Md5(), enc(s)), want, `md5 "${s}"`);
  // FIPS 180-4 examples.
  assert.equal(
    hexOf(new Sha256(), enc("abc")),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  assert.equal(
    hexOf(new Sha256(), enc("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
  );
  // Every split point around block and padding boundaries gives the same digest.
  for (const len of [55, 56, 63, 64, 65, 119, 120, 128, 1000]) {
    const data = PAYLOAD.subarray(0, len);
    const sha = await webSha256(data);
    const md5 = hexOf(new Md5(), data);
    for (const cut of [0, 1, 31, 55, 63, 64, len - 1]) {
      const a = data.subarray(0, Math.min(cut, len)), b = data.subarray(Math.min(cut, len));
      assert.equal(hexOf(new Sha256(), a, b), sha, `sha256 len ${len} cut ${cut}`);
      assert.equal(hexOf(new Md5(), a, new Uint8Array(0), b), md5, `md5 len ${len} cut ${cut}`);
    }
  }
});

await testNeeding(["fashion-mnist"], {
  name:
    "verifyFile: agrees with coreutils on Debian's file; a mismatch names the file and both digests",
  fn: async () => {
    const path = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
    // `sha256sum` / `md5sum` of Debian's (recompressed) file.
    const got = await verifyFile(path, {
      sha256: "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
      md5: "0d30e22e447f3c33dab9ed536400ac01",
    });
    assert.equal(got.md5, "0d30e22e447f3c33dab9ed536400ac01");
    await assert.rejects(
      verifyFile(path, { md5: "bb300cfdad3c16e7a12a480ee83cd310" }),
      (e: Error) =>
        e.message ===
          `Checksum mismatch for "${path}": expected md5 bb300cfdad3c16e7a12a480ee83cd310, ` +
            `got 0d30e22e447f3c33dab9ed536400ac01 (delete the file and download it again)`,
    );
  },
});

Deno.test("downloadFile: a good file lands verified, with progress, and no .part left", async () => {
  await withServer(async (base) => {
    await withTempDir("download_good", async (dir) => {
      const events: DownloadProgress[] = [];
      const dest = `${dir}/sub/file.bin`;
      await downloadFile(`${base}/good`, dest, {
        sha256: PAYLOAD_SHA256.toUpperCase(),
        md5: PAYLOAD_MD5,
        onProgress: (p) => events.push(p),
      });
      assert.deepEqual(await Deno.readFile(dest), PAYLOAD);
      assert.deepEqual([...Deno.readDirSync(`${dir}/sub`)].map((e) => e.name), ["file.bin"]);
      const last = events.at(-1)!;
      assert.deepEqual(last, {
        url: `${base}/good`,
        received: PAYLOAD.length,
        total: PAYLOAD.length,
        done: true,
      });
      assert.ok(events.slice(0, -1).every((e) => !e.done && e.received <= PAYLOAD.length));
    });
  });
});

Deno.test("downloadFile: a corrupt file is deleted and the error names the URL, both digests and the file", async () => {
  await withServer(async (base) => {
    await withTempDir("download_corrupt", async (dir) => {
      const dest = `${dir}/file.bin`;
      const err = await downloadFile(`${base}/corrupt`, dest, { sha256: PAYLOAD_SHA256 }).then(
        () => assert.fail("no error"),
        (e: Error) => e,
      );
      const bad = PAYLOAD.slice();
      bad[1234] ^= 1;
      assert.equal(
        err.message,
        `Checksum mismatch for "${base}/corrupt": expected sha256 ${PAYLOAD_SHA256}, got ${await webSha256(
          bad,
        )}; ` +
          `deleted the partial file "${dest}.part" (retry; if it persists the server or mirror holds a different file)`,
      );
      assert.deepEqual([...Deno.readDirSync(dir)], []);
      // MD5 alone is checked too.
      await assert.rejects(
        downloadFile(`${base}/corrupt`, dest, { md5: PAYLOAD_MD5 }),
        new RegExp(`expected md5 ${PAYLOAD_MD5}, got [0-9a-f]{32};`),
      );
      assert.deepEqual([...Deno.readDirSync(dir)], []);
    });
  });
});

Deno.test("downloadFile: a 404 and a stream that breaks off leave nothing behind", async () => {
  await withServer(async (base) => {
    await withTempDir("download_fail", async (dir) => {
      const dest = `${dir}/file.bin`;
      await assert.rejects(
        downloadFile(`${base}/missing`, dest, { sha256: PAYLOAD_SHA256 }),
        (e: Error) =>
          e.message ===
            `Cannot download "${base}/missing" to "${dest}": HTTP 404 Not Found (check the URL or mirror)`,
      );
      await assert.rejects(
        downloadFile(`${base}/broken`, dest, { sha256: PAYLOAD_SHA256 }),
        (e: Error) =>
          e.message.startsWith(`Cannot download "${base}/broken" to "${dest}": `) &&
          /the transfer broke off after \d+ bytes|got \d+ of 200000 bytes/.test(e.message) &&
          !e.message.includes("\n"),
      );
      assert.deepEqual([...Deno.readDirSync(dir)], []);
    });
  });
});

Deno.test("downloadFile: an injected fetch; short bodies, network errors and stream errors", async () => {
  await withTempDir("download_inject", async (dir) => {
    const dest = `${dir}/file.bin`;
    const short: typeof fetch = () =>
      Promise.resolve(
        new Response(PAYLOAD.slice(0, 100), { headers: { "content-length": "5000" } }),
      );
    await assert.rejects(
      downloadFile("https://example.org/f", dest, { fetch: short }),
      /got 100 of 5000 bytes; the partial file was deleted, retry$/,
    );
    const offline: typeof fetch = () =>
      Promise.reject(new TypeError("error sending request: dns error"));
    await assert.rejects(
      downloadFile("https://example.org/f", dest, { fetch: offline }),
      (e: Error) =>
        e.message ===
          `Cannot download "https://example.org/f" to "${dest}": error sending request: dns error (check the network)`,
    );
    const dying: typeof fetch = () =>
      Promise.resolve(
        new Response(
          new ReadableStream<Uint8Array>({
            pull(c) {
              c.enqueue(new Uint8Array(10));
              c.error(new Error("connection reset"));
            },
          }),
        ),
      );
    await assert.rejects(
      downloadFile("https://example.org/f", dest, { fetch: dying }),
      /broke off after \d+ bytes \(connection reset\)/,
    );
    const good: typeof fetch = () =>
      Promise.resolve(new Response(PAYLOAD as Uint8Array<ArrayBuffer>));
    await downloadFile("https://example.org/f", dest, { fetch: good, md5: PAYLOAD_MD5 });
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["file.bin"]);
  });
});
