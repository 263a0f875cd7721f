/**
 * CIFAR binary files written here (labels; CHW on disk becomes HWC, checked
 * pixel by pixel), refusals, and the download path: a tar.gz written by hand
 * (512-byte ustar headers with checksums) served from a local server, fetched,
 * verified and extracted.
 */
import assert from "assert";
import { backendTest, readAndDispose, withTempDir } from "../_helpers.ts";
import { CIFAR100_CLASSES, CIFAR10_CLASSES, fetchCifar, openCifar } from "../../lib/data/cifar.ts";
import { openDataset } from "../../lib/data/datasets.ts";
import { extractTar } from "../../lib/data/_tar.ts";

const quiet = { onProgress: () => {} };

/** The byte at channel c, row y, column x of record r. */
const px = (r: number, c: number, y: number, x: number) => (r * 31 + c * 7 + y * 3 + x) % 256;

/** CIFAR records: label byte(s), then 1024 R, 1024 G, 1024 B (CHW). */
function records(labels: number[][], first: number): Uint8Array {
  const size = labels[0].length + 3072;
  const out = new Uint8Array(labels.length * size);
  labels.forEach((l, i) => {
    out.set(l, i * size);
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) {
          out[i * size + l.length + c * 1024 + y * 32 + x] = px(first + i, c, y, x);
        }
      }
    }
  });
  return out;
}

/** HWC floats of record r, as the reader must produce them. */
function expectedHwc(r: number): number[] {
  const out: number[] = [];
  for (let y = 0; y < 32; y++) {
    for (let x = 0; x < 32; x++) {
      for (let c = 0; c < 3; c++) out.push(Math.fround(px(r, c, y, x) / 255));
    }
  }
  return out;
}

const TRAIN10 = [[3], [9], [0], [1], [2], [5], [7]]; // split over five batch files: 2,1,1,1,2
const TEST10 = [[8], [4], [6]];

async function writeCifar10(dir: string, meta?: string): Promise<string> {
  const root = `${dir}/cifar-10-batches-bin`;
  await Deno.mkdir(root, { recursive: true });
  const cuts = [0, 2, 3, 4, 5, 7];
  for (let b = 0; b < 5; b++) {
    await Deno.writeFile(
      `${root}/data_batch_${b + 1}.bin`,
      records(TRAIN10.slice(cuts[b], cuts[b + 1]), cuts[b]),
    );
  }
  await Deno.writeFile(`${root}/test_batch.bin`, records(TEST10, 100));
  if (meta !== undefined) await Deno.writeTextFile(`${root}/batches.meta.txt`, meta);
  return root;
}

/** One ustar entry: header with checksum, body padded to 512. */
function tarEntry(name: string, body: Uint8Array, type = "0"): Uint8Array {
  const h = new Uint8Array(512);
  const put = (at: number, s: string) => h.set(new TextEncoder().encode(s), at);
  put(0, name);
  put(100, "0000644\0");
  put(108, "0000000\0");
  put(116, "0000000\0");
  put(124, body.length.toString(8).padStart(11, "0") + "\0");
  put(136, "14707041020\0");
  put(148, "        ");
  put(156, type);
  put(257, "ustar\0");
  put(263, "00");
  let sum = 0;
  for (const b of h) sum += b;
  put(148, sum.toString(8).padStart(6, "0") + "\0 ");
  const out = new Uint8Array(512 + Math.ceil(body.length / 512) * 512);
  out.set(h);
  out.set(body, 512);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), at += p.length);
  return out;
}

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The CIFAR-10 folder as a tar.gz, with a directory entry and a GNU long name. */
async function cifar10Archive(dir: string): Promise<Uint8Array> {
  const root = await writeCifar10(`${dir}/src`);
  const entries = [tarEntry("cifar-10-batches-bin/", new Uint8Array(0), "5")];
  for (const f of [...Deno.readDirSync(root)].map((e) => e.name).sort()) {
    entries.push(tarEntry(`cifar-10-batches-bin/${f}`, await Deno.readFile(`${root}/${f}`)));
  }
  const long = `cifar-10-batches-bin/${"n".repeat(120)}.html`;
  entries.push(tarEntry("././@LongLink", new TextEncoder().encode(long + "\0"), "L"));
  entries.push(tarEntry(long.slice(0, 99), new TextEncoder().encode("<html/>")));
  entries.push(new Uint8Array(1024));
  return await gzip(concat(entries));
}

