/**
 * The registry: spec validation, the "not found" messages with the exact
 * command, the default cache folder, and a real Fashion-MNIST download from a
 * local mirror serving the upstream files (rebuilt from Debian's copies), checked
 * against the SHA-256 and MD5 in the registry, then served from the cache.
 */
import assert from "assert";
import { testNeeding } from "../_optional.ts";
import {
  backendTest,
  DEBIAN_FASHION_MNIST,
  HAS_DEBIAN_FASHION_MNIST,
  readAndDispose,
  withTempDir,
} from "../_helpers.ts";
import {
  defaultCacheDir,
  type DownloadableSpec,
  IDX_DATASETS,
  openDataset,
} from "../../lib/data/datasets.ts";
import type { DownloadProgress } from "../../lib/data/download.ts";

const DEBIAN = DEBIAN_FASHION_MNIST;

/**
 * Upstream's .gz file from Debian's: Debian recompressed nothing but dropped the
 * gzip header's file name and reset its mtime (strip-nondeterminism). Putting
 * both back (mtimes found by matching upstream's MD5) gives upstream's bytes.
 */
async function upstreamGz(name: string, mtime: number): Promise<Uint8Array> {
  const debian = await Deno.readFile(`${DEBIAN}/${name}`);
  assert.equal(debian[3], 0, "Debian's gzip header has no flags");
  const fname = new TextEncoder().encode(name.replace(/\.gz$/, "") + "\0");
  const out = new Uint8Array(debian.length + fname.length);
  out.set([0x1f, 0x8b, 0x08, 0x08]);
  new DataView(out.buffer).setUint32(4, mtime, true);
  out.set([0x00, 0x03], 8);
  out.set(fname, 10);
  out.set(debian.subarray(10), 10 + fname.length);
  return out;
}

Deno.test("openDataset: unknown names, splits and kinds are refused with the choices", async () => {
  await assert.rejects(
    // @ts-expect-error: a wrong name, as from an untyped config
    openDataset({ name: "imagenet" }),
    (e: Error) =>
      e instanceof RangeError &&
      e.message ===
        'Unknown dataset "imagenet": expected one of fashion-mnist, mnist, cifar10, cifar100, folder, npy',
  );
  await assert.rejects(
    // @ts-expect-error: a wrong split
    openDataset({ name: "mnist", split: "val" }),
    /^RangeError: Unknown split "val" for mnist: expected train or test$/,
  );
  await assert.rejects(
    // @ts-expect-error: a wrong kind
    openDataset({ name: "npy", path: "x.npy", kind: "embeddings" }),
    /^RangeError: Unknown npy kind "embeddings": expected images or features$/,
  );
});

Deno.test("openDataset: a missing dataset says where it looked and gives the exact command", async () => {
  await withTempDir("datasets_missing", async (dir) => {
    const spec: DownloadableSpec = {
      dataDir: `${dir}/data`,
      cacheDir: `${dir}/cache`,
      download: false,
      useSystemData: false,
    };
    await assert.rejects(
      openDataset({ name: "fashion-mnist", ...spec }),
      (e: Error) =>
        e.message ===
          `Fashion-MNIST not found in ${dir}/data, ${dir}/cache/fashion-mnist: install it with ` +
            `"sudo apt-get install dataset-fashion-mnist", or pass data.dataDir, or allow the download (data.download: true)`,
    );
    await assert.rejects(
      openDataset({ name: "mnist", ...spec, split: "test" }),
      (e: Error) =>
        e.message ===
          `MNIST not found in ${dir}/data, ${dir}/cache/mnist: pass data.dataDir, or allow the download (data.download: true)`,
    );
    // With system data allowed the Debian folder is listed among the places tried.
    if (!HAS_DEBIAN_FASHION_MNIST) {
      await assert.rejects(
        openDataset({ name: "fashion-mnist", ...spec, useSystemData: true }),
        new RegExp(`not found in ${dir}/data, /usr/share/datasets/fashion-mnist, `),
      );
    }
  });
});

Deno.test("defaultCacheDir: $XDG_CACHE_HOME, else ~/.cache", () => {
  const saved = { xdg: Deno.env.get("XDG_CACHE_HOME"), home: Deno.env.get("HOME") };
  try {
    Deno.env.set("XDG_CACHE_HOME", "/x/cache");
    assert.equal(defaultCacheDir(), "/x/cache/coss/datasets");
    Deno.env.delete("XDG_CACHE_HOME");
    Deno.env.set("HOME", "/home/u");
    assert.equal(defaultCacheDir(), "/home/u/.cache/coss/datasets");
  } finally {
    for (const [k, v] of [["XDG_CACHE_HOME", saved.xdg], ["HOME", saved.home]] as const) {
      if (v === undefined) Deno.env.delete(k);
      else Deno.env.set(k, v);
    }
  }
});

