/**
 * Augmentations against torchvision 0.14 golden values (tests/fixtures/augment,
 * made by make_augment_fixtures.py) with the random parameters fixed, on every
 * backend; torchvision's RandomResizedCrop sampling reproduced statistically;
 * seeded reproducibility; one-channel input; config validation.
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "assert";
import { assertClose, backendTest, readAndDispose } from "../_helpers.ts";
import {
  adjustBrightness,
  adjustContrast,
  adjustHue,
  adjustSaturation,
  AUGMENT_OPS,
  Augmenter,
  type AugmentPlan,
  augmentPreset,
  centerCrop,
  colorJitter,
  type ColorJitterParams,
  type CropBox,
  gaussianBlur,
  grayscale,
  horizontalFlip,
  IMAGENET_MEAN,
  IMAGENET_STD,
  normalize,
  resize,
  resizedCrop,
  Rng,
  sampleResizedCropBox,
  type StepPlan,
  validateAugmentSteps,
} from "../../lib/augment/augment.ts";

interface Case {
  name: string;
  op: string;
  input: "rgb" | "gray";
  // deno-lint-ignore no-explicit-any
  args: Record<string, any>;
  shape: number[];
  expected: number[];
}
type Moments = Record<"area" | "logRatio" | "top" | "full", { mean: number; std: number }>;
const fx: {
  torchvision: string;
  images: Record<"rgb" | "gray", { shape: [number, number, number, number]; data: number[] }>;
  cases: Case[];
  cropFallbacks: {
    imageSize: [number, number];
    scale: [number, number];
    ratio: [number, number];
    box: CropBox;
  }[];
  cropStats: {
    imageSize: [number, number];
    scale: [number, number];
    ratio: [number, number];
    draws: number;
    moments: Moments;
  }[];
} = JSON.parse(
  await Deno.readTextFile(new URL("../fixtures/augment/augment_cases.json", import.meta.url)),
);

/**
 * Largest |toolkit − torchvision| per op. "exact" means bit-identical float32
 * on cpu and wasm; on WebGPU those ops get 1e-6, since WGSL may fuse a
 * multiply-add and divides to 2.5 ulp. Values are in [0, 1] except after
 * normalize (up to about 2.7). The measured worst cases (cpu, wasm, lavapipe)
 * are in the comments.
 */
const TOLERANCE: Record<string, number | "exact"> = {
  centerCrop: "exact",
  horizontalFlip: "exact",
  grayscale: "exact",
  adjustBrightness: "exact",
  adjustSaturation: "exact",
  normalize: "exact",
  resizedCrop: 1e-6, // 2.1e-7: float32 weights, PyTorch's different rounding order
  resize: 1e-6, // 2.7e-7
  "preset:eval": 1e-6, // 2.4e-7
  adjustContrast: 1e-6, // 1.5e-7: order of the mean's summation
  adjustHue: 2e-6, // 7.8e-7: closed-form HSV→RGB vs torchvision's sextant table
  colorJitter: 3e-6, // 1.1e-6
  gaussianBlur: 1e-6, // 2.4e-7: separable vs 2-D kernel, float64 taps
  plan: 3e-6, // 7.8e-7 after normalize's ×4.5
};

function input(which: "rgb" | "gray"): tf.Tensor4D {
  return tf.tensor4d(fx.images[which].data, fx.images[which].shape);
}

function runCase(x: tf.Tensor4D, c: Case): tf.Tensor4D {
  const a = c.args;
  switch (c.op) {
    case "resizedCrop":
      return resizedCrop(x, a.boxes, { size: a.size });
    case "resize":
      return resize(x, a.size);
    case "centerCrop":
      return centerCrop(x, a.size);
    case "horizontalFlip":
      return horizontalFlip(x, a.flip);
    case "grayscale":
      return grayscale(x, a.mask);
    case "adjustBrightness":
      return adjustBrightness(x, a.factors);
    case "adjustContrast":
      return adjustContrast(x, a.factors);
    case "adjustSaturation":
      return adjustSaturation(x, a.factors);
    case "adjustHue":
      return adjustHue(x, a.factors);
    case "colorJitter":
      return colorJitter(x, a.params);
    case "gaussianBlur":
      return gaussianBlur(x, a.sigmas, { kernelSize: a.kernelSize });
    case "normalize":
      return normalize(x, { mean: a.mean, std: a.std });
    case "preset:eval":
      return new Augmenter(augmentPreset("eval", { size: a.size }), { seed: 0 }).apply(x);
    case "plan": {
      const plan: AugmentPlan = {
        inputShape: [...x.shape],
        outputShape: c.shape as AugmentPlan["outputShape"],
        steps: a.steps as StepPlan[],
      };
      return new Augmenter([], { seed: 0 }).run(x, plan);
    }
  }
  throw new Error(`unknown fixture op ${c.op}`);
}

