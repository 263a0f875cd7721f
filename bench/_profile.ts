/**
 * Where one iteration's time goes: `tf.profile` around a step, summed per
 * kernel name. The toolkit's own kernels (`Conv2DBackpropFilter` on wasm,
 * ...) call the backend's kernels directly, so their inner work is counted
 * under their own name.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { ProfileReport } from "./report.ts";
import type { TorchCaseResult } from "./_python.ts";

/** Profile one call of `step` on the active backend. */
export async function profileStep(
  caseName: string,
  backend: string,
  step: () => Promise<void>,
): Promise<ProfileReport> {
  const t0 = performance.now();
  const info = await tf.profile(async () => {
    await step();
    return [];
  });
  const wallMs = performance.now() - t0;
  const byName = new Map<string, { ms: number; count: number }>();
  for (const k of info.kernels) {
    const ms = typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0;
    const e = byName.get(k.name) ?? { ms: 0, count: 0 };
    e.ms += ms;
    e.count++;
    byName.set(k.name, e);
  }
  return summarizeKernels(
    caseName,
    backend,
    [...byName].map(([name, e]) => ({ name, ...e })),
    wallMs,
  );
}

/** Sort kernels by time and total them. */
export function summarizeKernels(
  caseName: string,
  backend: string,
  kernels: { name: string; ms: number; count: number }[],
  wallMs: number | null,
  totalMs?: number,
): ProfileReport {
  const sorted = [...kernels].sort((a, b) => b.ms - a.ms);
  const total = totalMs ?? sorted.reduce((s, k) => s + k.ms, 0);
  return { case: caseName, backend, totalMs: total, wallMs, kernels: sorted };
}

/** The PyTorch profile that `bench.py --profile` returned, in the same shape. */
export function torchProfile(caseName: string, t: TorchCaseResult): ProfileReport | undefined {
  if (!t.profile) return undefined;
  return summarizeKernels(caseName, "pytorch", t.profile, null, t.profileTotalMs);
}
