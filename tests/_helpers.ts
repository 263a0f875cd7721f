/**
 * Shared test helpers: run one test body on every backend, check for leaked
 * tensors, and compare numbers against references with a stated tolerance.
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "assert";
import { type BackendName, initBackend, probeWebGPU } from "../lib/backend.ts";
import { recordSkip, SKIP_LOG } from "../tasks/_skips.ts";

/** Backends every numeric test runs on. WebGPU runs on lavapipe here: keep sizes small. */
export const ALL_BACKENDS: readonly BackendName[] = ["cpu", "wasm", "webgpu"];

const SKIP_LOG_PATH = new URL(`../${SKIP_LOG}`, import.meta.url).pathname;

const gpu = await probeWebGPU();
/** Whether a WebGPU adapter (software or real) exists in this process. */
export const HAS_WEBGPU: boolean = gpu.adapter !== undefined;
// CI installs Mesa's Vulkan driver, so a missing adapter there is a failure, not a skip.
const REQUIRE_WEBGPU = Deno.env.get("CI") === "true";

/** Options for {@linkcode backendTest}. */
export interface BackendTestOptions {
  /** Backends to run on. @default {ALL_BACKENDS} */
  backends?: readonly BackendName[];
  /** Check that the body leaves `tf.memory().numTensors` unchanged. @default {true} */
  checkLeaks?: boolean;
}

/** Register `name [backend]` as one Deno test per backend. */
export function backendTest(
  name: string,
  fn: (backend: BackendName) => void | Promise<void>,
  options: BackendTestOptions = {},
): void {
  for (const backend of options.backends ?? ALL_BACKENDS) {
    const missing = backend === "webgpu" && !HAS_WEBGPU && !REQUIRE_WEBGPU;
    // Skipped for want of a Vulkan driver: recorded for the summary deno task test ends with.
    if (missing) recordSkip({ test: `${name} [${backend}]`, needs: ["vulkan"] }, SKIP_LOG_PATH);
    Deno.test({
      name: missing
        ? `${name} [${backend}] (skipped: needs a Vulkan driver)`
        : `${name} [${backend}]`,
      ignore: missing,
      // WebGPU keeps device resources and async ops alive between tests.
      sanitizeOps: false,
      sanitizeResources: false,
      fn: async () => {
        await initBackend({ backend, log: false });
        const before = tf.memory().numTensors;
        // Kernels that call other kernels directly never show up as tensors:
        // count the backend's buffers too.
        const dataBefore = tf.engine().backend.numDataIds();
        await fn(backend);
        if (options.checkLeaks ?? true) {
          assert.equal(tf.memory().numTensors, before, `${name} [${backend}] leaked tensors`);
          assert.equal(
            tf.engine().backend.numDataIds(),
            dataBefore,
            `${name} [${backend}] leaked backend buffers`,
          );
        }
      },
    });
  }
}

/** Options for {@linkcode assertClose}. */
export interface CloseOptions {
  /** Relative tolerance against the largest reference magnitude. @default {1e-5} */
  rtol?: number;
  /** Absolute floor added to the tolerance. @default {0} */
  atol?: number;
  /** Label used in the failure message. */
  label?: string;
}

/**
 * Assert `|actual - expected| <= atol + rtol * max|expected|` elementwise, and
 * that no value is NaN. The scale is the largest reference magnitude so that
 * entries near zero are judged against the tensor's own size.
 */
export function assertClose(
  actual: ArrayLike<number> | number,
  expected: ArrayLike<number> | number,
  options: CloseOptions = {},
): void {
  const a = typeof actual === "number" ? [actual] : Array.from(actual);
  const e = typeof expected === "number" ? [expected] : Array.from(expected);
  const label = options.label ?? "value";
  assert.equal(a.length, e.length, `${label}: length ${a.length} != expected ${e.length}`);
  let scale = 0;
  for (const v of e) scale = Math.max(scale, Math.abs(v));
  const tol = (options.atol ?? 0) + (options.rtol ?? 1e-5) * scale;
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < a.length; i++) {
    const err = Math.abs(a[i] - e[i]);
    if (!(err <= tol) && (worst < 0 || !(err <= worstErr))) {
      worst = i;
      worstErr = err;
    }
  }
  if (worst >= 0) {
    assert.fail(
      `${label}: element ${worst} is ${a[worst]}, expected ${e[worst]} ` +
        `(error ${worstErr.toExponential(3)} > tolerance ${tol.toExponential(3)}, ` +
        `rtol ${options.rtol ?? 1e-5} of max |expected| ${scale.toExponential(3)})`,
    );
  }
}

