/**
 * The shard stages against the single-process functions, in process, on the
 * cpu backend: 203 images of 8 random byte values (many exact ties), embed
 * batch 8, mining blocks of 16, k = 5. Embed shards equal
 * `computeTeacherFeatures`, and the merged neighbours equal `mineNeighbours`
 * exactly, for several shard counts, including counts that leave empty
 * shards; no tensors leak. A mine task's memory (its own count and tfjs's
 * tensor peak) does not grow with the number of embed shards.
 */
import assert from "assert";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../lib/backend.ts";
import { ArrayImageSource } from "../../lib/data/array_source.ts";
import { computeTeacherFeatures, teacherCachePath } from "../../lib/teacher/cache.ts";
import { loadNeighbours, mineNeighbours, neighbourCachePath } from "../../lib/neighbours/mod.ts";
import {
  readSafetensors,
  type SafetensorsInput,
  writeSafetensors,
} from "../../lib/io/safetensors.ts";
import {
  embedShard,
  mergePrepared,
  mineShard,
  type PreparePlan,
  shardPath,
} from "../../lib/teacher/prepare.ts";
import type { Tensor2D, Tensor4D } from "../../lib/tf_types.ts";

const N = 203, D = 8, K = 5;

function setup() {
  let seed = 7;
  const bytes = Uint8Array.from({ length: N * D }, () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return (seed >>> 16) % 4; // few values: many rows tie exactly
  });
  const images = new ArrayImageSource("rand", bytes, [1, 1, D], "rand-fp");
  const teacher = {
    featureDim: D,
    embed: (x: Tensor4D): Tensor2D => tf.reshape(x, [x.shape[0], D]),
  };
  return { images, teacher };
}

function plan(dir: string): PreparePlan {
  return {
    dir,
    key: "k".repeat(64),
    teacherKey: "t",
    transformKey: "identity",
    dataset: "rand rand-fp",
    n: N,
    batchSize: 8,
    chunkSize: 16,
    k: K,
    needLists: true,
    rebuild: (stage, s) => `rebuild ${stage} ${s.index}/${s.count}`,
  };
}