Deno.test("augment fixtures: every op is covered, from torchvision 0.14", () => {
  assert.match(fx.torchvision, /^0\.14/);
  assert.deepEqual(new Set(fx.cases.map((c) => c.op)), new Set(Object.keys(TOLERANCE)));
  assert.ok(fx.cases.some((c) => c.input === "gray"));
});

for (const op of Object.keys(TOLERANCE)) {
  backendTest(`${op} matches torchvision on the fixture images`, async (backend) => {
    for (const c of fx.cases.filter((c) => c.op === op)) {
      const x = input(c.input);
      const y = runCase(x, c);
      x.dispose();
      assert.deepEqual(y.shape, c.shape, c.name);
      const got = await readAndDispose(y);
      const tol = TOLERANCE[op];
      if (tol === "exact" && backend !== "webgpu") {
        const want = Float32Array.from(c.expected);
        const bad = got.findIndex((v, i) => v !== want[i]);
        assert.equal(bad, -1, `${c.name}: element ${bad} is ${got[bad]}, expected ${want[bad]}`);
      } else {
        assertClose(got, c.expected, {
          rtol: 0,
          atol: tol === "exact" ? 1e-6 : tol,
          label: c.name,
        });
      }
    }
  });
}

Deno.test("randomResizedCrop falls back to torchvision's centre crop", () => {
  for (const { imageSize, scale, ratio, box } of fx.cropFallbacks) {
    const rng = new Rng(5);
    assert.deepEqual(sampleResizedCropBox(rng, imageSize, { scale, ratio }), box);
    // Ten failed tries, two draws each.
    const ref = new Rng(5);
    for (let i = 0; i < 20; i++) ref.next();
    assert.deepEqual(rng.state(), ref.state());
  }
});

Deno.test("randomResizedCrop boxes follow torchvision's distribution", () => {
  for (const { imageSize: [H, W], scale, ratio, draws, moments } of fx.cropStats) {
    const rng = new Rng(11);
    const values: Record<keyof Moments, number[]> = { area: [], logRatio: [], top: [], full: [] };
    for (let k = 0; k < draws; k++) {
      const b = sampleResizedCropBox(rng, [H, W], { scale, ratio });
      assert.ok(b.top >= 0 && b.left >= 0 && b.top + b.height <= H && b.left + b.width <= W);
      // Some unrounded area and ratio inside the ranges must round to this box.
      const [w, h] = [b.width, b.height];
      const fits = (lo: number, hi: number, a: number, z: number) => lo <= z && a <= hi;
      const fallback = b.top === Math.floor((H - h) / 2) && b.left === Math.floor((W - w) / 2);
      assert.ok(
        fallback ||
          (fits((w - 0.5) * (h - 0.5), (w + 0.5) * (h + 0.5), scale[0] * H * W, scale[1] * H * W) &&
            fits((w - 0.5) / (h + 0.5), (w + 0.5) / (h - 0.5), ratio[0], ratio[1])),
        `box ${JSON.stringify(b)} cannot come from scale ${scale}, ratio ${ratio}`,
      );
      values.area.push((h * w) / (H * W));
      values.logRatio.push(Math.log(w / h));
      values.top.push(H > h ? b.top / (H - h) : 0.5);
      values.full.push(h === H && w === W ? 1 : 0);
    }
    for (const key of Object.keys(values) as (keyof Moments)[]) {
      const v = values[key];
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      // Two independent samples of `draws`: 5 standard errors of the difference.
      const tol = 5 * Math.SQRT2 * moments[key].std / Math.sqrt(draws) + 1e-12;
      assert.ok(
        Math.abs(mean - moments[key].mean) <= tol,
        `${H}x${W} ${key}: mean ${mean} vs torchvision ${moments[key].mean} (±${tol})`,
      );
    }
  }
});

