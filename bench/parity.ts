/**
 * WebGPU against cpu on the same inputs: the kernels a training step leans
 * on (tfjs's and the toolkit's own WebGPU kernels), and one whole CoSS step
 * of a small ResNet-18 (loss and every gradient). It exists to fail loudly
 * when a GPU driver makes WebGPU silently wrong: a shader that does not
 * validate, a limit that differs from llvmpipe's, a reduction that loses
 * precision. Inputs are generated on the host from fixed seeds, so both
 * backends see the same numbers.
 *
 * The error of a kernel check is `max |webgpu − cpu| / max |cpu|` over all
 * its outputs. The training step is compared per output tensor by relative
 * L2 error, `‖webgpu − cpu‖ / ‖cpu‖`, worst tensor reported: its gradients
 * cross ReLU kinks, where a rounding difference flips a mask element, so
 * they are ill-conditioned (measured on this step: cpu against cpu with the
 * input scaled by 1 + 1e-6 gives 1.2e-4, wasm 3.3e-6, llvmpipe 3.6e-3),
 * while a broken kernel gives errors of order 1. A check passes below its
 * tolerance, with every value finite, without WebGPU validation errors, and
 * without leaked tensors.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { type BackendName, initBackend, webgpuErrorCount } from "../lib/backend.ts";
import { cossLoss } from "../lib/losses/coss.ts";
import { batchNormTraining } from "../lib/models/batch_norm.ts";
import { ProjectionHead } from "../lib/models/head.ts";
import { EagerOps } from "../lib/models/ops.ts";
import { ParamStore } from "../lib/models/params.ts";
import { createModel } from "../lib/models/registry.ts";
import { createOptimizer, type OptimizerConfig } from "../lib/optim/optim.ts";

/** One comparison. */
export interface ParityResult {
  /** What was compared. */
  name: string;
  /**
   * `max |test − reference| / max |reference|` over every output value, or
   * for the training step the worst `‖test − reference‖ / ‖reference‖` of
   * one output tensor.
   */
  error: number;
  /** The largest error that passes. */
  tol: number;
  /** Output values compared. */
  values: number;
  /** Whether the test backend's outputs were all finite. */
  finite: boolean;
  /** Tensors left alive by the check, on either backend. */
  leaked: number;
  /** Passed: error within tolerance, finite, no leak. */
  ok: boolean;
}

/** What {@linkcode runParity} found. */
export interface ParityReport {
  /** The backend under test and the one it is compared with. */
  backend: BackendName;
  reference: BackendName;
  /** The line `initBackend` printed for the backend under test. */
  backendLine: string;
  results: ParityResult[];
  /** WebGPU validation errors raised while the checks ran. */
  webgpuErrors: number;
  /** Every check passed and WebGPU raised no error. */
  ok: boolean;
}

/** Options for {@linkcode runParity}. */
export interface ParityOptions {
  /** The backend under test. @default {"webgpu"} */
  backend?: BackendName;
  /** The backend it is compared with. @default {"cpu"} */
  reference?: BackendName;
  /** Only the checks whose names contain this text. @default {all} */
  filter?: string;
  /** A line per check as it finishes. @default {console.error} */
  log?: (line: string) => void;
}

interface Check {
  name: string;
  tol: number;
  /** How outputs are compared (see the module doc). @default {"max"} */
  metric?: "max" | "l2";
  /** Outputs on the active backend; every tensor it returns is disposed by the caller. */
  run(): tf.Tensor[] | Promise<tf.Tensor[]>;
}

/** Deterministic values in [-1, 1) from a 32-bit LCG, the same on every backend. */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

function input(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(values(shape.reduce((a, b) => a * b, 1), seed), shape);
}

/** A conv's forward, input gradient and filter gradient through tf.grads. */
function convGrads(
  x: number[],
  f: number[],
  strides: number,
  pad: "same" | "valid",
): () => tf.Tensor[] {
  return () => {
    const xs = input(x, 11);
    const fs = input(f, 12);
    try {
      const y = tf.conv2d(xs as tf.Tensor4D, fs as tf.Tensor4D, strides, pad);
      const dy = input(y.shape, 13);
      const [dx, df] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, strides, pad).mul(dy).sum()
      )([xs, fs]);
      dy.dispose();
      return [y, dx, df];
    } finally {
      tf.dispose([xs, fs]);
    }
  };
}