/** Read a tensor back asynchronously (never `dataSync`) and dispose it. */
export async function readAndDispose(t: tf.Tensor): Promise<Float32Array> {
  const data = await t.data<"float32">();
  t.dispose();
  return data as Float32Array;
}

const TMP = new URL("./.tmp/", import.meta.url).pathname;

/** A fresh directory under tests/.tmp and a function that removes it. */
export async function scratch(tag: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  await Deno.mkdir(TMP, { recursive: true });
  const dir = await Deno.makeTempDir({ dir: TMP, prefix: `${tag}_` });
  return { dir, cleanup: () => Deno.remove(dir, { recursive: true }) };
}

/** Run `fn` with a fresh directory under tests/.tmp, removed afterwards even on failure. */
export async function withTempDir<T>(tag: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const { dir, cleanup } = await scratch(tag);
  try {
    return await fn(dir);
  } finally {
    await cleanup();
  }
}

const DEBIAN_FMNIST = "/usr/share/datasets/fashion-mnist";
/** Where Debian's `dataset-fashion-mnist` puts the files. */
export const DEBIAN_FASHION_MNIST: string = DEBIAN_FMNIST;
/** Whether Debian's Fashion-MNIST is installed. */
export const HAS_DEBIAN_FASHION_MNIST: boolean = await Deno.stat(
  `${DEBIAN_FMNIST}/t10k-labels-idx1-ubyte.gz`,
).then(() => true, () => false);
/**
 * Whether tests that read Debian's Fashion-MNIST are skipped: only when it is
 * missing outside CI (CI installs it, so there a missing copy fails).
 */
export const IGNORE_DEBIAN_FASHION_MNIST: boolean = !HAS_DEBIAN_FASHION_MNIST &&
  Deno.env.get("CI") !== "true";

const OTHER_BUILD_CHILD = "COSS_KERNEL_TEST_CHILD";

/**
 * The wasm build (threaded or not) is fixed once per process: register a test
 * that runs the test file `fileUrl` again in a child process on the other
 * build and expects its `passes` tests to pass there.
 */
export function testInOtherWasmBuild(name: string, fileUrl: string, passes: number): void {
  Deno.test({
    name: `${name}: the same tests pass in the other wasm build`,
    ignore: Deno.env.get(OTHER_BUILD_CHILD) === "1",
    fn: async () => {
      const info = await initBackend({ backend: "wasm", log: false });
      const threads = info.wasmThreads === 1 ? "2" : "1";
      const child = async () => {
        const { code, stdout, stderr } = await new Deno.Command("deno", {
          args: ["test", "--allow-read", "--allow-env", new URL(fileUrl).pathname],
          env: { [OTHER_BUILD_CHILD]: "1", COSS_WASM_THREADS: threads, NO_COLOR: "1" },
          stdout: "piped",
          stderr: "piped",
          signal: AbortSignal.timeout(300_000),
        }).output();
        return { code, out: new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr) };
      };
      let { code, out } = await child();
      // Deno once aborted (134, glibc "corrupted size vs. prev_size") while exiting, after every
      // test had passed; not reproduced in 12 reruns. Such an exit is rerun once, and said.
      if (code === 134 && /corrupted size/.test(out) && /\| 0 failed/.test(out)) {
        console.error(`rerunning: the child aborted at exit after its tests passed:\n${out}`);
        ({ code, out } = await child());
      }
      assert.equal(code, 0, `COSS_WASM_THREADS=${threads}:\n${out}`);
      assert.match(
        out,
        new RegExp(`ok \\| ${passes} passed`),
        `COSS_WASM_THREADS=${threads} ran the ${passes} tests:\n${out}`,
      );
    },
  });
}
