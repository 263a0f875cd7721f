/**
 * The tfjs export in a real browser: headless Chromium opens docs/web/ (the
 * README's example of deploying a student to the web), which loads the export
 * with the stock `tf.min.js` from node_modules and stock `tf.loadGraphModel`,
 * and its embeddings of fixed inputs must match Deno's.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "assert";
import { testNeeding } from "../_optional.ts";
import { assertClose } from "../_helpers.ts";
import { initBackend } from "../../lib/backend.ts";
import { exportStudent } from "../../lib/models/export.ts";
import { createModel } from "../../lib/models/registry.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const WEB = `${ROOT}docs/web`;
const TFJS_BUNDLE = `${ROOT}node_modules/@tensorflow/tfjs/dist/tf.min.js`;
// A command name, not a path: the test task grants --allow-run=chromium.
const CHROMIUM = "chromium";
const PAGE_TIMEOUT_MS = 60_000;
const EXIT_TIMEOUT_MS = 10_000;
const MEAN = [0.286];
const STD = [0.353];

const CONTENT_TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  json: "application/json",
  css: "text/css",
};

/** Resolves to `value` after `ms` unless cancelled, so that no timer outlives the test. */
function delay<T>(ms: number, value: T): { promise: Promise<T>; cancel: () => void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const promise = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(value), ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

/** A deterministic RGBA image, so that the page's own preprocessing is checked too. */
function testImage(width: number, height: number): Uint8Array {
  const data = new Uint8Array(width * height * 4);
  let state = 12345;
  for (let i = 0; i < data.length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    data[i] = i % 4 === 3 ? 255 : state >>> 24;
  }
  return data;
}

/** What the page's `preprocess` must give, written without `tf.browser.fromPixels`. */
async function preprocessReference(data: Uint8Array, width: number, height: number) {
  const gray = new Float32Array(width * height);
  for (let i = 0; i < gray.length; i++) {
    const [r, g, b] = data.subarray(4 * i, 4 * i + 3);
    gray[i] = (0.2989 * r + 0.587 * g + 0.114 * b) / 255;
  }
  const resized = tf.tidy(() =>
    tf.image.resizeBilinear(tf.tensor3d(gray, [height, width, 1]), [28, 28], false, true)
  );
  const values = Array.from(await resized.data(), (v) => (v - MEAN[0]) / STD[0]);
  resized.dispose();
  return values;
}

interface PageResult {
  error?: string;
  backend: string;
  tfVersion: string;
  shape: number[];
  values: number[];
  normalized: number[];
  preprocessed: { shape: number[]; values: number[] };
  tensorsLeft: number;
}

/** Serve docs/web, the export and the bundle; open the page in Chromium; return what it posts. */
async function runPage(exportDir: string, profile: string, input: unknown): Promise<PageResult> {
  const requests: string[] = [];
  const posted = Promise.withResolvers<PageResult>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      const path = new URL(req.url).pathname;
      requests.push(`${req.method} ${path}`);
      if (req.method === "POST" && path === "/result") {
        posted.resolve(await req.json().catch((e) => ({ error: `bad /result body: ${e}` })));
        return new Response(null, { status: 204 });
      }
      if (req.method !== "GET") return new Response("method not allowed", { status: 405 });
      if (path === "/test_input.json") return Response.json(input);
      // The page's files, the export under student/, and the stock bundle: nothing else.
      const name = path.match(/^\/(student\/)?([\w-]+\.(\w+))$/);
      const file = path === "/tf.min.js"
        ? TFJS_BUNDLE
        : name && `${name[1] ? exportDir : WEB}/${name[2]}`;
      try {
        if (!file) throw new Deno.errors.NotFound();
        const type = CONTENT_TYPES[name?.[3] ?? "js"] ?? "application/octet-stream";
        return new Response(await Deno.readFile(file), { headers: { "content-type": type } });
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
        return new Response("not found", { status: 404 });
      }
    },
  );
  const child = new Deno.Command(CHROMIUM, {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--enable-logging=stderr",
      `--user-data-dir=${profile}`,
      `http://127.0.0.1:${server.addr.port}/index.html?test=1`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const drained = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) {
      stderr = (stderr + decoder.decode(chunk, { stream: true })).slice(-6000);
    }
  })();

  const timeout = delay(PAGE_TIMEOUT_MS, { timedOut: true } as const);
  let outcome;
  try {
    outcome = await Promise.race([
      posted.promise.then((body) => ({ body })),
      child.status.then((status) => ({ status })),
      timeout.promise,
    ]);
  } finally {
    timeout.cancel();
    try {
      child.kill("SIGKILL");
    } catch { /* it already exited */ }
    await child.status;
    await server.shutdown();
  }
  // Chromium's zygote, renderers and utility processes inherit its stderr, so
  // the pipe reaches its end only once the last of them has exited.
  const grace = delay(EXIT_TIMEOUT_MS, false);
  const allExited = await Promise.race([drained.then(() => true), grace.promise]);
  grace.cancel();
  assert.ok(
    allExited,
    `chromium's child processes still hold its stderr ${EXIT_TIMEOUT_MS / 1000} s ` +
      "after the browser was killed",
  );

  // Without a session bus chromium logs D-Bus failures that hide the page's console lines.
  const log = stderr.split("\n").filter((line) => !/dbus|D-Bus/.test(line)).join("\n");
  const context = `\nrequests: ${requests.join(", ")}\n` +
    `chromium stderr (tail):\n${log.slice(-3000)}`;
  if ("timedOut" in outcome) {
    assert.fail(`the page posted no /result within ${PAGE_TIMEOUT_MS / 1000} s${context}`);
  }
  if ("status" in outcome) {
    assert.fail(`chromium exited (code ${outcome.status.code}) before the page reported${context}`);
  }
  if (outcome.body.error) assert.fail(`the page failed: ${outcome.body.error}${context}`);
  return outcome.body;
}