/** The checks, smallest first; sizes cross the WebGPU GEMM's tile edges and AddN's input limit. */
function checks(): Check[] {
  return [
    {
      name: "matMul 67×129 · 129×65",
      tol: 1e-5,
      run: () => tf.tidy(() => [tf.matMul(input([67, 129], 1), input([129, 65], 2))]),
    },
    {
      name: "conv2d 3×3/1 same [4,17,17,8]→24 + both gradients",
      tol: 1e-5,
      run: convGrads([4, 17, 17, 8], [3, 3, 8, 24], 1, "same"),
    },
    {
      name: "conv2d 3×3/2 same [8,16,16,32]→64 + both gradients",
      tol: 1e-5,
      run: convGrads([8, 16, 16, 32], [3, 3, 32, 64], 2, "same"),
    },
    {
      name: "conv2d 1×1/2 valid [8,8,8,64]→128 + both gradients",
      tol: 1e-5,
      run: convGrads([8, 8, 8, 64], [1, 1, 64, 128], 2, "valid"),
    },
    {
      name: "conv2d 3×3/1 same [2,28,28,1]→16 + both gradients (one input channel)",
      tol: 1e-5,
      run: convGrads([2, 28, 28, 1], [3, 3, 1, 16], 1, "same"),
    },
    {
      name: "addN of 13 tensors (beyond 8 storage buffers)",
      tol: 1e-6,
      run: () =>
        tf.tidy(() => [tf.addN(Array.from({ length: 13 }, (_, i) => input([33, 7], 20 + i)))]),
    },
    {
      name: "sum over leading axes [4096, 48] and mean, variance",
      tol: 1e-5,
      run: leadingAxisReductions,
    },
    {
      name: "maxPool 2×2/2 + gradient [4,14,14,16]",
      tol: 1e-6,
      run: maxPoolGrad,
    },
    {
      name: "batch norm (training) + gradients [8,8,8,32]",
      tol: 1e-4,
      run: batchNormGrads,
    },
    {
      name: "batch norm as models run it (fused on webgpu): training + gradients, running " +
        "statistics, then inference [16,8,8,48]",
      tol: 1e-4,
      run: batchNormLayer,
    },
    {
      name: "SGD (momentum, Nesterov, weight decay), 3 steps (fused on webgpu)",
      tol: 1e-5,
      run: () => optimizerSteps("sgd"),
    },
    {
      name: "AdamW (weight decay), 3 steps (fused on webgpu)",
      tol: 1e-5,
      run: () => optimizerSteps("adamw"),
    },
    {
      name: "CoSS loss + gradient [64, 128]",
      tol: 1e-4,
      run: cossLossGrad,
    },
    {
      name: "training step: ResNet-18 (CIFAR stem, width 0.25) + head, batch 8, loss and " +
        "gradients (worst tensor, relative L2)",
      tol: 5e-2,
      metric: "l2",
      run: trainingStep,
    },
  ];
}

/** Sum over the leading axes of [16,16,16,48], and its mean and variance. */
function leadingAxisReductions(): tf.Tensor[] {
  return tf.tidy(() => {
    const x = input([16, 16, 16, 48], 3);
    const { mean, variance } = tf.moments(x, [0, 1, 2]);
    return [tf.sum(x, [0, 1, 2]), mean, variance];
  });
}

/** A 2×2/2 max pool of [4,14,14,16] and its input gradient. */
function maxPoolGrad(): tf.Tensor[] {
  return tf.tidy(() => {
    const x = input([4, 14, 14, 16], 4) as tf.Tensor4D;
    const dy = input([4, 7, 7, 16], 5);
    const dx = tf.grad((a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, 2, 2, "valid").mul(dy).sum())(
      x,
    );
    return [tf.maxPool(x, 2, 2, "valid"), dx];
  });
}

/** The gradients of training-mode batch norm of [8,8,8,32] for its input, gamma and beta. */
function batchNormGrads(): tf.Tensor[] {
  return tf.tidy(() => {
    const x = input([8, 8, 8, 32], 6) as tf.Tensor4D;
    const gamma = input([32], 7).add(1.5);
    const beta = input([32], 8);
    const dy = input([8, 8, 8, 32], 9);
    const f = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
      batchNormTraining(a as tf.Tensor4D, { gamma: g as tf.Tensor1D, beta: b as tf.Tensor1D })
        .mul(dy).sum();
    const grads = tf.grads(f)([x, gamma, beta]);
    return grads;
  });
}

