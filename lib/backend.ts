/**
 * Choose, initialise and report the tfjs backend the toolkit computes on.
 *
 * Policy for `"auto"`: WebGPU only when the adapter is a real GPU (software
 * adapters such as llvmpipe, lavapipe or SwiftShader are correct but far slower
 * than wasm), else wasm (SIMD), else cpu. Every choice, and every fallback, is
 * reported on one line. An explicit choice that cannot be honoured throws.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
// tfjs-core alone registers no gradients; the union package does (same engine).
import "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-cpu";
import { getThreadsCount } from "@tensorflow/tfjs-backend-wasm";
import { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { registerTrainingKernels } from "./kernels/mod.ts";
import { installThreadedWasm } from "./_wasm_threads.ts";
import { grantedEnv } from "./util/env.ts";

import { BACKEND_CHOICES, type BackendChoice, type BackendName } from "./backend_names.ts";

export { BACKEND_CHOICES };
export type { BackendChoice, BackendName };

/** Options for {@linkcode initBackend}. */
export interface InitBackendOptions {
  /**
   * Which backend to use. When omitted, the `COSS_BACKEND` environment
   * variable is read (if env access to it is granted), then `"auto"`.
   *
   * @default {"auto"}
   */
  backend?: BackendChoice;
  /**
   * Where the one-line report goes: `true` prints it with `console.error`
   * (so it never mixes with data on stdout), `false` stays quiet, a function
   * receives the line.
   *
   * @default {true}
   */
  log?: boolean | ((line: string) => void);
  /**
   * Threads for the wasm backend. At 2 or more the toolkit loads tfjs's
   * threaded wasm build (XNNPACK's thread pool, one Deno worker per extra
   * thread); 1 keeps the single-threaded SIMD build. When omitted, the
   * `COSS_WASM_THREADS` environment variable is read (if env access to it is
   * granted), then the machine's logical core count, capped at 8. It takes
   * effect the first time wasm starts in a process; the one-line report says
   * how many threads run, and why when fewer than asked.
   *
   * @default {navigator.hardwareConcurrency, at most 8}
   */
  wasmThreads?: number;
}

/** What {@linkcode initBackend} chose, and why. */
export interface BackendInfo {
  /** The backend now active in tfjs. */
  name: BackendName;
  /** What was asked for, after reading `COSS_BACKEND`. */
  requested: BackendChoice;
  /** Where the request came from. */
  source: "options" | "COSS_BACKEND" | "default";
  /** Why this backend was chosen, in words. */
  reason: string;
  /** The WebGPU adapter's description, when one was found. */
  adapter?: string;
  /** Whether that adapter is a software rasteriser. */
  softwareAdapter?: boolean;
  /** Threads of the wasm backend (1: the single-threaded build); absent for other backends. */
  wasmThreads?: number;
  /** Kernels the toolkit registered on this backend so that conv nets train. */
  kernels: string[];
  /** The one line that was (or would have been) printed. */
  line: string;
}

/** What {@linkcode probeWebGPU} found: the WebGPU adapter, or why there is none. */
export interface AdapterProbe {
  /** The adapter itself; absent when there is none (then `problem` says why). */
  adapter?: GPUAdapter;
  /** The adapter's description and vendor, e.g. `"llvmpipe (LLVM 15.0.6, 256 bits)"`; `""` without one. */
  description: string;
  /** Whether the adapter is a software rasteriser (llvmpipe, SwiftShader, ...), correct but slow. */
  software: boolean;
  /** Why no adapter is available, in words, e.g. `"navigator.gpu is missing"`. */
  problem?: string;
}

// Registered at import so that code using tfjs's default backend can train too.
registerTrainingKernels("wasm");
registerTrainingKernels("cpu");

const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|softpipe|swiftshader|warp|basic render|software/i;

let webgpuFactoryInstalled = false;
let probed: Promise<AdapterProbe> | undefined;

/**
 * Describe the WebGPU adapter, or say why there is none. Cached per process.
 *
 * @example
 * ```ts
 * import { probeWebGPU } from "./backend.ts";
 *
 * const probe = await probeWebGPU();
 * console.log(probe.adapter ? `${probe.description}, software: ${probe.software}` : probe.problem);
 * // e.g. "llvmpipe (LLVM 15.0.6, 256 bits), vendor 65541, software: true"
 * ```
 */
export function probeWebGPU(): Promise<AdapterProbe> {
  probed ??= (async (): Promise<AdapterProbe> => {
    quietVulkanLoader();
    const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
    if (!gpu) return { description: "", software: false, problem: "navigator.gpu is missing" };
    let adapter: GPUAdapter | null = null;
    try {
      adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
    } catch (e) {
      return { description: "", software: false, problem: `requestAdapter failed: ${e}` };
    }
    if (!adapter) {
      return {
        description: "",
        software: false,
        problem: "no WebGPU adapter (is a Vulkan driver installed? " +
          "Debian: apt-get install mesa-vulkan-drivers libvulkan1)",
      };
    }
    const info = adapter.info;
    const description = [info.description, info.vendor && `vendor ${info.vendor}`]
      .filter(Boolean).join(", ") || "unnamed adapter";
    // deno-lint-ignore no-explicit-any
    const fallback = Boolean((info as any).isFallbackAdapter ?? (adapter as any).isFallbackAdapter);
    return { adapter, description, software: fallback || SOFTWARE_ADAPTER.test(description) };
  })();
  return probed;
}