const SMALL: [number, number, number, number] = [3, 12, 14, 3];

backendTest("same seed, same batch; RNG state checkpoints; seeds differ", async () => {
  const steps = augmentPreset("mocov2", { size: 8, mean: IMAGENET_MEAN, std: IMAGENET_STD });
  const x = tf.randomUniform(SMALL, 0, 1, "float32", 1) as tf.Tensor4D;
  const a = new Augmenter(steps, { seed: 7 });
  const saved = a.state();
  const first = await readAndDispose(a.apply(x));
  const second = await readAndDispose(a.apply(x));
  const fresh = await readAndDispose(new Augmenter(steps, { seed: 7 }).apply(x));
  assert.deepEqual(fresh, first, "same seed, same batch");
  assert.notDeepEqual(second, first, "the RNG advances between batches");
  a.setState(JSON.parse(JSON.stringify(saved)));
  assert.deepEqual(await readAndDispose(a.apply(x)), first, "restored state");
  const other = new Augmenter(steps, { seed: 8 }).sample(SMALL);
  assert.notDeepEqual(other, new Augmenter(steps, { seed: 7 }).sample(SMALL));
  x.dispose();
});

Deno.test("plans are plain data, drawn in the documented order", () => {
  const steps = augmentPreset("mocov2", { size: 8 });
  const plan = new Augmenter(steps, { seed: 3 }).sample([4, 12, 14, 3]);
  assert.deepEqual(JSON.parse(JSON.stringify(plan)), plan);
  assert.deepEqual(plan.steps.map((s) => s.op), steps.map((s) => s.op));
  assert.deepEqual(plan.outputShape, [4, 8, 8, 3]);
  // Re-draw by hand: crops for every image, then jitter for every image, ...
  const rng = new Rng(3);
  const boxes = [0, 1, 2, 3].map(() =>
    sampleResizedCropBox(rng, [12, 14], { scale: [0.2, 1], ratio: [3 / 4, 4 / 3] })
  );
  assert.deepEqual(plan.steps[0], { op: "randomResizedCrop", boxes, size: [8, 8] });
  const jitter = [0, 1, 2, 3].map(() => {
    if (!(rng.next() < 0.8)) return null;
    const order = rng.permutation(4);
    const [b, c, s] = [0, 1, 2].map(() => rng.uniform(0.6, 1.4));
    return { order, brightness: b, contrast: c, saturation: s, hue: rng.uniform(-0.1, 0.1) };
  });
  assert.deepEqual(plan.steps[1], { op: "colorJitter", params: jitter });
  const gray = [0, 1, 2, 3].map(() => rng.next() < 0.2);
  assert.deepEqual(plan.steps[2], { op: "grayscale", apply: gray });
  const sigmas = [0, 1, 2, 3].map(() => rng.next() < 0.5 ? rng.uniform(0.1, 2) : 0);
  assert.deepEqual(plan.steps[3], { op: "gaussianBlur", sigmas, kernelSize: 3 });
  assert.deepEqual(plan.steps[4], {
    op: "horizontalFlip",
    flip: [0, 1, 2, 3].map(() => rng.next() < 0.5),
  });
});

backendTest("colour jitter grouped by op order equals jittering each image alone", async () => {
  const rng = new Rng(99);
  const n = 10;
  const params: (ColorJitterParams | null)[] = Array.from(
    { length: n },
    (_, i) =>
      i % 4 === 3 ? null : {
        order: rng.permutation(4),
        brightness: rng.uniform(0.6, 1.4),
        contrast: rng.uniform(0.6, 1.4),
        saturation: rng.uniform(0.6, 1.4),
        hue: rng.uniform(-0.1, 0.1),
      },
  );
  const x = tf.randomUniform([n, 5, 6, 3], 0, 1, "float32", 2) as tf.Tensor4D;
  const batched = await readAndDispose(colorJitter(x, params));
  const one = 5 * 6 * 3;
  for (let i = 0; i < n; i++) {
    const xi = tf.slice(x, [i, 0, 0, 0], [1, -1, -1, -1]);
    const yi = await readAndDispose(colorJitter(xi, [params[i]]));
    xi.dispose();
    assert.deepEqual(batched.subarray(i * one, (i + 1) * one), yi, `image ${i}`);
  }
  x.dispose();
});