/** The CoSS loss of a [64,128] student against a teacher, and the student's gradient. */
function cossLossGrad(): tf.Tensor[] {
  const init = input([64, 128], 31);
  const student = tf.variable(init, true);
  init.dispose();
  try {
    return tf.tidy(() => {
      const teacher = input([64, 128], 30) as tf.Tensor2D;
      const { value, grads } = tf.variableGrads(
        () => cossLoss(teacher, student as tf.Tensor2D),
        [student],
      );
      return [value, grads[student.name]];
    });
  } finally {
    student.dispose();
  }
}

/** A batch-norm layer through EagerOps: training output and gradients, running stats, inference. */
function batchNormLayer(): tf.Tensor[] {
  const params = new ParamStore(0);
  params.batchNorm("bn", 48);
  tf.tidy(() => {
    params.get("bn.weight").assign(input([48], 50).add(1.5));
    params.get("bn.bias").assign(input([48], 51));
  });
  try {
    return tf.tidy(() => {
      const x = input([16, 8, 8, 48], 52).mul(3).add(1);
      const w = input([16, 8, 8, 48], 53);
      const train = new EagerOps(params, true);
      const y = train.batchNorm(x, "bn");
      const gamma = params.get("bn.weight"), beta = params.get("bn.bias");
      const { value, grads } = tf.variableGrads(
        () => tf.sum(tf.mul(train.batchNorm(x, "bn"), w)) as tf.Scalar,
        [gamma, beta],
      );
      const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(train.batchNorm(t, "bn"), w)))(x);
      const inference = new EagerOps(params, false).batchNorm(x, "bn");
      return [
        y,
        value,
        dx,
        grads[gamma.name],
        grads[beta.name],
        params.get("bn.running_mean").clone(),
        params.get("bn.running_var").clone(),
        inference,
      ];
    });
  } finally {
    params.dispose();
  }
}

/** Three optimizer steps on two variables from fixed gradients: the variables and every slot. */
function optimizerSteps(name: "sgd" | "adamw"): tf.Tensor[] {
  const config: OptimizerConfig = {
    name,
    lr: 0.05,
    momentum: 0.9,
    nesterov: true,
    weightDecay: 0.01,
    betas: [0.9, 0.999],
    eps: 1e-8,
    clipNorm: null,
  };
  const vars = [[33, 17], [64]].map((shape, i) => tf.tidy(() => tf.variable(input(shape, 60 + i))));
  const opt = createOptimizer(config, vars);
  try {
    for (let step = 0; step < 3; step++) {
      tf.tidy(() => {
        const grads = Object.fromEntries(
          vars.map((v, i) => [v.name, input(v.shape, 70 + 10 * step + i)]),
        );
        opt.apply(grads, 0.05 * (step + 1));
      });
    }
    const state = opt.state();
    return [...vars.map((v) => v.clone()), ...Object.values(state)];
  } finally {
    opt.dispose();
    tf.dispose(vars);
  }
}

/** One CoSS step's loss and gradients (nothing applied), from the same seeded weights. */
function trainingStep(): tf.Tensor[] {
  const model = createModel("resnet18", { stem: "cifar", width: 0.25, inChannels: 3 });
  const head = new ProjectionHead(model.featureDim, 64, 128, 1);
  try {
    return tf.tidy(() => {
      const x = input([8, 32, 32, 3], 40) as tf.Tensor4D;
      const teacher = input([8, 64], 41) as tf.Tensor2D;
      const trainable = [...model.trainableVariables(), ...head.trainableVariables()];
      const { value, grads } = tf.variableGrads(
        () => cossLoss(teacher, head.apply(model.embed(x, { training: true }))),
        trainable,
      );
      return [value, ...trainable.map((v) => grads[v.name])];
    });
  } finally {
    head.dispose();
    model.dispose();
  }
}

/** The check's outputs on the active backend, read back, and the tensors it left alive. */
async function runOn(check: Check): Promise<{ data: Float32Array[]; leaked: number }> {
  const outs = await check.run();
  try {
    const data = await Promise.all(outs.map((t) => t.data() as Promise<Float32Array>));
    return { data, leaked: 0 };
  } finally {
    tf.dispose(outs);
  }
}

/** Run a check and count what it leaked. */
async function measured(check: Check): Promise<{ data: Float32Array[]; leaked: number }> {
  const before = tf.memory().numTensors;
  const out = await runOn(check);
  out.leaked = tf.memory().numTensors - before;
  return out;
}

