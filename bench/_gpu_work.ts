/**
 * What one training step asks of the GPU: compute dispatches, buffer
 * allocations, uploads, uniform writes, readbacks and queue submits, counted
 * at the WebGPU API itself (the prototypes of `GPUComputePassEncoder`,
 * `GPUDevice`, `GPUQueue` and `GPUBuffer` are wrapped for the duration of
 * one call). The counts do not depend on the adapter's speed, so a software
 * adapter (llvmpipe) measures them exactly as a real GPU would.
 *
 * With `byKernel`, each dispatch is charged to the tfjs kernel that was
 * running when it was recorded (the innermost `engine.runKernel`): a
 * toolkit kernel that calls the backend's kernels directly counts their
 * dispatches under its own name.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/** The WebGPU calls of one measured call. */
export interface GpuWork {
  /** `dispatchWorkgroups` (and `…Indirect`): one per compute program run. */
  dispatches: number;
  /** `createBindGroup`: tfjs makes one per dispatch. */
  bindGroups: number;
  /** `createBuffer`: new allocations (tfjs reuses freed buffers, so few after the first step). */
  buffersCreated: number;
  /** Bytes of those allocations. */
  bytesCreated: number;
  /** Tensor data written from the host (`getMappedRange` on a buffer that is not read back). */
  uploads: number;
  /** `queue.writeBuffer`: tfjs writes each dispatch's uniforms this way. */
  uniformWrites: number;
  /** `mapAsync` for reading: data brought back to the host. */
  readbacks: number;
  /** `queue.submit`. */
  submits: number;
  /** Dispatches per tfjs kernel, most first (only with `byKernel`). */
  byKernel?: { name: string; dispatches: number; calls: number }[];
}

/** Options for {@linkcode countGpuWork}. */
export interface CountOptions {
  /** Charge every dispatch to the running tfjs kernel. @default {false} */
  byKernel?: boolean;
}

type Proto = Record<string, unknown>;

function protoOf(name: string): Proto | undefined {
  const ctor = (globalThis as Record<string, unknown>)[name] as { prototype?: Proto } | undefined;
  return ctor?.prototype;
}

/** Whether this runtime exposes the WebGPU classes whose calls are counted. */
export function canCountGpuWork(): boolean {
  return ["GPUComputePassEncoder", "GPUDevice", "GPUQueue", "GPUBuffer"].every((n) =>
    protoOf(n) !== undefined
  );
}

/**
 * Run `fn` once and count the WebGPU calls it makes (including those its
 * readbacks trigger). Nothing else may use WebGPU meanwhile: the counters are
 * global.
 *
 * @example
 * ```ts ignore
 * const { work } = await countGpuWork(() => step(), { byKernel: true });
 * console.log(`${work.dispatches} dispatches, ${work.readbacks} readbacks`);
 * ```
 *
 * @throws {Error} When the runtime has no WebGPU classes ({@linkcode canCountGpuWork}).
 */
export async function countGpuWork<T>(
  fn: () => Promise<T>,
  options: CountOptions = {},
): Promise<{ result: T; work: GpuWork }> {
  if (!canCountGpuWork()) throw new Error("this runtime exposes no WebGPU classes to count");
  const work: GpuWork = {
    dispatches: 0,
    bindGroups: 0,
    buffersCreated: 0,
    bytesCreated: 0,
    uploads: 0,
    uniformWrites: 0,
    readbacks: 0,
    submits: 0,
  };
  const perKernel = new Map<string, { dispatches: number; calls: number }>();
  const stack: string[] = [];
  const restore: (() => void)[] = [];
  const wrap = (
    proto: Proto | undefined,
    method: string,
    before: (args: unknown[], self: { usage?: number }) => void,
  ) => {
    const original = proto?.[method];
    if (!proto || typeof original !== "function") return;
    proto[method] = function (this: { usage?: number }, ...args: unknown[]) {
      before(args, this);
      return original.apply(this, args);
    };
    restore.push(() => (proto[method] = original));
  };
  const dispatched = () => {
    work.dispatches++;
    if (!options.byKernel) return;
    const name = stack.at(-1) ?? "(outside any kernel)";
    const e = perKernel.get(name) ?? { dispatches: 0, calls: 0 };
    e.dispatches++;
    perKernel.set(name, e);
  };
  const pass = protoOf("GPUComputePassEncoder");
  wrap(pass, "dispatchWorkgroups", dispatched);
  wrap(pass, "dispatchWorkgroupsIndirect", dispatched);
  const device = protoOf("GPUDevice");
  wrap(device, "createBindGroup", () => work.bindGroups++);
  wrap(device, "createBuffer", (args) => {
    work.buffersCreated++;
    work.bytesCreated += Number((args[0] as { size?: number })?.size ?? 0);
  });
  const queue = protoOf("GPUQueue");
  wrap(queue, "writeBuffer", () => work.uniformWrites++);
  wrap(queue, "submit", () => work.submits++);
  const buffer = protoOf("GPUBuffer");
  const MAP_READ = (globalThis as { GPUBufferUsage?: { MAP_READ: number } }).GPUBufferUsage
    ?.MAP_READ ?? 1;
  wrap(buffer, "getMappedRange", (_args, self) => {
    if (!(Number(self?.usage ?? 0) & MAP_READ)) work.uploads++;
  });
  wrap(buffer, "mapAsync", (args) => {
    if (Number(args[0]) & 1) work.readbacks++;
  });
  if (options.byKernel) {
    const engine = tf.engine() as unknown as Proto;
    const runKernel = engine.runKernel as (...a: unknown[]) => unknown;
    engine.runKernel = function (this: unknown, ...args: unknown[]) {
      const name = String(args[0]);
      const e = perKernel.get(name) ?? { dispatches: 0, calls: 0 };
      e.calls++;
      perKernel.set(name, e);
      stack.push(name);
      try {
        return runKernel.apply(this, args);
      } finally {
        stack.pop();
      }
    };
    restore.push(() => (engine.runKernel = runKernel));
  }
  try {
    const result = await fn();
    if (options.byKernel) {
      work.byKernel = [...perKernel].map(([name, e]) => ({ name, ...e }))
        .filter((e) => e.dispatches > 0)
        .sort((a, b) => b.dispatches - a.dispatches || a.name.localeCompare(b.name));
    }
    return { result, work };
  } finally {
    for (const undo of restore.reverse()) undo();
  }
}
