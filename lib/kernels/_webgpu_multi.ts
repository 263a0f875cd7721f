/**
 * One WebGPU compute shader with several outputs, recorded into tfjs-webgpu's
 * own command stream.
 *
 * tfjs-webgpu 4.22 runs programs with exactly one output (`result`), so an
 * update that produces a weight and its optimizer slots, or a reduction that
 * produces a mean and a variance, costs one dispatch per output plus the ops
 * between them. Here the toolkit writes the whole WGSL module itself (its
 * bindings: the outputs, `read_write`, then the inputs, `read`, then one
 * uniform struct of scalars), and the dispatch goes into the backend's
 * current compute pass exactly as `runWebGPUProgram` records its own:
 * the same buffers, the same submission batching
 * (`WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE`), the same bookkeeping that keeps an
 * input's buffer alive until the queue has run, and a timestamp query per
 * dispatch under `tf.profile`.
 *
 * This reaches into the backend's fields (`tensorMap`, `commandEncoder`,
 * `computePassEncoder`, `dispatchCountInPass`, `commandQueueOwnedIds`,
 * `activeTimers`), all of them present in 4.22; {@linkcode multiOutputSupported}
 * checks them, and a kernel that cannot use them says so instead of running.
 *
 * @module
 */
import { env } from "@tensorflow/tfjs-core";
import type { DataType, TensorInfo } from "@tensorflow/tfjs-core";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";

/** One program: a whole WGSL module and its launch geometry. */
export interface MultiProgram {
  /** Pipeline cache key: the same key must always mean the same `code`. */
  key: string;
  /** The WGSL module, with `@compute fn main` and every binding used. */
  code: string;
  /** Workgroups along x, y, z. */
  dispatch: [number, number, number];
  /** The name `tf.profile` reports for the dispatch. */
  name: string;
}

/** A scalar uniform, in declaration order of the WGSL struct. */
export interface UniformValue {
  type: "float32" | "int32" | "uint32";
  value: number;
}

// Private in the type declarations, public at run time in 4.22.
interface BackendInternals {
  device: GPUDevice;
  tensorMap: { get(dataId: object): { resource?: unknown } };
  commandEncoder: GPUCommandEncoder | null;
  computePassEncoder: GPUComputePassEncoder | null;
  dispatchCountInPass: number;
  commandQueueOwnedIds: WeakSet<object>;
  activeTimers: { name: string; query: Promise<number> }[] | null;
  supportTimestampQuery: boolean;
  querySet: GPUQuerySet | null;
  querySetCount: number;
  makeTensorInfo(shape: number[], dtype: DataType): TensorInfo;
  uploadToGPU(dataId: object): void;
  tensorToBinding(t: TensorInfo): GPUBindingResource;
  makeUniforms(u: { type: string; data: number[] }[]): GPUBindingResource;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  getQueryTime(): Promise<number>;
}

const REQUIRED: (keyof BackendInternals)[] = [
  "device",
  "tensorMap",
  "makeTensorInfo",
  "uploadToGPU",
  "tensorToBinding",
  "makeUniforms",
  "ensureCommandEncoderReady",
  "endComputePassEncoder",
  "submitQueue",
];

/** Whether `backend` has the internals this module records into (tfjs-webgpu 4.22 does). */
export function multiOutputSupported(backend: unknown): boolean {
  const b = backend as Record<string, unknown> | null;
  return !!b && REQUIRED.every((k) => b[k] !== undefined) && "commandQueueOwnedIds" in b;
}

const pipelines = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

function pipelineFor(device: GPUDevice, program: MultiProgram): GPUComputePipeline {
  let cache = pipelines.get(device);
  if (!cache) pipelines.set(device, cache = new Map());
  let pipeline = cache.get(program.key);
  if (!pipeline) {
    const module = device.createShaderModule({ code: program.code, label: program.key });
    pipeline = device.createComputePipeline({
      layout: "auto",
      compute: { module, entryPoint: "main" },
      label: program.key,
    });
    cache.set(program.key, pipeline);
  }
  return pipeline;
}

/**
 * Run `program` on the webgpu backend: `outputs` new float32 tensors of the
 * given shapes bound at 0…k−1, `inputs` at k…, and the uniforms (if any)
 * last. Returns the outputs, which the caller owns.
 *
 * @throws {Error} When the backend lacks the internals ({@linkcode multiOutputSupported}).
 */
