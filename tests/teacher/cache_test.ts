/**
 * The teacher-feature cache: miss → compute → file, hit without running the
 * teacher, recompute when the teacher's weights, the transform or the dataset
 * change, a truncated file or one with the right name but the wrong key is
 * never used, crash leftovers are ignored, no temporary files remain, and
 * CachedTeacher serves rows by index. Uses a tiny fake teacher (mean-pooled
 * pixels times a fixed matrix) over synthetic images.
 */
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs";
import assert from "assert";
import { backendTest, scratch } from "../_helpers.ts";
import { readSafetensors, writeSafetensors } from "../../lib/io/safetensors.ts";
import { ParamStore } from "../../lib/models/params.ts";
import type { Embedder, EmbedOptions } from "../../lib/models/types.ts";
import type { ImageSource } from "../../lib/data/types.ts";
import {
  CachedTeacher,
  cacheKey,
  computeTeacherFeatures,
  loadOrComputeFeatures,
  teacherFingerprint,
} from "../../lib/teacher/cache.ts";

async function listDir(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
}

/** Mean-pooled pixels `[B, C]` times a fixed `[C, D]` matrix, counting calls. */
class FakeTeacher implements Embedder {
  readonly params = new ParamStore(0);
  readonly featureDim: number;
  calls = 0;
  lastOptions: EmbedOptions | undefined;

  constructor(channels = 3, dim = 5) {
    this.featureDim = dim;
    const w = Float32Array.from({ length: channels * dim }, (_, i) => Math.sin(i + 1));
    this.params.add("proj.weight", "linear", true, () => tf.tensor2d(w, [channels, dim]));
  }

  embed(x: tf.Tensor4D, options?: EmbedOptions): tf.Tensor2D {
    this.calls++;
    this.lastOptions = options;
    return tf.tidy(() =>
      tf.matMul(tf.mean(x, [1, 2]) as tf.Tensor2D, this.params.get("proj.weight"))
    );
  }

  dispose(): void {
    this.params.dispose();
  }
}

/** `n` synthetic 4×4×3 images; pixel values are a fixed function of the index. */
function fakeImages(n: number, fingerprint = "fake:v1"): ImageSource {
  return {
    name: "fake",
    length: n,
    imageShape: [4, 4, 3],
    fingerprint,
    batch(indices: ArrayLike<number>): Promise<tf.Tensor4D> {
      const values = new Float32Array(indices.length * 48);
      for (let b = 0; b < indices.length; b++) {
        for (let p = 0; p < 48; p++) {
          values[b * 48 + p] = (Math.sin(indices[b] * 12.9898 + p * 78.233) + 1) / 2;
        }
      }
      return Promise.resolve(tf.tensor4d(values, [indices.length, 4, 4, 3]));
    },
    close() {},
  };
}

/** Set a variable to `f(variable)`, as a training step would. */
function reassign(v: tf.Variable, f: (w: tf.Tensor) => tf.Tensor): void {
  const next = tf.tidy(() => f(v));
  v.assign(next);
  next.dispose();
}

/** The teacher's features for `indices`, computed directly (no cache). */
async function embedDirect(
  teacher: Embedder,
  images: ImageSource,
  indices: number[],
  transform = (x: tf.Tensor4D) => x,
): Promise<Float32Array> {
  const x = await images.batch(indices);
  const y = tf.tidy(() => teacher.embed(transform(x)));
  x.dispose();
  const values = await y.data() as Float32Array;
  y.dispose();
  return values;
}

const scale2 = (x: tf.Tensor4D) => tf.mul(x, 2) as tf.Tensor4D;

backendTest(
  "teacher cache: miss computes and writes; the second call hits without the teacher",
  async (backend) => {
    const { dir, cleanup } = await scratch(`cache-hit-${backend}`);
    const teacher = new FakeTeacher();
    const lines: string[] = [];
    try {
      const images = fakeImages(40);
      const opts = {
        dir,
        teacher,
        images,
        batchSize: 16,
        log: (l: string) => lines.push(l),
        progress: false,
      };
      const first = await loadOrComputeFeatures(opts);
      assert.equal(first.hit, false);
      assert.equal(teacher.calls, 3); // 16 + 16 + 8
      assert.deepEqual(teacher.lastOptions, { training: false });
      assert.equal(lines[0], "teacher cache: miss (no file) — computing 40 features");
      assert.match(
        lines[1],
        /^teacher cache: wrote ".*teacher-[0-9a-f]{16}\.safetensors" \(40×5\)/,
      );
      assert.equal(first.path, `${dir}/teacher-${first.key.slice(0, 16)}.safetensors`);
      assert.deepEqual(await listDir(dir), [`teacher-${first.key.slice(0, 16)}.safetensors`]);

      const st = await readSafetensors(first.path);
      assert.deepEqual(st.tensors.get("features")?.shape, [40, 5]);
      assert.equal(st.tensors.get("features")?.dtype, "F32");
      assert.equal(st.metadata["coss.cache"], "teacher-features");
      assert.equal(st.metadata["coss.key"], first.key);
      assert.equal(st.metadata.transform, "identity");
      assert.equal(st.metadata.n, "40");
      assert.equal(st.metadata.dim, "5");
      assert.match(st.metadata.dataset, /fake:v1/);
      assert.ok(!Number.isNaN(Date.parse(st.metadata.created)));

      const second = await loadOrComputeFeatures(opts);
      assert.equal(second.hit, true);
      assert.equal(teacher.calls, 3, "a hit must not run the teacher");
      assert.equal(second.key, first.key);
      assert.deepEqual(second.features, first.features);
      assert.match(lines[2], /^teacher cache: hit ".*" \(40×5\)$/);

      // The features are the teacher's, row by row.
      const want = await embedDirect(teacher, images, [7]);
      assert.deepEqual(first.features.subarray(35, 40), want);
    } finally {
      teacher.dispose();
      await cleanup();
    }
  },
);