function compare(
  ref: Float32Array[],
  test: Float32Array[],
  metric: "max" | "l2",
): { error: number; n: number; finite: boolean } {
  let scale = 0, diff = 0, worstL2 = 0, n = 0, finite = ref.length === test.length;
  for (let i = 0; i < ref.length; i++) {
    const a = ref[i], b = test[i];
    if (!b || a.length !== b.length) return { error: Infinity, n, finite: false };
    let sq = 0, sqDiff = 0;
    for (let j = 0; j < a.length; j++) {
      if (!Number.isFinite(b[j])) finite = false;
      scale = Math.max(scale, Math.abs(a[j]));
      diff = Math.max(diff, Math.abs(a[j] - b[j]));
      sq += a[j] * a[j];
      sqDiff += (a[j] - b[j]) ** 2;
      n++;
    }
    worstL2 = Math.max(worstL2, Math.sqrt(sqDiff / Math.max(sq, 1e-30)));
  }
  const error = metric === "l2" ? worstL2 : diff / Math.max(scale, 1e-30);
  return { error: finite ? error : Infinity, n, finite };
}

/**
 * Run every check on `reference`, then on `backend`, and compare.
 *
 * @example
 * ```ts ignore
 * const report = await runParity({ backend: "webgpu" });
 * if (!report.ok) Deno.exit(1);
 * ```
 */
export async function runParity(options: ParityOptions = {}): Promise<ParityReport> {
  const backend = options.backend ?? "webgpu";
  const reference = options.reference ?? "cpu";
  const log = options.log ?? ((line: string) => console.error(line));
  const list = checks().filter((c) => !options.filter || c.name.includes(options.filter));
  const errorsBefore = webgpuErrorCount();
  const refData: { data: Float32Array[]; leaked: number }[] = [];
  await initBackend({ backend: reference, log: false });
  for (const c of list) refData.push(await measured(c));
  const info = await initBackend({ backend, log: false });
  const results: ParityResult[] = [];
  for (const [i, c] of list.entries()) {
    let result: ParityResult;
    try {
      const test = await measured(c);
      const leaked = test.leaked + refData[i].leaked;
      const { error, n, finite } = compare(refData[i].data, test.data, c.metric ?? "max");
      result = {
        name: c.name,
        error,
        tol: c.tol,
        values: n,
        finite,
        leaked,
        ok: finite && error <= c.tol && leaked === 0,
      };
    } catch (e) {
      log(`parity: ${c.name} failed on ${backend}: ${e instanceof Error ? e.message : e}`);
      result = {
        name: c.name,
        error: Infinity,
        tol: c.tol,
        values: 0,
        finite: false,
        leaked: 0,
        ok: false,
      };
    }
    results.push(result);
    log(
      `parity ${result.ok ? "ok  " : "FAIL"} ${c.name}: error ${result.error.toExponential(2)} ` +
        `(tolerance ${c.tol.toExponential(0)}), ${result.values} values` +
        (result.finite ? "" : ", NON-FINITE") + (result.leaked ? `, leaked ${result.leaked}` : ""),
    );
  }
  const webgpuErrors = webgpuErrorCount() - errorsBefore;
  return {
    backend,
    reference,
    backendLine: info.line,
    results,
    webgpuErrors,
    ok: results.every((r) => r.ok) && webgpuErrors === 0,
  };
}

/**
 * The report as a Markdown table.
 *
 * @example
 * ```ts
 * import { formatParity } from "./parity.ts";
 * const md = formatParity({
 *   backend: "webgpu", reference: "cpu", backendLine: "", results: [], webgpuErrors: 0, ok: true,
 * });
 * console.log(md.split("\n")[0]); // "**webgpu against cpu**: all 0 checks pass, 0 WebGPU errors"
 * ```
 */
export function formatParity(r: ParityReport): string {
  const failed = r.results.filter((x) => !x.ok).length;
  const lines = [
    `**${r.backend} against ${r.reference}**: ` +
    (failed
      ? `${failed} of ${r.results.length} checks FAIL`
      : `all ${r.results.length} checks pass`) +
    `, ${r.webgpuErrors} WebGPU errors`,
    "",
    "| check | relative error | tolerance | values | finite | leaked | |",
    "|---|---:|---:|---:|---|---:|---|",
  ];
  for (const x of r.results) {
    lines.push(
      `| ${x.name} | ${x.error.toExponential(2)} | ${x.tol.toExponential(0)} | ${x.values} | ` +
        `${x.finite ? "yes" : "NO"} | ${x.leaked} | ${x.ok ? "ok" : "FAIL"} |`,
    );
  }
  return lines.join("\n");
}
