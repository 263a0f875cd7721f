/**
 * Embed images in the browser with a student exported by `exportStudent`
 * (a tfjs graph model plus `card.json`), using only the stock TensorFlow.js
 * bundle that index.html loads as the global `tf`.
 *
 * Backends: the bundle uses WebGL when the browser has it, else cpu. WebGPU
 * works too: load `tf-backend-webgpu.min.js` after `tf.min.js` and call
 * `await tf.setBackend("webgpu")`. GPU backends agree with cpu to about 1e-4.
 *
 * `index.html?test=1` runs the self-test of tests/models/browser_export_test.ts.
 *
 * @module
 */
const tf = globalThis.tf;
const STUDENT_DIR = "student/";

/** Load the graph model and its card (input size, channels, mean/std, signature). */
export async function loadStudent(dir = STUDENT_DIR) {
  const response = await fetch(`${dir}card.json`);
  if (!response.ok) throw new Error(`Cannot load "${dir}card.json": HTTP ${response.status}`);
  const card = await response.json();
  if (card.format !== "tfjs-graph-model") {
    throw new Error(`"${dir}card.json" is a ${card.format} export, not format "tfjs"`);
  }
  if (card.inChannels !== 1 && card.inChannels !== 3) {
    throw new RangeError(`"${dir}card.json": ${card.inChannels} input channels, not 1 or 3`);
  }
  const model = await tf.loadGraphModel(`${dir}model.json`);
  return { model, card };
}

/**
 * An image as the model's input `[1, H, W, C]`: pixels scaled to [0, 1],
 * grayscale for one-channel students, resized to the card's input size, then
 * `(x - mean) / std`. `image` is anything `tf.browser.fromPixels` takes:
 * `<img>`, `<canvas>`, `<video>`, `ImageData`, `ImageBitmap` or `{data, width, height}`.
 */
export function preprocess(image, card) {
  return tf.tidy(() => {
    let x = tf.div(tf.cast(tf.browser.fromPixels(image, 3), "float32"), 255);
    // 0.2989 R + 0.587 G + 0.114 B, the weights torchvision's Grayscale uses.
    if (card.inChannels === 1) x = tf.image.rgbToGrayscale(x);
    // Half-pixel centres, like PIL and torch's bilinear resize (without antialiasing).
    const [h, w] = card.inputSize ?? x.shape.slice(0, 2);
    x = tf.image.resizeBilinear(x, [h, w], false, true);
    if (card.mean && card.std) x = tf.div(tf.sub(x, card.mean), card.std);
    return tf.expandDims(x, 0);
  });
}

/** Raw embeddings `[B, featureDim]` of a preprocessed NHWC batch `[B, H, W, C]`. */
export function embed(student, x) {
  const { input, output } = student.card.signature; // "images", "embedding"
  return student.model.execute({ [input]: x }, output);
}

/** Rows scaled to unit length (like torch's F.normalize): cosine similarity becomes a dot product. */
export function l2Normalize(e) {
  return tf.tidy(() => tf.div(e, tf.maximum(tf.norm(e, "euclidean", -1, true), 1e-12)));
}

async function showImages(student, files) {
  const rows = document.getElementById("results");
  rows.replaceChildren();
  let first;
  // One image at a time keeps the example short; for throughput, tf.concat
  // several preprocessed images into one batch.
  for (const file of files) {
    const img = new Image();
    img.src = URL.createObjectURL(file);
    await img.decode();
    const z = tf.tidy(() => l2Normalize(embed(student, preprocess(img, student.card))));
    // Asynchronous read-back: data() never stalls the page while a GPU works.
    const v = await z.data();
    z.dispose();
    first ??= v;
    const cosine = v.reduce((sum, vi, i) => sum + vi * first[i], 0);
    const shown = Array.from(v.slice(0, 6), (n) => n.toFixed(3)).join(", ");
    const row = rows.insertRow();
    row.insertCell().append(img);
    row.insertCell().innerHTML = `<code>[${shown}, … ${v.length} values]</code>`;
    row.insertCell().textContent = cosine.toFixed(3);
  }
}

async function main() {
  const status = document.getElementById("status");
  const files = document.getElementById("files");
  try {
    if (!tf) throw new Error("tf.min.js did not load");
    await tf.ready();
    const student = await loadStudent();
    const { card } = student;
    // A first run compiles WebGL/WebGPU shaders; do it before the user waits on it.
    const [h, w] = card.inputSize ?? [32, 32];
    tf.tidy(() => embed(student, tf.zeros([1, h, w, card.inChannels])));
    status.textContent = `${card.architecture} (${card.parameters.toLocaleString()} parameters, ` +
      `${card.featureDim}-d embeddings) on the ${tf.getBackend()} backend.`;
    files.disabled = false;
    files.onchange = () =>
      showImages(student, files.files).catch((e) => status.textContent = `Error: ${e.message}`);
  } catch (e) {
    status.textContent = `Error: ${e.message}`;
    throw e;
  }
}

// ---- Self-test for tests/models/browser_export_test.ts (inert without ?test) ----

function report(body) {
  return fetch("result", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

async function selfTest() {
  if (!tf) throw new Error("tf.min.js did not load");
  // cpu computes the same float32 arithmetic as the Deno reference.
  await tf.setBackend("cpu");
  const input = await (await fetch("test_input.json")).json();
  const student = await loadStudent();
  const x = tf.tensor4d(input.values, input.shape);
  const e = embed(student, x);
  const z = l2Normalize(e);
  const result = {
    backend: tf.getBackend(),
    tfVersion: tf.version.tfjs,
    shape: e.shape,
    values: Array.from(await e.data()),
    normalized: Array.from(await z.data()),
  };
  tf.dispose([x, e, z]);
  if (input.image) {
    const { width, height, data } = input.image;
    const p = preprocess({ width, height, data: new Uint8Array(data) }, student.card);
    result.preprocessed = { shape: p.shape, values: Array.from(await p.data()) };
    p.dispose();
  }
  student.model.dispose();
  result.tensorsLeft = tf.memory().numTensors;
  await report(result);
}

if (new URLSearchParams(location.search).has("test")) {
  const fail = (e) => report({ error: String(e?.stack ?? e?.reason ?? e) });
  addEventListener("error", (event) => fail(event.error ?? event.message));
  addEventListener("unhandledrejection", (event) => fail(event.reason));
  selfTest().catch(fail);
} else {
  main();
}
