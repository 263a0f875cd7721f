/**
 * Symbolic {@linkcode Ops} that emit an ONNX graph (opset 17) from the same
 * forward function the eager model and the tfjs export use.
 *
 * The forward is written for NHWC; ONNX convolutions are NCHW. Rank-4
 * feature maps are therefore kept **physically NCHW** while the forward
 * reasons about them as NHWC: every op on such a value maps its axes (a
 * per-channel parameter is shaped `[C, 1, 1]`, the spatial mean reduces axes
 * 2 and 3), and a value leaves that layout through one `Transpose` only when
 * an op needs NHWC order (the ViT's patch tokens). The graph's input is NCHW,
 * as PyTorch users expect. Batch norm uses its running statistics.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { ConvOptions, LinearOptions, Ops } from "./ops.ts";
import type { ParamStore } from "./params.ts";

/** One ONNX node before encoding. */
export interface OnnxNode {
  op: string;
  inputs: string[];
  output: string;
  /** Integers, integer lists, strings, and `{ f }` for a float. */
  attrs: Record<string, number | number[] | string | { f: number }>;
}

/** One initializer before encoding: a float32 tensor from tfjs, or int64 values. */
export interface OnnxInitializer {
  name: string;
  dims: number[];
  float?: tf.Tensor;
  int64?: number[];
  owned: boolean;
}

const NHWC_TO_NCHW = [0, 3, 1, 2];
const NCHW_TO_NHWC = [0, 2, 3, 1];

/** Emits ONNX nodes; value names stand for tensors. */
export class OnnxOps implements Ops<string> {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxInitializer[] = [];
  readonly #names = new Set<string>();
  // Values stored NCHW whose forward-level meaning is NHWC.
  readonly #nchw = new Set<string>();
  // Static shapes (batch -1) where known: ranks for transposes, token counts.
  readonly #shapes = new Map<string, number[]>();
  #counter = 0;

  constructor(readonly params: ParamStore) {}

  scope(fn: () => string): string {
    return fn();
  }

  /** Declare the graph input: NCHW images that the forward sees as NHWC. */
  input(name: string): string {
    this.#nchw.add(name);
    return name;
  }

  /** Name the output with an Identity node. */
  output(x: string, name: string): string {
    return this.#node("Identity", [this.#plain(x)], {}, name);
  }

