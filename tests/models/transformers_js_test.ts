/**
 * transformers.js v4 (`@huggingface/transformers`, in Deno, on
 * onnxruntime-node) loads the ONNX export's folder from disk as an
 * `image-feature-extraction` pipeline and gives the tfjs embeddings of the
 * same pixels to 1e-4: its own preprocessor (rescale 1/255, the card's mean
 * and std, the card's size) reads `preprocessor_config.json`. The guide's
 * snippet, docs/examples/transformers_embed.js, runs on PNG files too.
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "assert";
import { initBackend } from "../../lib/backend.ts";
import { exportStudent } from "../../lib/models/export.ts";
import { withTempDir } from "../_helpers.ts";
import { buildZooModel, maxAbsError, ONNX_ZOO } from "./_onnx_zoo.ts";

const MEAN = [0.485, 0.456, 0.406], STD = [0.229, 0.224, 0.225];

// transformers.js's type declarations (also reached through the guide's example) change how
// `deno check` reads node:assert's overloads in other test files checked in the same run, so
// both modules are imported untyped, by computed specifiers.
const TRANSFORMERS = ["@huggingface", "transformers"].join("/");
// deno-lint-ignore no-explicit-any
const transformers = (): Promise<any> => import(TRANSFORMERS);
const { embedImages } = await import(["../../docs/examples", "transformers_embed.js"].join("/"));

/** Seeded uint8 HWC pixels of `count` images. */
function pixels(count: number, size: number, channels: number): Uint8ClampedArray[] {
  let s = 7;
  return Array.from(
    { length: count },
    () =>
      new Uint8ClampedArray(size * size * channels).map(() => {
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        return s >>> 24;
      }),
  );
}

/** The tfjs embeddings of uint8 HWC images, normalised as the card says. */
async function tfjsEmbeddings(
  model: ReturnType<typeof buildZooModel>,
  images: Uint8ClampedArray[],
  size: number,
  mean: number[],
  std: number[],
): Promise<Float32Array> {
  const c = model.inChannels;
  const y = tf.tidy(() => {
    const x = tf.tensor4d(images.flatMap((p) => Array.from(p)), [images.length, size, size, c]);
    return model.embed(tf.div(tf.sub(tf.div(x, 255), mean), std) as tf.Tensor4D);
  });
  const out = await y.data() as Float32Array;
  y.dispose();
  return out;
}

const options = { sanitizeResources: false, sanitizeOps: false };

for (const i of [0, 2, 5, 6]) {
  const [name, , size] = ONNX_ZOO[i];
  Deno.test(
    `transformers.js loads the ONNX export of ${name} as a feature extractor`,
    options,
    async () => {
      await initBackend({ backend: "cpu", log: false });
      await withTempDir("transformers", async (dir) => {
        const model = buildZooModel(i);
        const c = model.inChannels;
        const [mean, std] = c === 3 ? [MEAN, STD] : [[0.286], [0.353]];
        try {
          await exportStudent(model, `${dir}/student-onnx`, {
            format: "onnx",
            inputSize: [size, size],
            mean,
            std,
          });
          const images = pixels(2, size, c);
          const want = await tfjsEmbeddings(model, images, size, mean, std);
          const { env, pipeline, RawImage } = await transformers();
          env.allowRemoteModels = false;
          env.localModelPath = `${dir}/`;
          const extract = await pipeline("image-feature-extraction", "student-onnx", {
            dtype: "fp32",
          });
          try {
            const raw = images.map((p) => new RawImage(p, size, size, c as 1 | 3));
            const got = await extract(raw);
            assert.deepEqual(got.dims, [2, model.featureDim]);
            const { err, scale } = maxAbsError(got.data as Float32Array, want);
            console.log(
              `${name}: max |transformers.js − tfjs| ${err.toExponential(2)} (max ${
                scale.toFixed(2)
              })`,
            );
            assert.ok(err <= 1e-4 * Math.max(1, scale), `${name}: error ${err}`);
          } finally {
            await extract.dispose();
          }
        } finally {
          model.dispose();
        }
      });
    },
  );
}

Deno.test(
  "docs/examples/transformers_embed.js embeds PNG files as tfjs does",
  options,
  async () => {
    await initBackend({ backend: "cpu", log: false });
    const { PNG } = await import("pngjs");
    await withTempDir("transformers-doc", async (dir) => {
      const i = 6; // vit_tiny, RGB, 32×32
      const [, , size] = ONNX_ZOO[i];
      const model = buildZooModel(i);
      try {
        await exportStudent(model, `${dir}/student-onnx`, {
          format: "onnx",
          inputSize: [size, size],
          mean: MEAN,
          std: STD,
        });
        const images = pixels(2, size, 3);
        const files = await Promise.all(images.map(async (rgb, k) => {
          const png = new PNG({ width: size, height: size });
          for (let p = 0; p < size * size; p++) {
            png.data.set([rgb[3 * p], rgb[3 * p + 1], rgb[3 * p + 2], 255], 4 * p);
          }
          const path = `${dir}/image-${k}.png`;
          await Deno.writeFile(path, PNG.sync.write(png));
          return path;
        }));
        const got = await embedImages(`${dir}/student-onnx`, files);
        const want = await tfjsEmbeddings(model, images, size, MEAN, STD);
        assert.deepEqual(got.dims, [2, model.featureDim]);
        const { err, scale } = maxAbsError(got.data as Float32Array, want);
        assert.ok(err <= 1e-4 * Math.max(1, scale), `the guide's snippet: error ${err}`);
      } finally {
        model.dispose();
      }
    });
  },
);