backendTest("one-channel batches: mocov2 runs, colour ops documented as skipped", async () => {
  const steps = augmentPreset("mocov2", { size: 8, mean: [0.5], std: [0.25] });
  const gray = tf.randomUniform([3, 12, 14, 1], 0, 1, "float32", 4) as tf.Tensor4D;
  const aug = new Augmenter(steps, { seed: 5 });
  const plan = aug.sample(gray.shape);
  // The draws do not depend on the channel count: the crops equal those for RGB.
  assert.deepEqual(
    plan.steps[0],
    new Augmenter(augmentPreset("mocov2", { size: 8 }), { seed: 5 }).sample(SMALL).steps[0],
  );
  const y = aug.run(gray, plan);
  assert.deepEqual(y.shape, [3, 8, 8, 1]);
  const v = await readAndDispose(y);
  assert.ok(v.every(Number.isFinite));
  // Saturation and hue leave one channel alone; grayscale is the identity.
  for (
    const f of [
      (t: tf.Tensor4D) => adjustSaturation(t, 3),
      (t: tf.Tensor4D) => adjustHue(t, 0.4),
      grayscale,
    ]
  ) {
    assert.deepEqual(await readAndDispose(f(gray)), await gray.data());
  }
  gray.dispose();
});

backendTest("blur with σ = 0 and flips are exact identities where not applied", async () => {
  const x = tf.randomUniform([2, 6, 7, 3], 0, 1, "float32", 6) as tf.Tensor4D;
  const data = await x.data();
  const half = data.length / 2;
  const blurred = await readAndDispose(gaussianBlur(x, [1.2, 0], { kernelSize: 5 }));
  assert.deepEqual(blurred.subarray(half), data.subarray(half));
  assert.notDeepEqual(blurred.subarray(0, half), data.subarray(0, half));
  const flipped = await readAndDispose(horizontalFlip(x, [false, true]));
  assert.deepEqual(flipped.subarray(0, half), data.subarray(0, half));
  x.dispose();
});

Deno.test("presets: mocov2, eval (torchvision's 256→224), none", () => {
  const moco = augmentPreset("mocov2", { size: 224, mean: IMAGENET_MEAN, std: IMAGENET_STD });
  assert.deepEqual(moco.map((s) => s.op), [
    "randomResizedCrop",
    "colorJitter",
    "grayscale",
    "gaussianBlur",
    "horizontalFlip",
    "normalize",
  ]);
  assert.deepEqual(moco[1], {
    op: "colorJitter",
    brightness: 0.4,
    contrast: 0.4,
    saturation: 0.4,
    hue: 0.1,
    p: 0.8,
  });
  assert.deepEqual(validateAugmentSteps(moco), moco);
  const plan = new Augmenter(moco, { seed: 0 }).sample([1, 256, 256, 3]);
  assert.equal((plan.steps[3] as { kernelSize: number }).kernelSize, 23, "MoCo's 23-px blur");
  assert.deepEqual(augmentPreset("eval", { size: 224 }), [
    { op: "resize", size: 256 },
    { op: "centerCrop", size: 224 },
  ]);
  assert.deepEqual(
    new Augmenter(augmentPreset("eval", { size: 32 }), { seed: 0 }).sample([2, 28, 40, 3])
      .outputShape,
    [2, 32, 32, 3],
  );
  assert.deepEqual(augmentPreset("none"), []);
  assert.deepEqual(augmentPreset("none", { mean: [0.5], std: [0.5] }), [{
    op: "normalize",
    mean: [0.5],
    std: [0.5],
  }]);
  assert.throws(
    () => augmentPreset("simclr" as "none"),
    /Unknown augment preset "simclr": expected mocov2, none, eval/,
  );
  assert.throws(() => augmentPreset("mocov2"), /needs a positive integer size/);
});

