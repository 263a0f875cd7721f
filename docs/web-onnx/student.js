/**
 * Embed images in the browser with a student's ONNX export (`model.onnx`
 * plus `card.json`, written by `exportStudent(model, dir, { format: "onnx" })`)
 * in onnxruntime-web, which index.html loads as the global `ort` (wasm build).
 *
 * The model takes `pixel_values` `[B, C, H, W]` (NCHW, normalised with the
 * card's mean and std) and returns `image_embeds` `[B, featureDim]`.
 * WebGPU: load `ort.webgpu.min.js` instead and pass
 * `executionProviders: ["webgpu"]`.
 *
 * `index.html?test=1` runs the self-test of tests/models/browser_onnx_test.ts.
 *
 * @module
 */
const ort = globalThis.ort;
const STUDENT_DIR = "student/";

/** Open the ONNX model and its card (input size, channels, mean/std, signature). */
export async function loadStudent(dir = STUDENT_DIR) {
  const response = await fetch(`${dir}card.json`);
  if (!response.ok) throw new Error(`Cannot load "${dir}card.json": HTTP ${response.status}`);
  const card = await response.json();
  if (card.format !== "onnx") {
    throw new Error(`"${dir}card.json" is a ${card.format} export, not format "onnx"`);
  }
  // The .wasm and its loader sit next to the page; threads need cross-origin isolation.
  ort.env.wasm.wasmPaths = new URL("./", location.href).href;
  const session = await ort.InferenceSession.create(`${dir}model.onnx`, {
    executionProviders: ["wasm"],
  });
  return { session, card };
}

/**
 * An image as the model's input: drawn at the card's input size, scaled to
 * [0, 1], grey for one-channel students (torchvision's weights), then
 * `(x - mean) / std`, laid out NCHW. The browser's resampling stands in for
 * torch's bilinear resize.
 */
export function preprocess(image, card) {
  const [h, w] = card.inputSize;
  const canvas = new OffscreenCanvas(w, h);
  const ctx = canvas.getContext("2d");
  ctx.drawImage(image, 0, 0, w, h);
  const rgba = ctx.getImageData(0, 0, w, h).data;
  const c = card.inChannels;
  const out = new Float32Array(c * h * w);
  for (let i = 0; i < h * w; i++) {
    const [r, g, b] = [rgba[4 * i] / 255, rgba[4 * i + 1] / 255, rgba[4 * i + 2] / 255];
    const px = c === 1 ? [0.2989 * r + 0.587 * g + 0.114 * b] : [r, g, b];
    for (let k = 0; k < c; k++) out[k * h * w + i] = (px[k] - card.mean[k]) / card.std[k];
  }
  return new ort.Tensor("float32", out, [1, c, h, w]);
}

/** Embeddings `[B, featureDim]` (a Float32Array, row-major) of an NCHW batch. */
export async function embed(student, x) {
  const { input, output } = student.card.signature; // "pixel_values", "image_embeds"
  const result = await student.session.run({ [input]: x });
  return { data: result[output].data, dims: result[output].dims };
}

/** Rows scaled to unit length: cosine similarity becomes a dot product. */
export function l2Normalize(values, dim) {
  const out = new Float32Array(values.length);
  for (let r = 0; r < values.length / dim; r++) {
    const row = values.subarray(r * dim, (r + 1) * dim);
    const norm = Math.max(Math.hypot(...row), 1e-12);
    for (let j = 0; j < dim; j++) out[r * dim + j] = row[j] / norm;
  }
  return out;
}

async function showImages(student, files) {
  const rows = document.getElementById("results");
  rows.replaceChildren();
  let first;
  for (const file of files) {
    const img = await createImageBitmap(file);
    const { data, dims } = await embed(student, preprocess(img, student.card));
    const v = l2Normalize(data, dims[1]);
    first ??= v;
    const cosine = v.reduce((sum, vi, i) => sum + vi * first[i], 0);
    const row = rows.insertRow();
    const shown = document.createElement("img");
    shown.src = URL.createObjectURL(file);
    row.insertCell().append(shown);
    row.insertCell().textContent = `[${Array.from(v.slice(0, 6), (n) => n.toFixed(3))}, …]`;
    row.insertCell().textContent = cosine.toFixed(3);
  }
}

async function main() {
  const status = document.getElementById("status");
  const files = document.getElementById("files");
  try {
    if (!ort) throw new Error("ort.wasm.min.js did not load");
    const student = await loadStudent();
    const { card } = student;
    status.textContent = `${card.architecture} (${card.parameters.toLocaleString()} parameters, ` +
      `${card.featureDim}-d embeddings) in onnxruntime-web ${ort.env.versions.web} (wasm).`;
    files.disabled = false;
    files.onchange = () =>
      showImages(student, files.files).catch((e) => status.textContent = `Error: ${e.message}`);
  } catch (e) {
    status.textContent = `Error: ${e.message}`;
    throw e;
  }
}

// ---- Self-test for tests/models/browser_onnx_test.ts (inert without ?test) ----

async function selfTest() {
  const input = await (await fetch("test_input.json")).json();
  const student = await loadStudent();
  const x = new ort.Tensor("float32", Float32Array.from(input.values), input.shape);
  const { data, dims } = await embed(student, x);
  return { version: ort.env.versions.web, shape: dims, values: Array.from(data) };
}

if (new URLSearchParams(location.search).has("test")) {
  selfTest().catch((e) => ({ error: String(e?.stack ?? e) })).then((body) =>
    fetch("result", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    })
  );
} else {
  main();
}