backendTest("CIFAR-10: labels, class names and CHW→HWC pixels, exactly", async () => {
  await withTempDir("cifar_c10", async (dir) => {
    const root = await writeCifar10(dir);
    const train = await openCifar(root);
    assert.equal(train.images.name, "cifar10/train");
    assert.equal(train.images.length, 7);
    assert.deepEqual(train.images.imageShape, [32, 32, 3]);
    assert.deepEqual(Array.from(train.evaluation!.labels), TRAIN10.flat());
    assert.deepEqual(train.evaluation!.classNames, CIFAR10_CLASSES);
    const x = await train.images.batch([6, 0, 2]);
    assert.deepEqual(x.shape, [3, 32, 32, 3]);
    assert.deepEqual(Array.from(await readAndDispose(x)), [
      ...expectedHwc(6),
      ...expectedHwc(0),
      ...expectedHwc(2),
    ]);
    const test = await openCifar(root, { split: "test" });
    assert.deepEqual(Array.from(test.evaluation!.labels), TEST10.flat());
    assert.deepEqual(
      Array.from(await readAndDispose(await test.images.batch([1]))),
      expectedHwc(101),
    );
    assert.match(
      test.images.fingerprint,
      /^cifar10\/test\|cifar-binary\|.*test_batch\.bin:\d+:\d+$/,
    );
    await Deno.writeTextFile(
      `${root}/batches.meta.txt`,
      CIFAR10_CLASSES.map((c) => c.toUpperCase()).join("\n") + "\n\n",
    );
    const named = await openCifar(root, { split: "test" });
    assert.equal(named.evaluation!.classNames[9], "TRUCK");
    [train, test, named].forEach((d) => d.images.close());
  });
}, { backends: ["cpu"] });

backendTest("CIFAR-100: the fine label (second byte) is used; registry finds dataDir", async () => {
  await withTempDir("cifar_c100", async (dir) => {
    const root = `${dir}/cifar-100-binary`;
    await Deno.mkdir(root);
    await Deno.writeFile(`${root}/train.bin`, records([[1, 99], [19, 42]], 0));
    await Deno.writeFile(`${root}/test.bin`, records([[4, 7]], 50));
    for (const dataDir of [dir, root]) {
      const ds = await openDataset({
        name: "cifar100",
        dataDir,
        download: false,
        useSystemData: false,
      });
      assert.equal(ds.images.name, "cifar100/train");
      assert.deepEqual(Array.from(ds.evaluation!.labels), [99, 42]);
      assert.equal(ds.evaluation!.classNames.length, 100);
      assert.equal(ds.evaluation!.classNames[99], "worm");
      assert.deepEqual(
        Array.from(await readAndDispose(await ds.images.batch([1]))),
        expectedHwc(1),
      );
      ds.images.close();
    }
    assert.equal(new Set(CIFAR100_CLASSES).size, 100);
  });
}, { backends: ["cpu"] });

Deno.test("CIFAR: truncated and missing files name the file and the fix", async () => {
  await withTempDir("cifar_bad", async (dir) => {
    const root = await writeCifar10(dir);
    const full = await Deno.readFile(`${root}/test_batch.bin`);
    await Deno.writeFile(`${root}/test_batch.bin`, full.subarray(0, full.length - 100));
    await assert.rejects(
      openCifar(root, { split: "test" }),
      (e: Error) =>
        e instanceof SyntaxError &&
        e.message ===
          `Cannot read CIFAR file "${root}/test_batch.bin": 9119 bytes is not a whole number of 3073-byte ` +
            `records (truncated? extract cifar-10-binary.tar.gz again)`,
    );
    await Deno.remove(`${root}/data_batch_3.bin`);
    await assert.rejects(
      openCifar(root),
      /Cannot read CIFAR file "[^"]*data_batch_3\.bin": .*extract cifar-10-binary\.tar\.gz again\)$/,
    );
    await assert.rejects(openCifar(dir), /is not an extracted CIFAR binary folder/);
    await assert.rejects(
      openDataset({
        name: "cifar10",
        dataDir: `${dir}/nowhere`,
        download: false,
        cacheDir: `${dir}/cache`,
      }),
      (e: Error) =>
        e.message ===
          `CIFAR-10 not found in ${dir}/nowhere/cifar-10-batches-bin, ${dir}/nowhere, ${dir}/cache/cifar10/cifar-10-batches-bin: ` +
            `pass data.dataDir (a folder holding cifar-10-batches-bin/), or allow the download (data.download: true)`,
    );
  });
});