await testNeeding(["fashion-mnist"], {
  name:
    "Fashion-MNIST download: upstream bytes from a mirror pass the registry's SHA-256 and MD5, then the cache serves",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const files = new Map([
      ["t10k-images-idx3-ubyte.gz", await upstreamGz("t10k-images-idx3-ubyte.gz", 1504176627)],
      ["t10k-labels-idx1-ubyte.gz", await upstreamGz("t10k-labels-idx1-ubyte.gz", 1504176627)],
    ]);
    const requested: string[] = [];
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
      const name = new URL(req.url).pathname.slice(1);
      requested.push(name);
      const body = files.get(name);
      return body
        ? new Response(body as Uint8Array<ArrayBuffer>)
        : new Response("", { status: 404 });
    });
    const base = `http://127.0.0.1:${server.addr.port}/`;
    try {
      await withTempDir("datasets_download", async (dir) => {
        const events: DownloadProgress[] = [];
        const spec = {
          name: "fashion-mnist",
          split: "test",
          cacheDir: dir,
          mirror: base,
          useSystemData: false,
        } as const;
        const ds = await openDataset(spec, { onProgress: (p) => events.push(p) });
        assert.deepEqual(requested, ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]);
        assert.deepEqual(events.filter((e) => e.done).map((e) => e.received), [4422102, 5148]);
        assert.equal(ds.images.length, 10000);
        const debian = await openDataset({
          name: "fashion-mnist",
          split: "test",
          dataDir: DEBIAN,
          download: false,
        });
        assert.deepEqual(ds.evaluation!.labels, debian.evaluation!.labels);
        debian.images.close();
        ds.images.close();
        assert.deepEqual(
          [...Deno.readDirSync(`${dir}/fashion-mnist`)].map((e) => e.name).sort(),
          [...files.keys()].sort(),
        );

        const again = await openDataset(spec, {
          fetch: () => Promise.reject(new Error("must not download")),
        });
        assert.equal(again.images.length, 10000);
        assert.ok(
          again.images.fingerprint.includes(
            `${dir}/fashion-mnist/t10k-images-idx3-ubyte.gz:4422102:`,
          ),
        );
        again.images.close();
      });
      await withTempDir("datasets_mismatch", async (dir) => {
        // Debian's own (recompressed) file is not upstream's: the registry's SHA-256 rejects it.
        files.set(
          "train-images-idx3-ubyte.gz",
          await Deno.readFile(`${DEBIAN}/train-labels-idx1-ubyte.gz`),
        );
        await assert.rejects(
          openDataset(
            { name: "fashion-mnist", cacheDir: dir, mirror: base, useSystemData: false },
            { onProgress: () => {} },
          ),
          (e: Error) =>
            e.message.startsWith(
              `Fashion-MNIST not found in ${dir}/fashion-mnist and the download failed: Checksum mismatch for `,
            ) &&
            e.message.includes(
              `expected sha256 ${
                IDX_DATASETS["fashion-mnist"].files["train-images-idx3-ubyte.gz"].sha256
              }, ` +
                `got 0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056;`,
            ) &&
            e.message.endsWith(
              `install it with "sudo apt-get install dataset-fashion-mnist", or pass data.dataDir`,
            ),
        );
        assert.deepEqual([...Deno.readDirSync(`${dir}/fashion-mnist`)], []);
        // MNIST has MD5s only: they are checked too.
        await assert.rejects(
          openDataset({ name: "mnist", cacheDir: dir, mirror: base }, { onProgress: () => {} }),
          /^Error: MNIST not found in .* and the download failed: Checksum mismatch for "http:\/\/127\.0\.0\.1:\d+\/train-images-idx3-ubyte\.gz": expected md5 f68b3c2dcbeaaa9fbdd348bbdeb94873, got 10bea18fdb374794d4bb42e356e600c9;/,
        );
        await assert.rejects(
          openDataset({ name: "mnist", cacheDir: dir, mirror: `${base}nothing` }, {
            onProgress: () => {},
          }),
          /MNIST not found in .* and the download failed: Cannot download "http:\/\/127\.0\.0\.1:\d+\/nothing\/train-images-idx3-ubyte\.gz" .*: HTTP 404/,
        );
      });
    } finally {
      await server.shutdown();
    }
  },
});

backendTest("registry: every opened source holds no labels and a fingerprint", async () => {
  await withTempDir("datasets_structure", async (dir) => {
    const idx = new Uint8Array([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 255]);
    await Deno.writeFile(`${dir}/train-images-idx3-ubyte`, idx);
    await Deno.writeFile(
      `${dir}/train-labels-idx1-ubyte`,
      new Uint8Array([0, 0, 8, 1, 0, 0, 0, 1, 7]),
    );
    const ds = await openDataset({ name: "mnist", dataDir: dir, download: false });
    assert.deepEqual(Object.keys(ds).sort(), ["evaluation", "images"]);
    const keys = new Set([
      ...Object.keys(ds.images),
      ...Object.getOwnPropertyNames(Object.getPrototypeOf(ds.images)),
    ]);
    assert.ok(![...keys].some((k) => /label|evaluation|class/i.test(k)), [...keys].join(","));
    assert.deepEqual(Array.from(await readAndDispose(await ds.images.batch([0]))), [1]);
    assert.deepEqual(Array.from(ds.evaluation!.labels), [7]);
  });
}, { backends: ["cpu"] });

Deno.test("openDataset: paths that do not exist are named, with the fix", async () => {
  await assert.rejects(
    openDataset({ name: "npy", path: "/nonexistent/x.npy" }),
    /^Error: Cannot read \.npy file "\/nonexistent\/x\.npy": .*No such file.* \(check the path\)$/,
  );
  await assert.rejects(
    openDataset({ name: "folder", root: "/nonexistent/pets" }),
    /^Error: Cannot list image folder "\/nonexistent\/pets": .*No such file.* \(check the path\)$/,
  );
  // Opened for a config key, the error names the key to fix.
  await assert.rejects(
    openDataset({ name: "folder", root: "/nonexistent/pets" }, { key: "data.test" }),
    /^Error: Cannot list image folder "\/nonexistent\/pets": .*No such file.* \(check data\.test\.root\)$/,
  );
});