Deno.test("prepare shards equal computeTeacherFeatures and mineNeighbours, any shard count", async () => {
  await initBackend({ backend: "cpu", log: false });
  const { images, teacher } = setup();
  const features = await computeTeacherFeatures(teacher, images, { batchSize: 8, progress: false });
  const want = await mineNeighbours({ features, n: N, dim: D }, {
    k: K,
    chunkSize: 16,
    selection: "host",
    progress: false,
  });
  const root = await Deno.makeTempDir({ dir: "tests/.tmp", prefix: "prepare-" });
  try {
    const before = tf.memory().numTensors;
    for (const [embeds, mines] of [[1, 1], [3, 2], [5, 7], [30, 20]]) {
      const p = plan(`${root}/${embeds}-${mines}`);
      for (let i = 0; i < embeds; i++) {
        await embedShard(p, { index: i, count: embeds }, { teacher, images });
      }
      for (let q = 0; q < mines; q++) await mineShard(p, { index: q, count: mines });
      const merged = await mergePrepared(p);
      assert.equal(merged.done, false);
      const st = await readSafetensors(teacherCachePath(p.dir, p.key));
      assert.deepEqual(
        st.tensors.get("features")!.values,
        features,
        `${embeds}/${mines}: features`,
      );
      const nn = await loadNeighbours(neighbourCachePath(p.dir, p.key, K));
      assert.deepEqual(nn.indices, want.indices, `${embeds}/${mines}: indices`);
      assert.deepEqual(nn.similarities, want.similarities, `${embeds}/${mines}: similarities`);
      // Done is done: a rerun of a shard or the merge writes nothing.
      const again = await mineShard(p, { index: 0, count: mines });
      assert.equal(again.done, true);
      assert.equal((await mergePrepared(p)).done, true);
    }
    assert.equal(tf.memory().numTensors, before, "tensors leaked");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("prepare refuses a foreign or misplaced shard, naming it and its command", async () => {
  await initBackend({ backend: "cpu", log: false });
  const { images, teacher } = setup();
  const root = await Deno.makeTempDir({ dir: "tests/.tmp", prefix: "prepare-" });
  try {
    const p = plan(root);
    for (let i = 0; i < 2; i++) await embedShard(p, { index: i, count: 2 }, { teacher, images });
    // A shard of another key at shard 1's name: mining refuses it.
    const foreign = { ...plan(`${root}/other`), key: "f".repeat(64) };
    await embedShard(foreign, { index: 1, count: 2 }, { teacher, images });
    await Deno.rename(
      shardPath(foreign, "embed", { index: 1, count: 2 }),
      shardPath(p, "embed", { index: 1, count: 2 }),
    );
    await assert.rejects(
      () => mineShard(p, { index: 0, count: 1 }),
      /^Error: foreign embed shard 1\/2 ".*embed-1of2\.safetensors": key ffffffffffffffff….*; rebuild it with: rebuild embed 1\/2$/,
    );
    // Shard 0 of 2 copied to the name of shard 0 of 3 holds the wrong rows.
    await Deno.copyFile(
      shardPath(p, "embed", { index: 0, count: 2 }),
      shardPath(p, "embed", { index: 0, count: 3 }),
    );
    const r = await embedShard(p, { index: 0, count: 3 }, { teacher, images });
    assert.equal(r.done, false, "a shard of the wrong block was taken as done");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("prepare mine: memory does not grow with the number of embed shards", async () => {
  await initBackend({ backend: "cpu", log: false });
  const { images, teacher } = setup();
  const root = await Deno.makeTempDir({ dir: "tests/.tmp", prefix: "prepare-mem-" });
  try {
    const mine = { index: 0, count: 2 };
    const B = 112, C = 16; // mine shard 0 of 2: 7 blocks of 16 queries
    const peaks: { embeds: number; host: number; tensors: number; shard: number }[] = [];
    for (const embeds of [1, 2, 6]) {
      const p = plan(`${root}/${embeds}`);
      for (let i = 0; i < embeds; i++) {
        await embedShard(p, { index: i, count: embeds }, { teacher, images });
      }
      // The largest embed shard as a mine task holds it: its features and rows (no views here), plus its rows normalised.
      let shard = 0;
      for (let i = 0; i < embeds; i++) {
        const st = await readSafetensors(shardPath(p, "embed", { index: i, count: embeds }));
        let bytes = st.tensors.get("features")!.values.byteLength;
        for (const t of st.tensors.values()) bytes += t.values.byteLength;
        shard = Math.max(shard, bytes);
      }
      let host = 0;
      // tfjs's own count of the tensor bytes alive at once, beside the task's count.
      const { peakBytes: tensors } = await tf.profile(async () => {
        const r = await mineShard(p, mine);
        assert.equal(r.rows, B);
        host = r.peakBytes;
      });
      peaks.push({ embeds, host, tensors, shard });
      // The bound: the query block (features twice, as Q and Qᵀ; its k-lists), one embed
      // shard, and a few [C, D] column blocks with their [C, C] similarities.
      const fixed = B * K * 8 + 2 * B * D * 4 + 5 * C * D * 4 + C * C * 4;
      assert.ok(host <= fixed + shard, `${embeds} shards: ${host} > ${fixed} + ${shard}`);
      assert.ok(host >= B * K * 8 + 2 * B * D * 4 + shard, `${embeds} shards: ${host} counts less`);
    }
    const [one, two, six] = peaks;
    assert.ok(six.host < two.host && two.host < one.host, JSON.stringify(peaks));
    // Beyond the shard it reads, the task holds the same whatever the shard count.
    assert.equal(two.host - two.shard, six.host - six.shard, JSON.stringify(peaks));
    assert.equal(one.host - one.shard, six.host - six.shard, JSON.stringify(peaks));
    // The tensors (query block, column blocks, similarities) are on the global block grid.
    assert.ok(peaks.every((x) => x.tensors === one.tensors), JSON.stringify(peaks));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("prepare mine: an embed shard's views are never read (the same peak, the same lists)", async () => {
  await initBackend({ backend: "cpu", log: false });
  const { images, teacher } = setup();
  const root = await Deno.makeTempDir({ dir: "tests/.tmp", prefix: "prepare-views-" });
  try {
    const plain = plan(`${root}/plain`);
    // The same shards with 4 views of each image (and their parameters) beside the features.
    const views = { count: 4, key: "v".repeat(64), augmentation: { width: 3 } };
    const withViews = {
      ...plan(`${root}/views`),
      views: views as unknown as NonNullable<PreparePlan["views"]>,
    };
    await Deno.mkdir(`${root}/views/prepare`, { recursive: true });
    for (let i = 0; i < 2; i++) {
      const shard = { index: i, count: 2 };
      await embedShard(plain, shard, { teacher, images });
      const st = await readSafetensors(shardPath(plain, "embed", shard));
      const rows = st.tensors.get("rows")!.shape[0];
      const tensors: Record<string, SafetensorsInput> = {};
      for (const [name, t] of st.tensors) tensors[name] = { ...t, dtype: t.dtype as "F32" | "I32" };
      tensors.views = { shape: [rows, 4, D], values: new Float32Array(rows * 4 * D).fill(0.5) };
      tensors.params = { shape: [rows, 4, 3], values: new Float32Array(rows * 4 * 3) };
      await writeSafetensors(shardPath(withViews, "embed", shard), tensors, {
        ...st.metadata,
        "coss.views": views.key,
      });
    }
    const mine = { index: 0, count: 1 };
    const a = await mineShard(plain, mine);
    const b = await mineShard(withViews, mine);
    // Reading a shard whole would count its views and params: 4 × (D + 3) floats a row more.
    assert.equal(b.peakBytes, a.peakBytes);
    const [ta, tb] = await Promise.all([a, b].map((r) => readSafetensors(r.path)));
    assert.deepEqual(tb.tensors.get("indices"), ta.tensors.get("indices"));
    assert.deepEqual(tb.tensors.get("similarities"), ta.tensors.get("similarities"));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