backendTest("CIFAR tar.gz: fetched from a local server, verified, extracted, cached", async () => {
  await withTempDir("cifar_fetch", async (dir) => {
    const archive = await cifar10Archive(dir);
    let requests = 0;
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
      requests++;
      return new Response(archive as Uint8Array<ArrayBuffer>);
    });
    const base = `http://127.0.0.1:${server.addr.port}`;
    try {
      const cache = `${dir}/cache`;
      const folder = await fetchCifar("cifar10", `${cache}/cifar10`, {
        url: `${base}/cifar-10-binary.tar.gz`,
        hashes: { sha256: await sha256(archive) },
        ...quiet,
      });
      assert.equal(folder, `${cache}/cifar10/cifar-10-batches-bin`);
      const names = [...Deno.readDirSync(folder)].map((e) => e.name).sort();
      assert.deepEqual(names, [
        "data_batch_1.bin",
        "data_batch_2.bin",
        "data_batch_3.bin",
        "data_batch_4.bin",
        "data_batch_5.bin",
        `${"n".repeat(120)}.html`,
        "test_batch.bin",
      ]);
      assert.deepEqual([...Deno.readDirSync(`${cache}/cifar10`)].map((e) => e.name).sort(), [
        "cifar-10-batches-bin",
        "cifar-10-binary.tar.gz",
      ]);
      // The registry now finds the cached copy without the network.
      const ds = await openDataset({
        name: "cifar10",
        split: "test",
        cacheDir: cache,
        download: false,
      }, {
        fetch: () => Promise.reject(new Error("must not download")),
      });
      assert.deepEqual(Array.from(ds.evaluation!.labels), TEST10.flat());
      assert.deepEqual(
        Array.from(await readAndDispose(await ds.images.batch([2]))),
        expectedHwc(102),
      );
      ds.images.close();

      // From the registry, the archive does not match the official MD5: the partial file is deleted.
      const fresh = `${dir}/fresh`;
      await assert.rejects(
        openDataset({ name: "cifar10", cacheDir: fresh, mirror: base }, quiet),
        (e: Error) =>
          e.message.startsWith(
            `CIFAR-10 not found in ${fresh}/cifar10/cifar-10-batches-bin and the download failed: `,
          ) &&
          e.message.includes(
            `Checksum mismatch for "${base}/cifar-10-binary.tar.gz": expected md5 c32a1d4ab5d03f1284b67883e8d87530, got `,
          ) &&
          e.message.includes(
            `deleted the partial file "${fresh}/cifar10/cifar-10-binary.tar.gz.part"`,
          ) &&
          !e.message.includes("\n"),
      );
      assert.deepEqual([...Deno.readDirSync(`${fresh}/cifar10`)], []);
      assert.equal(requests, 2);
    } finally {
      await server.shutdown();
    }
  });
}, { backends: ["cpu"] });

Deno.test("tar: a bad header checksum, a truncated body and an escaping path are refused", async () => {
  await withTempDir("cifar_tar", async (dir) => {
    const good = concat([tarEntry("a/x.bin", new Uint8Array(700).fill(7)), new Uint8Array(1024)]);
    const stream = (b: Uint8Array) => new Blob([b as Uint8Array<ArrayBuffer>]).stream();
    assert.deepEqual(await extractTar(stream(good), `${dir}/ok`, "good.tar"), ["a/x.bin"]);
    assert.deepEqual(await Deno.readFile(`${dir}/ok/a/x.bin`), new Uint8Array(700).fill(7));
    const flipped = good.slice();
    flipped[5] ^= 1;
    await assert.rejects(
      extractTar(stream(flipped), `${dir}/bad`, "bad.tar"),
      /^SyntaxError: Cannot extract "bad\.tar": header at byte 0 has checksum \d+, computed \d+ \(delete it and download it again\)$/,
    );
    await assert.rejects(
      extractTar(stream(good.subarray(0, 900)), `${dir}/cut`, "cut.tar"),
      /truncated inside "a\/x\.bin" \(388 of 700 bytes\)/,
    );
    await assert.rejects(
      extractTar(stream(tarEntry("../evil", new Uint8Array(3))), `${dir}/evil`, "evil.tar"),
      /entry "\.\.\/evil" would be written outside the destination/,
    );
  });
});