backendTest("teacher cache: new weights, transform or dataset → recompute", async () => {
  const { dir, cleanup } = await scratch("cache-stale");
  const teacher = new FakeTeacher();
  const lines: string[] = [];
  try {
    const base = {
      dir,
      teacher,
      batchSize: 64,
      log: (l: string) => lines.push(l),
      progress: false,
    };
    const a = await loadOrComputeFeatures({ ...base, images: fakeImages(20) });
    assert.equal((await loadOrComputeFeatures({ ...base, images: fakeImages(20) })).hit, true);

    reassign(teacher.params.get("proj.weight"), (w) => tf.mul(w, -1));
    const b = await loadOrComputeFeatures({ ...base, images: fakeImages(20) });
    assert.equal(b.hit, false);
    assert.notEqual(b.key, a.key);
    assert.ok(Math.abs(b.features[0] + a.features[0]) < 1e-6, "recomputed with the new weights");

    const c = await loadOrComputeFeatures({
      ...base,
      images: fakeImages(20),
      transform: scale2,
      transformKey: '[{"op":"scale","by":2}]',
    });
    assert.equal(c.hit, false);
    assert.ok(Math.abs(c.features[0] - 2 * b.features[0]) < 1e-5, "the transform was applied");

    const d = await loadOrComputeFeatures({ ...base, images: fakeImages(20, "fake:v2") });
    assert.equal(d.hit, false);
    assert.equal(new Set([a.key, b.key, c.key, d.key]).size, 4);
    assert.equal(teacher.calls, 4);
    assert.equal(lines.filter((l) => l.includes("miss (no file)")).length, 4);
  } finally {
    teacher.dispose();
    await cleanup();
  }
}, { backends: ["cpu"] });

backendTest("teacher cache: a truncated or corrupt file is recomputed, never used", async () => {
  const { dir, cleanup } = await scratch("cache-corrupt");
  const teacher = new FakeTeacher();
  const lines: string[] = [];
  try {
    const opts = {
      dir,
      teacher,
      images: fakeImages(30),
      log: (l: string) => lines.push(l),
      progress: false,
    };
    const good = await loadOrComputeFeatures(opts);
    const bytes = await Deno.readFile(good.path);

    await Deno.writeFile(good.path, bytes.subarray(0, bytes.length - 37)); // a crash mid-write
    const again = await loadOrComputeFeatures(opts);
    assert.equal(again.hit, false);
    assert.match(
      lines.at(-2)!,
      /^teacher cache: corrupt file ".*" \(.*truncated.*\) — recomputing 30 features$/,
    );
    assert.deepEqual(again.features, good.features);
    assert.equal((await loadOrComputeFeatures(opts)).hit, true, "the rewritten file is valid");

    await Deno.writeFile(good.path, new TextEncoder().encode("not a safetensors file at all"));
    assert.equal((await loadOrComputeFeatures(opts)).hit, false);
    assert.match(lines.at(-2)!, /corrupt file/);

    assert.equal(teacher.calls, 3);
    assert.deepEqual(await listDir(dir), [`teacher-${good.key.slice(0, 16)}.safetensors`]);
  } finally {
    teacher.dispose();
    await cleanup();
  }
}, { backends: ["cpu"] });