export function runMultiOutput(
  webgpu: WebGPUBackend,
  program: MultiProgram,
  inputs: TensorInfo[],
  outputs: number[][],
  uniforms: UniformValue[] = [],
): TensorInfo[] {
  if (!multiOutputSupported(webgpu)) {
    throw new Error(
      `${program.name}: this tfjs-webgpu build lacks the internals the toolkit's multi-output ` +
        "kernels record into (tfjs 4.22 has them)",
    );
  }
  const backend = webgpu as unknown as BackendInternals;
  const outs = outputs.map((shape) => backend.makeTensorInfo(shape, "float32"));
  for (const t of [...outs, ...inputs]) backend.uploadToGPU(t.dataId);
  const pipeline = pipelineFor(backend.device, program);
  const entries: GPUBindGroupEntry[] = [...outs, ...inputs].map((t, i) => ({
    binding: i,
    resource: backend.tensorToBinding(t),
  }));
  if (uniforms.length) {
    entries.push({
      binding: entries.length,
      resource: backend.makeUniforms(uniforms.map((u) => ({ type: u.type, data: [u.value] }))),
    });
  }
  for (const t of [...outs, ...inputs]) backend.commandQueueOwnedIds.add(t.dataId);
  const bindGroup = backend.device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries,
  });
  const timed = backend.activeTimers != null;
  backend.ensureCommandEncoderReady();
  if (timed && backend.supportTimestampQuery) {
    backend.endComputePassEncoder();
    backend.querySet ??= backend.device.createQuerySet({
      type: "timestamp",
      count: backend.querySetCount,
    });
    backend.computePassEncoder = backend.commandEncoder!.beginComputePass({
      timestampWrites: {
        querySet: backend.querySet,
        beginningOfPassWriteIndex: 0,
        endOfPassWriteIndex: 1,
      },
    });
  } else if (!backend.computePassEncoder) {
    backend.computePassEncoder = backend.commandEncoder!.beginComputePass({});
  }
  const pass = backend.computePassEncoder!;
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(...program.dispatch);
  backend.dispatchCountInPass++;
  const batch = env().get("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE") as number;
  if (timed || batch <= backend.dispatchCountInPass) {
    backend.endComputePassEncoder();
    if (timed) backend.activeTimers!.push({ name: program.name, query: backend.getQueryTime() });
    else backend.submitQueue();
  }
  return outs;
}

/**
 * The WGSL declarations of a program's bindings, in the order
 * {@linkcode runMultiOutput} binds them: `outputs` as writable `f32`
 * arrays, `inputs` as read-only ones, then `uniforms` as one struct `u`
 * (omitted when empty).
 *
 * @example
 * ```ts
 * import { bindings } from "./_webgpu_multi.ts";
 * console.log(bindings(["y"], ["x"], ["n: i32"]).split("\n").length); // 4
 * ```
 */
export function bindings(outputs: string[], inputs: string[], uniforms: string[] = []): string {
  const lines = [
    ...outputs.map((o, i) => `@group(0) @binding(${i}) var<storage, read_write> ${o}: array<f32>;`),
    ...inputs.map((x, i) =>
      `@group(0) @binding(${outputs.length + i}) var<storage, read> ${x}: array<f32>;`
    ),
  ];
  if (uniforms.length) {
    lines.push(
      `struct Uniforms { ${uniforms.join(", ")} }`,
      `@group(0) @binding(${outputs.length + inputs.length}) var<uniform> u: Uniforms;`,
    );
  }
  return lines.join("\n");
}

/**
 * A 1-D launch of `n` invocations in workgroups of `size`, folded into 2-D
 * when it exceeds the per-dimension limit (65535 workgroups); the shader
 * recovers the index as `gid.x + gid.y * (nwg.x * size)` and checks it
 * against `n`.
 */
export function linearDispatch(n: number, size: number): [number, number, number] {
  const groups = Math.max(1, Math.ceil(n / size));
  if (groups <= 65535) return [groups, 1, 1];
  const x = 65535;
  return [x, Math.ceil(groups / x), 1];
}
