/**
 * Parity with PyTorch: reduced-width torchvision ResNet-18 (CIFAR stem, odd
 * input) and ResNet-50 (ImageNet stem) and a timm-named ViT, random weights and
 * BN statistics, loaded from safetensors; pooled features must match to 1e-4
 * of their largest magnitude. Fixtures: tests/fixtures/models/make_model_fixtures.py.
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "assert";
import { assertClose, backendTest, readAndDispose } from "../_helpers.ts";
import { readSafetensors } from "../../lib/io/safetensors.ts";
import { createModel, type ModelName } from "../../lib/models/registry.ts";
import { loadTorchWeights } from "../../lib/models/torch_weights.ts";

const dir = new URL("../fixtures/models/", import.meta.url);
const index = JSON.parse(await Deno.readTextFile(new URL("models.json", dir)));

interface Spec {
  name: string;
  model: string;
  args: Record<string, unknown>;
  featureDim: number;
  parameters: number;
}

for (const spec of index.models as Spec[]) {
  backendTest(`${spec.name} matches PyTorch`, async () => {
    const model = createModel(spec.model as ModelName, spec.args);
    const weights = await readSafetensors(new URL(`${spec.name}.safetensors`, dir).pathname);
    const io = await readSafetensors(new URL(`${spec.name}_io.safetensors`, dir).pathname);
    const report = loadTorchWeights(model, weights.tensors, { source: `${spec.name}.safetensors` });
    assert.equal(report.missing.length + report.unexpected.length + report.mismatched.length, 0);
    assert.equal(model.featureDim, spec.featureDim);
    assert.equal(model.parameterCount, spec.parameters, "trainable parameter count");
    const input = io.tensors.get("input")!;
    const expected = io.tensors.get("features")!;
    const x = tf.tidy(() =>
      tf.transpose(tf.tensor4d(input.values, input.shape as [number, number, number, number]), [
        0,
        2,
        3,
        1,
      ])
    );
    const y = model.embed(x);
    assert.deepEqual(y.shape, expected.shape);
    assertClose(await readAndDispose(y), expected.values, { rtol: 1e-4, label: spec.name });
    x.dispose();
    model.dispose();
  }, { backends: ["cpu", "wasm"] });
}