  #node(op: string, inputs: string[], attrs: OnnxNode["attrs"] = {}, name?: string): string {
    const output = name ?? `${op}_${this.#counter++}`;
    this.nodes.push({ op, inputs, output, attrs });
    return output;
  }

  #init(name: string, entry: Omit<OnnxInitializer, "name">): string {
    if (this.#names.has(name)) {
      if (entry.owned) entry.float?.dispose();
      return name;
    }
    this.#names.add(name);
    this.initializers.push({ name, ...entry });
    return name;
  }

  #float(name: string, tensor: tf.Tensor, owned = true): string {
    return this.#init(name, { dims: tensor.shape, float: tensor, owned });
  }

  #param(name: string): string {
    return this.#float(name, this.params.get(name), false);
  }

  #ints(values: number[], dims = [values.length]): string {
    return this.#init(`int64_${this.#counter++}`, { dims, int64: values, owned: true });
  }

  #scalar(value: number): string {
    return this.#float(`const_${this.#counter++}`, tf.scalar(value));
  }

  /** A per-channel vector `[C]`, shaped `[C, 1, 1]` when `x` is stored NCHW. */
  #channelwise(x: string, name: string, vector: tf.Tensor, owned: boolean): string {
    if (!this.#nchw.has(x)) return this.#float(name, vector, owned);
    const shaped = tf.reshape(vector, [-1, 1, 1]);
    if (owned) vector.dispose();
    return this.#float(`${name}.c11`, shaped);
  }

  /** `x` in NCHW storage (a rank-4 NHWC value is transposed). */
  #spatial(x: string): string {
    if (this.#nchw.has(x)) return x;
    const y = this.#node("Transpose", [x], { perm: NHWC_TO_NCHW });
    this.#nchw.add(y);
    return y;
  }

  /** `x` in the order the forward means: NCHW storage goes back to NHWC. */
  #plain(x: string): string {
    if (!this.#nchw.has(x)) return x;
    const y = this.#node("Transpose", [x], { perm: NCHW_TO_NHWC });
    const s = this.#shapes.get(x);
    if (s) this.#shapes.set(y, s);
    return y;
  }

  #like(from: string, to: string): string {
    if (this.#nchw.has(from)) this.#nchw.add(to);
    const s = this.#shapes.get(from);
    if (s) this.#shapes.set(to, s);
    return to;
  }

  #conv(x: string, weight: string, o: ConvOptions, depthwise: boolean): string {
    const w = this.params.get(weight);
    const [kh, kw, cin] = w.shape;
    // tfjs [kh, kw, in, out] (depthwise [kh, kw, C, 1]) -> ONNX [out, in/group, kh, kw].
    const perm = depthwise ? [2, 3, 0, 1] : [3, 2, 0, 1];
    const wName = this.#float(`${weight}.oihw`, tf.transpose(w, perm));
    const pad = o.pad ?? 0;
    const s = o.stride ?? 1;
    const inputs = [this.#spatial(x), wName];
    if (o.bias) inputs.push(this.#param(o.bias));
    const y = this.#node("Conv", inputs, {
      kernel_shape: [kh, kw],
      strides: [s, s],
      pads: [pad, pad, pad, pad],
      dilations: [1, 1],
      group: depthwise ? cin : 1,
    });
    this.#nchw.add(y);
    return y;
  }

  conv2d(x: string, weight: string, o: ConvOptions = {}): string {
    return this.#conv(x, weight, o, false);
  }

  depthwiseConv2d(x: string, weight: string, o: ConvOptions = {}): string {
    return this.#conv(x, weight, o, true);
  }

  batchNorm(x: string, prefix: string, eps = 1e-5): string {
    if (this.#nchw.has(x)) {
      const names = ["weight", "bias", "running_mean", "running_var"];
      const inputs = [x, ...names.map((n) => this.#param(`${prefix}.${n}`))];
      return this.#like(x, this.#node("BatchNormalization", inputs, { epsilon: { f: eps } }));
    }
    const p = (n: string) => this.params.get(`${prefix}.${n}`);
    const [scale, shift] = tf.tidy(() => {
      const s = tf.mul(p("weight"), tf.rsqrt(tf.add(p("running_var"), eps)));
      return [s, tf.sub(p("bias"), tf.mul(p("running_mean"), s))];
    });
    const scaled = this.#node("Mul", [x, this.#float(`${prefix}.folded_scale`, scale)]);
    return this.#like(x, this.#node("Add", [scaled, this.#float(`${prefix}.folded_shift`, shift)]));
  }

  layerNorm(x: string, prefix: string, eps: number): string {
    const v = this.#plain(x);
    const inputs = [v, this.#param(`${prefix}.weight`), this.#param(`${prefix}.bias`)];
    return this.#like(
      v,
      this.#node("LayerNormalization", inputs, { axis: -1, epsilon: { f: eps } }),
    );
  }

  linear(x: string, prefix: string, o: LinearOptions = {}): string {
    const v = this.#plain(x);
    let w: string;
    let b: string | undefined;
    const hasBias = o.bias !== false;
    if (o.columns) {
      const [start, size] = o.columns;
      const tag = `${prefix}.cols_${start}_${size}`;
      w = this.#float(
        `${tag}.weight`,
        tf.slice(this.params.get(`${prefix}.weight`), [0, start], [-1, size]),
      );
      if (hasBias) {
        b = this.#float(
          `${tag}.bias`,
          tf.slice(this.params.get(`${prefix}.bias`), [start], [size]),
        );
      }
    } else {
      w = this.#param(`${prefix}.weight`);
      if (hasBias) b = this.#param(`${prefix}.bias`);
    }
    // MatMul broadcasts over leading axes, so token sequences need no reshape.
    let y = this.#node("MatMul", [v, w]);
    if (b) y = this.#node("Add", [y, b]);
    const s = this.#shapes.get(v);
    if (s) {
      const out = o.columns ? o.columns[1] : this.params.get(`${prefix}.weight`).shape[1]!;
      this.#shapes.set(y, [...s.slice(0, -1), out]);
    }
    return y;
  }

  relu(x: string): string {
    return this.#like(x, this.#node("Relu", [x]));
  }

  relu6(x: string): string {
    return this.#like(x, this.#node("Clip", [x, this.#scalar(0), this.#scalar(6)]));
  }

  silu(x: string): string {
    return this.#like(x, this.#node("Mul", [x, this.#node("Sigmoid", [x])]));
  }

  gelu(x: string): string {
    const erf = this.#node("Erf", [this.#node("Mul", [x, this.#scalar(Math.SQRT1_2)])]);
    const onePlus = this.#node("Add", [erf, this.#scalar(1)]);
    const half = this.#node("Mul", [x, this.#scalar(0.5)]);
    return this.#like(x, this.#node("Mul", [half, onePlus]));
  }

  sigmoid(x: string): string {
    return this.#like(x, this.#node("Sigmoid", [x]));
  }

  #binary(op: string, a: string, b: string): string {
    // Both operands in the same storage order: NCHW wins when either is a feature map.
    if (this.#nchw.has(a) !== this.#nchw.has(b)) {
      const rank = (v: string) => this.#shapes.get(v)?.length;
      if (this.#nchw.has(a) && rank(b) === 4) b = this.#spatial(b);
      else if (this.#nchw.has(b) && rank(a) === 4) a = this.#spatial(a);
      else [a, b] = [this.#plain(a), this.#plain(b)];
    }
    return this.#like(this.#shapes.has(a) ? a : b, this.#node(op, [a, b]));
  }

  add(a: string, b: string): string {
    return this.#binary("Add", a, b);
  }

  mul(a: string, b: string): string {
    return this.#binary("Mul", a, b);
  }

  scale(x: string, s: number): string {
    return this.#like(x, this.#node("Mul", [x, this.#scalar(s)]));
  }

  maxPool(x: string, size: number, stride: number, pad: number): string {
    // Zero padding then a valid pool: the eager op's semantics exactly (see Ops.maxPool).
    let v = this.#spatial(x);
    if (pad) {
      v = this.#node("Pad", [v, this.#ints([0, 0, pad, pad, 0, 0, pad, pad])], {
        mode: "constant",
      });
    }
    const y = this.#node("MaxPool", [v], { kernel_shape: [size, size], strides: [stride, stride] });
    this.#nchw.add(y);
    return y;
  }

  meanSpatial(x: string, keepDims: boolean): string {
    const v = this.#spatial(x);
    const y = this.#node("ReduceMean", [v], { axes: [2, 3], keepdims: keepDims ? 1 : 0 });
    if (keepDims) this.#nchw.add(y);
    return y;
  }

  reshape(x: string, shape: number[]): string {
    const y = this.#node("Reshape", [this.#plain(x), this.#ints(shape)]);
    this.#shapes.set(y, shape);
    return y;
  }

  transpose(x: string, perm: number[]): string {
    const v = this.#plain(x);
    const y = this.#node("Transpose", [v], { perm });
    const s = this.#shapes.get(v);
    if (s) this.#shapes.set(y, perm.map((p) => s[p]));
    return y;
  }

  softmax(x: string): string {
    const v = this.#plain(x);
    return this.#like(v, this.#node("Softmax", [v], { axis: -1 }));
  }

  batchMatMul(a: string, b: string, transposeB: boolean): string {
    const [va, vb] = [this.#plain(a), this.#plain(b)];
    const sb = this.#shapes.get(vb);
    let right = vb;
    if (transposeB) {
      if (!sb) throw new Error(`OnnxOps.batchMatMul: the rank of "${b}" is not known`);
      const perm = sb.map((_, i) => i);
      [perm[perm.length - 2], perm[perm.length - 1]] = [perm.length - 1, perm.length - 2];
      right = this.transpose(vb, perm);
    }
    const y = this.#node("MatMul", [va, right]);
    const sa = this.#shapes.get(va), sr = this.#shapes.get(right);
    if (sa && sr) this.#shapes.set(y, [...sa.slice(0, -1), sr[sr.length - 1]]);
    return y;
  }

  prependToken(x: string, name: string): string {
    const v = this.#plain(x);
    const token = this.params.get(name);
    const dim = token.shape[2]!;
    // The [1,1,D] token expanded to [batch,1,D], the batch read from x's shape.
    const batch = this.#node("Slice", [
      this.#node("Shape", [v]),
      this.#ints([0]),
      this.#ints([1]),
    ]);
    const target = this.#node("Concat", [batch, this.#ints([1, dim])], { axis: 0 });
    const tokens = this.#node("Expand", [this.#param(name), target]);
    const y = this.#node("Concat", [tokens, v], { axis: 1 });
    const s = this.#shapes.get(v);
    if (s) this.#shapes.set(y, [s[0], s[1] + 1, s[2]]);
    return y;
  }

  addParam(x: string, name: string): string {
    const v = this.#plain(x);
    return this.#like(v, this.#node("Add", [v, this.#param(name)]));
  }

  firstToken(x: string): string {
    const v = this.#plain(x);
    const index = this.#init(`int64_${this.#counter++}`, { dims: [], int64: [0], owned: true });
    const y = this.#node("Gather", [v, index], { axis: 1 });
    const s = this.#shapes.get(v);
    if (s) this.#shapes.set(y, [s[0], s[2]]);
    return y;
  }

  /** Free the tensors this builder created (transposed weights, slices, constants). */
  dispose(): void {
    for (const i of this.initializers) if (i.owned) i.float?.dispose();
  }
}