const NAME = "tfjs export gives Deno's embeddings in headless Chromium (docs/web, stock tf.min.js)";
await testNeeding(["chromium"], {
  name: NAME,
  fn: async () => {
    await initBackend({ backend: "cpu", log: false });
    const before = tf.memory().numTensors;
    await Deno.mkdir(`${ROOT}tests/.tmp`, { recursive: true });
    const tmp = await Deno.makeTempDir({ dir: `${ROOT}tests/.tmp`, prefix: "browser-" });
    try {
      const model = createModel("resnet18", { stem: "cifar", width: 0.125, inChannels: 1 });
      const x = tf.randomNormal([3, 28, 28, 1], 0, 1, "float32", 11) as tf.Tensor4D;
      // Training-mode passes on shifted inputs give batch norm non-trivial running statistics.
      for (let i = 0; i < 2; i++) {
        tf.tidy(() => {
          model.embed(tf.add(tf.mul(x, 2), 0.5 + i) as tf.Tensor4D, { training: true });
        });
      }
      await exportStudent(model, `${tmp}/student`, { inputSize: [28, 28], mean: MEAN, std: STD });
      const embedding = model.embed(x);
      const want = await embedding.data();
      const inputValues = await x.data();
      tf.dispose([x, embedding]);
      model.dispose();
      const featureDim = want.length / 3;
      const norms = [0, 1, 2].map((b) =>
        Math.hypot(...want.subarray(b * featureDim, (b + 1) * featureDim))
      );
      const wantNormalized = Array.from(want, (v, i) => v / norms[Math.floor(i / featureDim)]);
      const [width, height] = [40, 36];
      const pixels = testImage(width, height);
      const wantPixels = await preprocessReference(pixels, width, height);

      const got = await runPage(`${tmp}/student`, `${tmp}/profile`, {
        shape: [3, 28, 28, 1],
        values: Array.from(inputValues),
        image: { width, height, data: Array.from(pixels) },
      });
      assert.equal(got.tfVersion, "4.22.0", "the page did not run the stock tfjs 4.22.0 bundle");
      assert.equal(got.backend, "cpu");
      assert.deepEqual(got.shape, [3, featureDim]);
      assertClose(got.values, want, { rtol: 1e-4, label: "browser embeddings" });
      assertClose(got.normalized, wantNormalized, { rtol: 1e-4, label: "L2-normalised" });
      assert.deepEqual(got.preprocessed.shape, [1, 28, 28, 1]);
      assertClose(got.preprocessed.values, wantPixels, { rtol: 1e-5, label: "preprocess" });
      assert.equal(got.tensorsLeft, 0, "the page leaked tensors");
      assert.equal(tf.memory().numTensors, before, "the test leaked tensors");
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