/**
 * The Vulkan loader prints "XDG_RUNTIME_DIR is invalid or not set" on every
 * start without it; point it at /tmp when it is unset and env access allows.
 */
function quietVulkanLoader(): void {
  const state = Deno.permissions.querySync?.({ name: "env", variable: "XDG_RUNTIME_DIR" });
  if (state && state.state !== "granted") return;
  if (!Deno.env.get("XDG_RUNTIME_DIR")) Deno.env.set("XDG_RUNTIME_DIR", "/tmp");
}

/**
 * tfjs's own WebGPU factory asks for an adapter a second time and passes a
 * malformed feature list; this one reuses the probed adapter, asks only for
 * limits the adapter has, and reports a lost device instead of hanging.
 */
function installWebGPUFactory(): void {
  if (webgpuFactoryInstalled) return;
  webgpuFactoryInstalled = true;
  if (tf.findBackendFactory("webgpu")) tf.removeBackend("webgpu");
  tf.registerBackend("webgpu", async () => {
    const { adapter, problem } = await probeWebGPU();
    if (!adapter) throw new Error(problem);
    const limits = adapter.limits;
    const requiredFeatures: GPUFeatureName[] = [];
    if (adapter.features.has("timestamp-query")) requiredFeatures.push("timestamp-query");
    const device = await adapter.requestDevice({
      requiredFeatures,
      requiredLimits: {
        maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
        maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
        maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
        maxBufferSize: limits.maxBufferSize,
        maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
        maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
      },
    });
    reportDeviceErrors(device);
    device.lost.then((lost) => {
      if (lost.reason !== "destroyed") {
        console.error(`coss: WebGPU device lost (${lost.reason}): ${lost.message}`);
      }
    });
    return new WebGPUBackend(device, adapter.info);
  }, 1);
}

let deviceErrors = 0;

/**
 * WebGPU errors (validation, out of memory, internal) raised so far in this
 * process; each one is also printed on stderr. A check can take the count
 * before and after its work.
 *
 * @example
 * ```ts
 * import { webgpuErrorCount } from "./backend.ts";
 * console.log(webgpuErrorCount()); // 0 until WebGPU reports an error
 * ```
 */
export function webgpuErrorCount(): number {
  return deviceErrors;
}

/**
 * tfjs never looks at WebGPU validation errors: a shader that fails to
 * validate runs nothing and its output keeps stale memory. Say so on stderr
 * (the first few, then a count every hundred) instead of going on silently.
 */
function reportDeviceErrors(device: GPUDevice): void {
  device.addEventListener("uncapturederror", (event) => {
    const count = ++deviceErrors;
    if (count <= 3 || count % 100 === 0) {
      const message = (event as GPUUncapturedErrorEvent).error?.message ?? String(event);
      console.error(`coss: WebGPU error #${count} (results may be wrong): ${message}`);
    }
  });
}

/** Load the threaded wasm build when wanted, before wasm first starts; describe the result. */
async function prepareWasm(wanted: number, source: string): Promise<string> {
  if (tf.engine().registry["wasm"]) {
    const running = runningWasmThreads();
    const note = running === wanted ? "" : ` (${wanted} asked; wasm was already running)`;
    return `wasm SIMD, ${threadWord(running)}${note}`;
  }
  if (wanted < 2) return `wasm SIMD, 1 thread${source ? ` (${source})` : ""}`;
  try {
    const { threads } = await installThreadedWasm(wanted);
    return `wasm SIMD, ${threadWord(threads)}`;
  } catch (e) {
    const why = (e as Error).message;
    return `wasm SIMD, 1 thread: the threaded build did not start (${why}), so the ` +
      "single-threaded build runs; set COSS_WASM_THREADS=1 to skip the attempt";
  }
}

/** Threads of the running wasm backend (tfjs reports 0 for the single-threaded build). */
const runningWasmThreads = () => Math.max(1, getThreadsCount());

const threadWord = (n: number) => `${n} thread${n === 1 ? "" : "s"}`;

/** The wasm thread count asked for, and where it came from (`""` for the default). */
function wantedWasmThreads(option: number | undefined): [number, string] {
  if (option !== undefined) {
    if (!Number.isInteger(option) || option < 1) {
      throw new RangeError(`wasmThreads must be a positive integer, got ${option}`);
    }
    return [option, option === 1 ? "wasmThreads: 1" : ""];
  }
  const raw = grantedEnv("COSS_WASM_THREADS");
  if (raw) {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) {
      throw new RangeError(
        `COSS_WASM_THREADS must be a positive integer, got "${raw}": unset it or use e.g. 1 or 2`,
      );
    }
    return [n, n === 1 ? "COSS_WASM_THREADS=1" : ""];
  }
  return [Math.min(8, Math.max(1, navigator.hardwareConcurrency || 1)), ""];
}

