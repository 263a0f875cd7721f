/**
 * The ONNX export in a real browser: headless Chromium opens docs/web-onnx/
 * (the guide's onnxruntime-web page), which loads the export with the stock
 * onnxruntime-web wasm build from node_modules, and its embeddings of fixed
 * NCHW inputs must match the tfjs embeddings in Deno to 1e-4.
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "assert";
import { testNeeding } from "../_optional.ts";
import { initBackend } from "../../lib/backend.ts";
import { exportStudent } from "../../lib/models/export.ts";
import { runInChromium } from "../_chromium.ts";
import { withTempDir } from "../_helpers.ts";
import { buildZooModel, maxAbsError, ONNX_ZOO, zooImages } from "./_onnx_zoo.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const PAGE = `${ROOT}docs/web-onnx`;
const ORT_WEB = `${ROOT}node_modules/onnxruntime-web/dist`;

interface Result {
  version: string;
  shape: number[];
  values: number[];
}

const NAME = "ONNX export gives the tfjs embeddings in onnxruntime-web (wasm) in headless Chromium";
await testNeeding(["chromium"], {
  name: NAME,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await initBackend({ backend: "cpu", log: false });
    // A CNN (dynamic height and width) and a ViT (fixed size, attention, a CLS token).
    for (const i of [0, 5]) {
      const [name, , size] = ONNX_ZOO[i];
      await withTempDir("browser-onnx", async (dir) => {
        const model = buildZooModel(i);
        const c = model.inChannels;
        const x = zooImages(3, size, c);
        try {
          await exportStudent(model, `${dir}/student`, {
            format: "onnx",
            inputSize: [size, size],
            mean: Array(c).fill(0.5),
            std: Array(c).fill(0.25),
          });
          const want = await tf.tidy(() => model.embed(x)).data();
          const nchw = tf.transpose(x, [0, 3, 1, 2]);
          const input = { shape: nchw.shape, values: Array.from(await nchw.data()) };
          nchw.dispose();
          const got = await runInChromium<Result>({
            page: "/index.html?test=1",
            input,
            profile: `${dir}/profile`,
            resolve: (path) => {
              const m = path.match(/^\/(student\/)?([\w.-]+)$/);
              if (!m) return undefined;
              if (m[1]) return `${dir}/student/${m[2]}`;
              if (/^ort[\w.-]*\.(js|mjs|wasm)$/.test(m[2])) return `${ORT_WEB}/${m[2]}`;
              return `${PAGE}/${m[2]}`;
            },
          });
          assert.equal(got.version, "1.30.0", "the page did not run onnxruntime-web 1.30.0");
          assert.deepEqual(got.shape, [3, model.featureDim]);
          const { err, scale } = maxAbsError(got.values, want);
          console.log(
            `${name}: max |onnxruntime-web − tfjs| ${err.toExponential(2)} (max ${
              scale.toFixed(2)
            })`,
          );
          assert.ok(err <= 1e-4 * Math.max(1, scale), `${name}: error ${err}`);
        } finally {
          x.dispose();
          model.dispose();
        }
      });
    }
  },
});