Deno.test("invalid steps fail with one line naming index, key and allowed values", () => {
  const cases: [unknown, RegExp][] = [
    [
      [{ op: "RandomResizedCrop", size: 8 }],
      /step 0: unknown op "RandomResizedCrop"; did you mean "randomResizedCrop"\? Valid ops: randomResizedCrop, horizontalFlip/,
    ],
    [[{ op: "flip" }], /did you mean "horizontalFlip"/],
    [
      [{ op: "normalize", mean: [0], std: [1] }, { op: "horizontalFlip", prob: 0.5 }],
      /step 1 \(horizontalFlip\): unknown key "prob"; did you mean "p"\? Allowed keys: op, p/,
    ],
    [
      [{ op: "grayscale", p: 1.5 }],
      /step 0 \(grayscale\): "p" must be a probability in \[0, 1\], got 1.5/,
    ],
    [[{ op: "randomResizedCrop" }], /"size" must be given/],
    [
      [{ op: "randomResizedCrop", size: 8, scale: [0.5, 0.2] }],
      /"scale" must be a \[min, max\] pair with 0 < min ≤ max ≤ 1, got \[0.5,0.2\]/,
    ],
    [
      [{ op: "centerCrop", size: [8, 0] }],
      /"size" must be a positive integer or an \[height, width\] pair/,
    ],
    [
      [{ op: "colorJitter", hue: 0.7 }],
      /"hue" must be a number ≥ 0 or a \[min, max\] pair within \[-0.5, 0.5\], got 0.7/,
    ],
    [[{ op: "colorJitter", brightness: "lots" }], /"brightness" must be/],
    [
      [{ op: "gaussianBlur", kernelSize: 4 }],
      /"kernelSize" must be an odd positive integer, got 4/,
    ],
    [[{ op: "gaussianBlur", sigma: -1 }], /"sigma" must be a number > 0 or/],
    [
      [{ op: "normalize", mean: [0.5, 0.5], std: [1] }],
      /"std" must be an array as long as "mean" \(2\)/,
    ],
    [[{ op: "normalize", mean: [0.5], std: [0] }], /"std" must be an array of positive numbers/],
    [[42], /step 0 must be an object with an "op", got 42/],
    [{ op: "resize" }, /augment steps must be an array/],
  ];
  for (const [steps, re] of cases) {
    assert.throws(() => validateAugmentSteps(steps), (e: Error) => {
      assert.match(e.message, re);
      assert.ok(!e.message.includes("\n"), "one line");
      assert.ok(e instanceof TypeError || e instanceof RangeError, e.name);
      return true;
    });
  }
  assert.equal(AUGMENT_OPS.length, 8);
  assert.throws(
    () => new Augmenter([{ op: "flip" } as never], { seed: 0 }),
    /did you mean "horizontalFlip"/,
  );
  const aug = new Augmenter([{ op: "normalize", mean: [0, 0, 0], std: [1, 1, 1] }], { seed: 0 });
  assert.throws(() => aug.sample([1, 4, 4, 1]), /normalize has 3 means for 1-channel images/);
  assert.throws(
    () => new Augmenter([{ op: "colorJitter" }], { seed: 0 }).sample([1, 4, 4, 2]),
    /1 or 3 channels, got 2/,
  );
});

backendTest("low-level ops reject bad per-image parameters", () => {
  const x = tf.zeros([2, 4, 4, 3]) as tf.Tensor4D;
  assert.throws(
    () =>
      resizedCrop(x, [{ top: 0, left: 0, height: 5, width: 4 }, {
        top: 0,
        left: 0,
        height: 1,
        width: 1,
      }], { size: [2, 2] }),
    /box 0 .* is not an integer box inside 4×4/,
  );
  assert.throws(() => adjustHue(x, [0.6, 0]), /factor 0 is 0.6, must be in \[-0.5, 0.5\]/);
  assert.throws(() => adjustBrightness(x, [1]), /1 factors for a batch of 2/);
  assert.throws(
    () => gaussianBlur(x, [1, 1], { kernelSize: 9 }),
    /reflect padding 4, which must be below the image's shorter side 4/,
  );
  assert.throws(() => colorJitter(x, [{ order: [0, 0, 1, 2] }, null]), /not a permutation/);
  x.dispose();
});