/**
 * Compute passes tfjs-webgpu records before it submits them (tfjs: 15). On
 * llvmpipe a CNN training step ran faster at 100 or 200 than at 15
 * (docs/performance.md, "Submission batching, readbacks"); every readback
 * submits anyway. Override
 * with `tf.env().set("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE", n)` after `initBackend`.
 */
export const WEBGPU_SUBMIT_BATCH = 100;

async function activate(name: BackendName): Promise<void> {
  if (name === "webgpu") tf.env().set("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE", WEBGPU_SUBMIT_BATCH);
  const ok = await tf.setBackend(name);
  if (!ok || tf.getBackend() !== name) {
    throw new Error(`tfjs could not initialise the "${name}" backend`);
  }
  await tf.ready();
}

/**
 * Initialise a tfjs backend by the toolkit's policy, register the kernels
 * that let conv nets train on it, and report the choice on one line.
 *
 * @example Pick the best backend for this machine
 * ```ts
 * import { initBackend } from "./backend.ts";
 * const info = await initBackend({ backend: "cpu", log: false });
 * console.log(info.name); // "cpu"
 * ```
 *
 * @param options Which backend, and where to report the choice.
 * @returns What was chosen and why.
 * @throws {RangeError} For an unknown backend name.
 * @throws {Error} When an explicitly requested backend cannot start.
 */
export async function initBackend(options: InitBackendOptions = {}): Promise<BackendInfo> {
  tf.enableProdMode();
  const env = options.backend === undefined ? grantedEnv("COSS_BACKEND") : undefined;
  const source = options.backend !== undefined ? "options" : env ? "COSS_BACKEND" : "default";
  const raw: string = options.backend ?? env ?? "auto";
  if (!BACKEND_CHOICES.includes(raw as BackendChoice)) {
    const from = source === "COSS_BACKEND" ? " (from COSS_BACKEND)" : "";
    throw new RangeError(
      `Unknown backend "${raw}"${from}: expected one of ${BACKEND_CHOICES.join(", ")}`,
    );
  }
  const requested = raw as BackendChoice;
  const [threadsWanted, threadsSource] = wantedWasmThreads(options.wasmThreads);
  installWebGPUFactory();

  let name: BackendName;
  let reason: string;
  let adapter: string | undefined;
  let softwareAdapter: boolean | undefined;
  if (requested === "webgpu") {
    const probe = await probeWebGPU();
    if (!probe.adapter) {
      const from = source === "COSS_BACKEND" ? "COSS_BACKEND=webgpu" : "backend webgpu";
      throw new Error(
        `WebGPU requested but unavailable: ${probe.problem}; ${from} was asked for ` +
          "explicitly, so there is no fallback: choose auto, wasm or cpu instead",
      );
    }
    adapter = probe.description;
    softwareAdapter = probe.software;
    await activate("webgpu");
    name = "webgpu";
    reason = probe.software
      ? `requested; "${adapter}" is a software adapter: correct but slow, use for tests only`
      : `requested; adapter "${adapter}"`;
  } else if (requested === "wasm" || requested === "cpu") {
    const wasm = requested === "wasm" ? await prepareWasm(threadsWanted, threadsSource) : "";
    await activate(requested);
    name = requested;
    reason = requested === "wasm" ? `requested (${wasm})` : "requested";
  } else {
    const probe = await probeWebGPU();
    adapter = probe.adapter ? probe.description : undefined;
    softwareAdapter = probe.adapter ? probe.software : undefined;
    const notes: string[] = [];
    name = "cpu";
    if (probe.adapter && !probe.software) {
      try {
        await activate("webgpu");
        name = "webgpu";
      } catch (e) {
        notes.push(`WebGPU adapter "${probe.description}" failed to start (${e})`);
      }
    } else if (probe.adapter) {
      notes.push(`WebGPU adapter "${probe.description}" is a software adapter`);
    } else {
      notes.push(`no WebGPU: ${probe.problem}`);
    }
    if (name === "cpu") {
      try {
        const wasm = await prepareWasm(threadsWanted, threadsSource);
        await activate("wasm");
        name = "wasm";
        notes.push(`using ${wasm}`);
      } catch (e) {
        await activate("cpu");
        notes.push(`wasm failed to start (${e}); falling back to the slow cpu backend`);
      }
    } else {
      notes.push(`real GPU adapter "${probe.description}"`);
    }
    reason = `auto: ${notes.join("; ")}`;
  }
  const kernels = registerTrainingKernels(name);
  const line = `coss backend: ${name} (${reason})` +
    (kernels.length ? `; registered ${kernels.join(", ")}` : "");
  if (options.log === undefined || options.log === true) console.error(line);
  else if (typeof options.log === "function") options.log(line);
  const wasmThreads = name === "wasm" ? runningWasmThreads() : undefined;
  return { name, requested, source, reason, adapter, softwareAdapter, wasmThreads, kernels, line };
}
