/**
 * The multi-view teacher cache (lib/teacher/view_cache.ts): the parameters of
 * every (image, view) rebuild exactly the view the teacher embedded, on every
 * backend; a training step from the cache has the loss of a step with the
 * teacher run online on the same view; the file is reused, and recomputed
 * when what it depends on changes; float16 storage rounds as it says.
 * Exact resume with views is in tests/train/distill_resume_test.ts.
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "assert";
import { initBackend } from "../../lib/backend.ts";
import { assertClose, backendTest, scratch } from "../_helpers.ts";
import { augmentPreset, type AugmentStep } from "../../lib/augment/augment.ts";
import { ArrayImageSource } from "../../lib/data/array_source.ts";
import {
  loadOrComputeViews,
  pickViews,
  ViewAugmentation,
  viewCacheBytes,
  viewSeed,
} from "../../lib/teacher/view_cache.ts";
import { cossLoss } from "../../lib/losses/coss.ts";
import { createModel } from "../../lib/models/registry.ts";
import type { Embedder } from "../../lib/models/types.ts";
import type { Tensor2D, Tensor4D } from "../../lib/tf_types.ts";

/** Deterministic uint8 images. */
function images(n: number, shape: [number, number, number], seed = 1): ArrayImageSource {
  const pixels = new Uint8Array(n * shape[0] * shape[1] * shape[2]);
  let s = seed;
  for (let i = 0; i < pixels.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    pixels[i] = s >>> 24;
  }
  return new ArrayImageSource(`test-${seed}`, pixels, shape, `fp-${seed}-${n}`);
}

/** A "teacher" whose features are the view's pixels: what it embedded is what it returns. */
function pixelTeacher(size: number, channels: number): Embedder {
  return {
    featureDim: size * size * channels,
    embed: (x: Tensor4D) => tf.reshape(x, [x.shape[0], -1]) as Tensor2D,
  } as unknown as Embedder;
}

const GREY_STEPS: AugmentStep[] = augmentPreset("mocov2", { size: 8, mean: [0.3], std: [0.4] });
const RGB_STEPS: AugmentStep[] = augmentPreset("mocov2", { size: 8 });

Deno.test("view parameters: encode then decode gives the drawn plan, per image and batched", () => {
  for (const [steps, shape] of [[GREY_STEPS, [12, 12, 1]], [RGB_STEPS, [10, 11, 3]]] as const) {
    const aug = new ViewAugmentation(steps, 7);
    assert.equal(aug.width, 4 + 9 + 1 + 1 + 1, "crop, jitter, grayscale, blur, flip");
    const pairs = [[0, 0], [5, 1], [5, 2], [123456, 31]];
    const rows = pairs.map(([i, v]) => {
      const row = new Float32Array(aug.width);
      aug.encode(aug.draw(i, v, shape), row);
      return row;
    });
    const batch = aug.decode(rows, [pairs.length, ...shape]);
    pairs.forEach(([i, v], k) => {
      const one = aug.draw(i, v, shape);
      batch.steps.forEach((s, j) => {
        const single = one[j] as unknown as Record<string, unknown[]>;
        for (const [key, value] of Object.entries(s)) {
          if (Array.isArray(value) && value.length === pairs.length) {
            assert.deepEqual(value[k], single[key][0], `${s.op}.${key} of (${i}, ${v})`);
          }
        }
      });
    });
    assert.deepEqual(batch.outputShape, [pairs.length, 8, 8, shape[2]]);
  }
});

Deno.test("viewSeed and pickViews: distinct views, and the same picks for the same step", () => {
  const seeds = new Set<number>();
  for (let i = 0; i < 50; i++) for (let v = 0; v < 8; v++) seeds.add(viewSeed(3, i, v));
  assert.equal(seeds.size, 400);
  assert.ok(Number.isSafeInteger(viewSeed(2 ** 31 - 1, 2 ** 32 - 1, 255)));
  assert.deepEqual(pickViews(1, 10, 64, 8), pickViews(1, 10, 64, 8));
  assert.notDeepEqual(pickViews(1, 10, 64, 8), pickViews(1, 11, 64, 8));
  const picks = pickViews(1, 10, 4000, 8);
  const counts = Array.from({ length: 8 }, (_, v) => picks.filter((p) => p === v).length);
  assert.ok(counts.every((c) => c > 400 && c < 600), `uniform over views: ${counts}`);
  assert.deepEqual([...pickViews(1, 10, 5, 1)], [0, 0, 0, 0, 0]);
  assert.equal(viewCacheBytes(60000, 32, 512, 16, "float32"), 60000 * 32 * (512 * 4 + 64));
});

