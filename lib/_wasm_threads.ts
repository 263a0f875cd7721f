/**
 * The multi-threaded tfjs-wasm build (XNNPACK with a thread pool) under Deno.
 *
 * tfjs ships `tfjs-backend-wasm-threaded-simd.wasm`, but never loads it here:
 * it believes Deno is Node (where it disables threads), and its Emscripten
 * glue would start `worker_threads` or classic Web Workers, neither of which
 * Deno offers. This loader runs the same glue as a browser would see it: the
 * Node globals are hidden, every pthread is a `node:worker_threads` worker
 * (unref'd once loaded) that emulates a classic worker's globals and
 * synchronous `importScripts`, and the compiled module plus its shared memory
 * are posted to each worker. The result replaces the factory of the
 * `wasm` backend, so every kernel registered for `wasm` (tfjs's and the
 * toolkit's) runs on it unchanged.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { BackendWasm, setThreadsCount } from "@tensorflow/tfjs-backend-wasm";
import { createRequire } from "node:module";
import { Worker as NodeWorker } from "node:worker_threads";
import threadedFactory from "@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js";
import threadedWorker from "@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js";

const WASM_FILE = "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm";
/** Emscripten pre-creates this many workers; tfjs 4.22 builds with 8. */
const POOL_SIZE_SOURCE = "pthreadPoolSize=8;";

/** What {@linkcode installThreadedWasm} set up. */
export interface ThreadedWasm {
  /** Threads in XNNPACK's pool, the calling thread included. */
  threads: number;
  /** Milliseconds spent compiling the module and starting the workers. */
  startMs: number;
}

// The pthread worker, evaluated by node:worker_threads (the one Deno worker
// that can be unref'd, so idle threads never keep a finished program alive).
// It gives tfjs's worker script and the Emscripten glue a classic worker's
// globals (`self`, `postMessage`, a synchronous `importScripts`) and hides
// the Node globals from both, so that they take their browser code paths.
const BOOTSTRAP = `
const { parentPort, workerData } = require("node:worker_threads");
const post = (message, transfer) => parentPort.postMessage(message, transfer);
const scope = { location: { href: "tfjs-backend-wasm-threaded-simd.worker.js" } };
const names = ["process", "require", "self", "postMessage", "importScripts", "navigator", "startWorker"];
const navigator = { hardwareConcurrency: workerData.cores };
const startWorker = (instance) => scope.startWorker(instance);
const globals = [undefined, undefined, scope, post, importScripts, navigator, startWorker];
function importScripts() {
  globalThis.WasmBackendModuleThreadedSimd =
    new Function(...names, "return (" + workerData.glue + ");")(...globals);
}
new Function(...names, workerData.worker).call(scope, ...globals);
parentPort.on("message", (data) => scope.onmessage({ data }));
`;

let installed: Promise<ThreadedWasm> | undefined;

/**
 * Replace the `wasm` backend's factory with the threaded build, started with
 * `threads` threads. Call it before the `wasm` backend is first initialised;
 * later calls return the first result.
 *
 * @param threads Threads for XNNPACK's pool, at least 2.
 * @returns The thread count and the start-up time.
 * @throws {Error} When the build cannot be found, read or started; the
 *   `wasm` backend is then left as it was (single-threaded).
 */
export function installThreadedWasm(threads: number): Promise<ThreadedWasm> {
  if (!Number.isInteger(threads) || threads < 2) {
    throw new RangeError(`wasm threads must be an integer ≥ 2, got ${threads}`);
  }
  installed ??= start(threads).catch((e) => {
    installed = undefined;
    throw e;
  });
  return installed;
}