backendTest(
  "teacher cache: right name but wrong key, wrong shape, or crash leftovers are not used",
  async () => {
    const { dir, cleanup } = await scratch("cache-key");
    const teacher = new FakeTeacher();
    const lines: string[] = [];
    try {
      const images = fakeImages(12);
      const opts = { dir, teacher, images, log: (l: string) => lines.push(l), progress: false };
      const key = await cacheKey({
        teacher: await teacherFingerprint(teacher),
        dataset: "fake:v1",
        transform: "identity",
      });
      const path = `${dir}/teacher-${key.slice(0, 16)}.safetensors`;
      const planted = { features: { shape: [12, 5], values: new Float32Array(60).fill(9) } };
      const meta = { "coss.cache": "teacher-features", "coss.key": "f".repeat(64) };

      // A crashed writer's temporary file next to where the cache would be.
      await Deno.writeFile(
        `${dir}/.teacher-${key.slice(0, 16)}.safetensors.tmp-1-deadbeef`,
        new Uint8Array(100),
      );
      const fresh = await loadOrComputeFeatures(opts);
      assert.equal(fresh.hit, false);
      assert.equal(fresh.key, key);
      assert.match(lines[0], /miss \(no file\)/);

      await writeSafetensors(path, planted, meta);
      const r1 = await loadOrComputeFeatures(opts);
      assert.equal(r1.hit, false);
      assert.ok(r1.features.every((v) => v !== 9), "a file with a foreign key was used");
      assert.equal(
        lines.at(-2),
        `teacher cache: stale key ffffffffffffffff… in "${path}", expected ${
          key.slice(0, 16)
        }… — recomputing 12 features`,
      );

      await writeSafetensors(path, { features: { shape: [11, 5], values: new Float32Array(55) } }, {
        ...meta,
        "coss.key": key,
      });
      assert.equal((await loadOrComputeFeatures(opts)).hit, false);
      assert.match(
        lines.at(-2)!,
        /corrupt file .*\(F32 \[11,5\], expected F32 \[12, 5\]\) — recomputing/,
      );

      await writeSafetensors(path, planted, {
        ...meta,
        "coss.cache": "neighbours",
        "coss.key": key,
      });
      assert.equal((await loadOrComputeFeatures(opts)).hit, false);
      assert.match(lines.at(-2)!, /foreign file/);

      assert.equal(teacher.calls, 4);
      const names = await listDir(dir);
      assert.equal(names.filter((n) => n.includes(".tmp-") && !n.endsWith("deadbeef")).length, 0);
    } finally {
      teacher.dispose();
      await cleanup();
    }
  },
  { backends: ["cpu"] },
);

backendTest("teacherFingerprint: Backbone params and tfjs LayersModel weights", async () => {
  const a = new FakeTeacher(), b = new FakeTeacher();
  const model = tfl.sequential({ layers: [tfl.layers.dense({ units: 2, inputShape: [3] })] });
  try {
    const fa = await teacherFingerprint(a);
    assert.match(fa, /^[0-9a-f]{64}$/);
    assert.equal(await teacherFingerprint(b), fa, "same weights, same fingerprint");
    reassign(b.params.get("proj.weight"), (w) => tf.add(w, 1e-7));
    assert.notEqual(await teacherFingerprint(b), fa);

    const layers = { featureDim: 2, model, embed: (x: tf.Tensor4D) => x as unknown as tf.Tensor2D };
    const f1 = await teacherFingerprint(layers);
    const fresh = [tf.ones([3, 2]), tf.zeros([2])];
    model.layers[0].setWeights(fresh);
    tf.dispose(fresh);
    const f2 = await teacherFingerprint(layers);
    assert.notEqual(f1, f2);

    const bare = { featureDim: 2, embed: (x: tf.Tensor4D) => x as unknown as tf.Tensor2D };
    await assert.rejects(() => teacherFingerprint(bare), /pass an explicit teacherKey/);
  } finally {
    a.dispose();
    b.dispose();
    model.dispose();
  }
}, { backends: ["cpu"], checkLeaks: false });

backendTest("computeTeacherFeatures: batches, transform, inference mode, no leaks", async () => {
  const teacher = new FakeTeacher(3, 4);
  try {
    const images = fakeImages(11);
    const done: number[] = [];
    const got = await computeTeacherFeatures(teacher, images, {
      transform: scale2,
      batchSize: 4,
      progress: false,
      onProgress: (n) => done.push(n),
    });
    assert.deepEqual(done, [4, 8, 11]);
    assert.equal(teacher.calls, 3);
    assert.deepEqual(teacher.lastOptions, { training: false });
    assert.equal(got.length, 44);
    const want = await embedDirect(teacher, images, [...Array(11).keys()], scale2);
    for (let i = 0; i < 44; i++) assert.ok(Math.abs(got[i] - want[i]) < 1e-6, `value ${i}`);
    await assert.rejects(
      () => loadOrComputeFeatures({ dir: "unused", teacher, images, transform: scale2 }),
      (e: Error) => e instanceof TypeError && /transformKey/.test(e.message),
    );
  } finally {
    teacher.dispose();
  }
});

backendTest("CachedTeacher.featuresAt gathers rows by index", async () => {
  const features = Float32Array.from({ length: 12 }, (_, i) => i);
  const cached = new CachedTeacher({ features, n: 4, dim: 3 });
  assert.equal(cached.featureDim, 3);
  const t = cached.featuresAt(new Int32Array([3, 0, 3]));
  assert.deepEqual(t.shape, [3, 3]);
  assert.deepEqual(Array.from(await t.data()), [9, 10, 11, 0, 1, 2, 9, 10, 11]);
  t.dispose();
  assert.throws(() => cached.featuresAt([0, 4]), /index 4 \(at 1\) is not in \[0, 4\)/);
  assert.throws(() => cached.featuresAt([1.5]), RangeError);
  assert.throws(() => new CachedTeacher({ features, n: 5, dim: 3 }), RangeError);
});