backendTest("the view the student trains on is the view the teacher embedded", async () => {
  const { dir, cleanup } = await scratch("views");
  try {
    for (const [steps, shape] of [[GREY_STEPS, [12, 12, 1]], [RGB_STEPS, [10, 11, 3]]] as const) {
      const source = images(37, shape as [number, number, number]);
      const cache = await loadOrComputeViews({
        dir,
        teacher: pixelTeacher(8, shape[2]),
        teacherKey: "pixels",
        images: source,
        steps,
        views: 3,
        seed: 11,
        batchSize: 16, // the views must not depend on how images are batched
        log: () => {},
        progress: false,
      });
      const rows = Int32Array.from([36, 0, 17, 17, 5]);
      const views = Int32Array.from([2, 0, 1, 2, 0]);
      const raw = await source.batch(rows);
      const student = cache.render(raw, rows, views);
      const teacher = cache.featuresAt(rows, views);
      // The teacher's rows were embedded in batches of 16 from another composition of images.
      assertClose(await student.data(), await teacher.data(), { atol: 1e-6, rtol: 0 });
      tf.dispose([raw, student, teacher]);
    }
  } finally {
    await cleanup();
  }
});

backendTest(
  "a step from the view cache has the loss of the online teacher on that view",
  async () => {
    const { dir, cleanup } = await scratch("views-step");
    try {
      const teacher = createModel("resnet18", { stem: "cifar", width: 0.0625, inChannels: 1 });
      const student = createModel("resnet18", {
        stem: "cifar",
        width: 0.0625,
        inChannels: 1,
        seed: 2,
      });
      const source = images(24, [12, 12, 1], 4);
      const cache = await loadOrComputeViews({
        dir,
        teacher,
        images: source,
        steps: GREY_STEPS,
        views: 2,
        seed: 5,
        log: () => {},
        progress: false,
      });
      const rows = Int32Array.from({ length: 16 }, (_, k) => (k * 5) % 24);
      const views = pickViews(5, 0, rows.length, 2);
      const raw = await source.batch(rows);
      const view = cache.render(raw, rows, views);
      const [cachedLoss, onlineLoss] = tf.tidy(() => {
        const s = student.embed(view, { training: false });
        const online = teacher.embed(view, { training: false });
        const cached = cache.featuresAt(rows, views);
        return [cossLoss(cached, s), cossLoss(online, s)];
      });
      assertClose((await cachedLoss.data())[0], (await onlineLoss.data())[0], { rtol: 1e-5 });
      tf.dispose([raw, view, cachedLoss, onlineLoss]);
      teacher.dispose();
      student.dispose();
    } finally {
      await cleanup();
    }
  },
  { backends: ["cpu", "wasm"] },
);

Deno.test("the view cache is reused, recomputed when its inputs change, and float16 rounds", async () => {
  await initBackend({ backend: "cpu", log: false }); // a shuffled order may run this test first
  const { dir, cleanup } = await scratch("views-file");
  try {
    const lines: string[] = [];
    const base = {
      dir,
      teacher: pixelTeacher(8, 1),
      teacherKey: "pixels",
      images: images(20, [12, 12, 1]),
      steps: GREY_STEPS,
      views: 2,
      seed: 1,
      log: (l: string) => lines.push(l),
      progress: false,
    };
    const first = await loadOrComputeViews(base);
    assert.equal(first.hit, false);
    assert.match(
      lines[0],
      /^teacher views: miss \(no file\) — computing 20 images × 2 views × 64-d/,
    );
    const again = await loadOrComputeViews(base);
    assert.equal(again.hit, true);
    assert.equal(again.path, first.path);
    const a = first.featuresAt([3, 7], [1, 0]), b = again.featuresAt([3, 7], [1, 0]);
    assert.deepEqual(await a.data(), await b.data());
    for (
      const change of [{ seed: 2 }, { views: 3 }, {
        steps: RGB_STEPS.slice(0, 0).concat(GREY_STEPS.slice(1)),
      }]
    ) {
      const other = await loadOrComputeViews({ ...base, ...change });
      assert.equal(other.hit, false, JSON.stringify(Object.keys(change)));
      assert.notEqual(other.path, first.path);
    }
    const half = await loadOrComputeViews({ ...base, dtype: "float16" });
    const h = half.featuresAt([3, 7], [1, 0]);
    const expected = Float32Array.from(new Float16Array(await a.data()));
    assert.deepEqual(await h.data(), expected, "float16 features are the float32 ones, rounded");
    const reread = await loadOrComputeViews({ ...base, dtype: "float16" });
    assert.equal(reread.hit, true);
    const r = reread.featuresAt([3, 7], [1, 0]);
    assert.deepEqual(await r.data(), expected, "and a rerun reads the same values back");
    // A truncated file is recomputed, not trusted.
    const bytes = await Deno.readFile(first.path);
    await Deno.writeFile(first.path, bytes.subarray(0, bytes.length >> 1));
    lines.length = 0;
    assert.equal((await loadOrComputeViews(base)).hit, false);
    assert.match(lines[0], /corrupt file/);
    tf.dispose([a, b, h, r]);
  } finally {
    await cleanup();
  }
});