async function start(threads: number): Promise<ThreadedWasm> {
  const t0 = performance.now();
  if (tf.engine().registry["wasm"]) {
    throw new Error("the single-threaded wasm backend is already running in this process");
  }
  const factorySource = String(threadedFactory);
  // One pre-started worker per extra thread: XNNPACK's pool takes them at
  // creation, and a worker started later would load asynchronously while the
  // main thread waits for it.
  const glue = factorySource.replace(POOL_SIZE_SOURCE, `pthreadPoolSize=${threads - 1};`);
  if (glue === factorySource) {
    throw new Error(`the threaded build's glue has no "${POOL_SIZE_SOURCE}" (not tfjs 4.22?)`);
  }
  const workerSource = (threadedWorker as { wasmWorkerContents?: string }).wasmWorkerContents;
  if (typeof workerSource !== "string") throw new Error("tfjs's pthread worker script is missing");
  const compiled = await WebAssembly.compile(await readThreadedBinary());

  // tfjs caps its pool at hardwareConcurrency / 2 (it assumes two hardware
  // threads per core), so report twice the threads asked for.
  const navigatorShim = { hardwareConcurrency: 2 * threads };
  // The string holds `\n` escapes that must stay escapes when it is evaluated.
  const workerData = {
    glue,
    worker: workerSource.replace(/\n/g, "\\n"),
    cores: navigatorShim.hardwareConcurrency,
  };
  const PthreadWorker = pthreadWorkerClass(workerData);
  const factory = new Function(
    "process",
    "require",
    "window",
    "Worker",
    "navigator",
    `return (${glue});`,
  )(undefined, undefined, globalThis, PthreadWorker, navigatorShim);
  const module = await factory({
    mainScriptUrlOrBlob: "tfjs-backend-wasm-threaded-simd.js",
    locateFile: (path: string) => path,
    instantiateWasm(
      imports: WebAssembly.Imports,
      receive: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void,
    ) {
      WebAssembly.instantiate(compiled, imports).then((instance) => receive(instance, compiled));
      return {};
    },
  });
  module.tfjs = {
    init: module.cwrap("init", null, []),
    initWithThreadsCount: module.cwrap("init_with_threads_count", null, ["number"]),
    getThreadsCount: module.cwrap("get_threads_count", "number", []),
    registerTensor: module.cwrap("register_tensor", null, ["number", "number", "number"]),
    disposeData: module.cwrap("dispose_data", null, ["number"]),
    dispose: module.cwrap("dispose", null, []),
  };
  // Stop the pthreads before the runtime tears down, instead of leaving idle
  // workers blocked on the shared memory while their isolates are destroyed.
  globalThis.addEventListener("unload", () => module.PThread?.terminateAllThreads());
  setThreadsCount(threads);
  const priority = 2;
  tf.removeBackend("wasm");
  tf.registerBackend("wasm", () => new BackendWasm(module), priority);
  return { threads, startMs: performance.now() - t0 };
}

/** A `Worker` as Emscripten's browser glue uses it, backed by node:worker_threads. */
function pthreadWorkerClass(workerData: Record<string, unknown>) {
  return class PthreadWorker {
    onmessage: ((event: { data: unknown }) => void) | null = null;
    onerror: ((event: { message: string; error: unknown }) => void) | null = null;
    #worker: NodeWorker;
    constructor(_url: string) {
      const worker = new NodeWorker(BOOTSTRAP, { eval: true, workerData });
      worker.on("message", (data: { cmd?: string }) => {
        // Once loaded, a pthread waits for work and must not keep the process alive.
        if (data?.cmd === "loaded") worker.unref();
        this.onmessage?.({ data });
      });
      worker.on("error", (error: Error) => this.onerror?.({ message: error.message, error }));
      this.#worker = worker;
    }
    postMessage(message: unknown, transfer?: Transferable[]): void {
      // deno-lint-ignore no-explicit-any
      this.#worker.postMessage(message, transfer as any);
    }
    terminate(): void {
      this.#worker.terminate();
    }
  };
}

/** The threaded `.wasm` binary's bytes, from the installed npm package. */
async function readThreadedBinary(): Promise<Uint8Array<ArrayBuffer>> {
  const bases = [import.meta.url, new URL(`file://${Deno.cwd()}/`).href];
  const problems: string[] = [];
  for (const base of bases) {
    if (!base.startsWith("file:")) continue;
    let path: string;
    try {
      path = createRequire(base).resolve(WASM_FILE);
    } catch (e) {
      problems.push(`not found from ${base} (${(e as Error).message.split("\n")[0]})`);
      continue;
    }
    return await Deno.readFile(path);
  }
  throw new Error(
    `cannot locate ${WASM_FILE}: ${problems.join("; ") || "no file: base"}; ` +
      'set "nodeModulesDir": "auto" in deno.json',
  );
}
