/**
 * `deno task gpu-bundle --check`: build the GPU bundle, unpack it into an
 * empty folder, and run its `run.sh --quick` there with the network cut, on
 * this machine's WebGPU adapter (llvmpipe in CI). Also the pieces that need
 * no build: the IDX subset writer and the size limit.
 */
import assert from "assert";
import { testNeeding } from "../_optional.ts";
import { ROOT, runTask } from "../_cli.ts";
import { idxHead, MAX_BUNDLE_BYTES } from "../../tasks/gpu_bundle.ts";

// The check needs xz, tar, unshare with the right to cut the network (root), a WebGPU adapter
// and Fashion-MNIST.
await testNeeding(["xz", "root", "vulkan", "fashion-mnist"], {
  name: "deno task gpu-bundle --check: the bundle runs offline in an empty folder",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const out = `dist/test-gpu-bundle-${crypto.randomUUID().slice(0, 8)}`;
    try {
      const { code, err } = await runTask("gpu-bundle", ["--out", out, "--check"]);
      assert.equal(code, 0, err.slice(-3000));
      assert.match(err, /built dist\/test-gpu-bundle-\w+ \(\d+\.\d MiB of 60\)/);
      assert.match(err, /check passed in \d+ s/);
      const manifest = JSON.parse(await Deno.readTextFile(`${ROOT}${out}/manifest.json`));
      let total = 0;
      for (const f of Object.values(manifest.files) as { bytes: number }[]) total += f.bytes;
      assert.ok(total <= MAX_BUNDLE_BYTES, `${total} bytes`);
      for (
        const f of [
          "run.sh",
          "bin/deno.xz",
          "app/lib/bundle/coss.js",
          "app/lib/bundle/reference.py",
        ]
      ) {
        assert.ok(
          Object.keys(manifest.files).some((k) => k === f || k === `app/${f}`),
          `${f} is in the bundle`,
        );
      }
    } finally {
      await Deno.remove(`${ROOT}${out}`, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test("gpu-bundle: idxHead keeps the header and the first n records", () => {
  // An IDX image file: magic 0x00000803, 3 images of 2×2.
  const bytes = new Uint8Array([
    0,
    0,
    8,
    3,
    0,
    0,
    0,
    3,
    0,
    0,
    0,
    2,
    0,
    0,
    0,
    2,
    ...Array(12).keys(),
  ]);
  const head = idxHead(bytes, 2);
  assert.deepEqual([...head.slice(0, 16)], [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2]);
  assert.deepEqual([...head.slice(16)], [0, 1, 2, 3, 4, 5, 6, 7]);
  // Asking for more than there is keeps them all.
  assert.equal(idxHead(bytes, 9).length, bytes.length);
  // Labels: magic 0x00000801, 4 labels.
  const labels = idxHead(new Uint8Array([0, 0, 8, 1, 0, 0, 0, 4, 9, 0, 0, 3]), 1);
  assert.deepEqual([...labels], [0, 0, 8, 1, 0, 0, 0, 1, 9]);
});

Deno.test("deno task gpu-bundle: bad flags are one line", async () => {
  for (
    const [args, pattern] of [
      [["--subset", "0"], /^error: --subset must be an integer from 1 to 60000, got "0"/],
      [["--bogus"], /^error: .*bogus/],
    ] as const
  ) {
    const { code, err } = await runTask("gpu-bundle", [...args]);
    assert.equal(code, 2, err);
    assert.match(err.trim(), pattern);
  }
});
