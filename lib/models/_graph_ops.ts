/**
 * Symbolic {@linkcode Ops}: running a model's forward function with these
 * emits a TensorFlow GraphDef in the JSON form tfjs-converter reads, so the
 * export loads with stock `tf.loadGraphModel` in Deno, Node or a browser.
 * Batch norm is folded into a per-channel scale and shift (inference mode).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { ConvOptions, LinearOptions, Ops } from "./ops.ts";
import type { ParamStore } from "./params.ts";

/** One GraphDef node as tfjs-converter reads it. */
export interface GraphNode {
  name: string;
  op: string;
  input: string[];
  attr: Record<string, unknown>;
}

interface ConstEntry {
  name: string;
  tensor: tf.Tensor;
  owned: boolean;
}

const ints = (values: number[]) => ({ list: { i: values.map(String) } });
const str = (s: string) => ({ s: btoa(s) });
const FLOAT = { type: "DT_FLOAT" };
// Ops whose output has the shape of their first input (broadcasting against smaller operands).
const SHAPE_PRESERVING = new Set([
  "Relu",
  "Relu6",
  "Sigmoid",
  "Erf",
  "Square",
  "Rsqrt",
  "Softmax",
  "Mul",
  "AddV2",
  "Sub",
  "BiasAdd",
  "Identity",
]);
const INT32 = { type: "DT_INT32" };

/** Emits GraphDef nodes; node names stand for tensors. */
export class GraphOps implements Ops<string> {
  readonly nodes: GraphNode[] = [];
  readonly consts: ConstEntry[] = [];
  readonly #constNames = new Set<string>();
  // Static shapes (batch -1) where known, for linear layers on token sequences.
  readonly #shapes = new Map<string, number[]>();
  #counter = 0;

  constructor(readonly params: ParamStore) {}

  scope(fn: () => string): string {
    return fn();
  }

  #fresh(op: string): string {
    return `${op}_${this.#counter++}`;
  }

  #node(op: string, input: string[], attr: Record<string, unknown> = {}, name?: string): string {
    const n = name ?? this.#fresh(op);
    this.nodes.push({ name: n, op, input, attr: { T: FLOAT, ...attr } });
    const shape = this.#shapes.get(input[0]);
    if (shape && SHAPE_PRESERVING.has(op)) this.#shapes.set(n, shape);
    return n;
  }

  #const(name: string, tensor: tf.Tensor, owned: boolean): string {
    if (this.#constNames.has(name)) {
      if (owned) tensor.dispose();
      return name;
    }
    this.#constNames.add(name);
    this.consts.push({ name, tensor, owned });
    const dtype = tensor.dtype === "int32" ? "DT_INT32" : "DT_FLOAT";
    this.nodes.push({
      name,
      op: "Const",
      input: [],
      attr: {
        value: {
          tensor: {
            dtype,
            tensorShape: { dim: tensor.shape.map((d) => ({ size: String(d) })) },
          },
        },
        dtype: { type: dtype },
      },
    });
    return name;
  }

  #param(name: string): string {
    return this.#const(name, this.params.get(name), false);
  }

  #ints(values: number[], shape = [values.length]): string {
    return this.#const(this.#fresh("const_int"), tf.tensor(values, shape, "int32"), true);
  }

  #float(value: number): string {
    return this.#const(this.#fresh("const"), tf.scalar(value), true);
  }

  /** The graph's input: NHWC float images, batch (and optionally size) dynamic. */
  placeholder(name: string, shape: number[]): string {
    this.nodes.push({
      name,
      op: "Placeholder",
      input: [],
      attr: {
        dtype: FLOAT,
        shape: { shape: { dim: shape.map((d) => ({ size: String(d) })) } },
      },
    });
    return name;
  }

  /** Name the output with an Identity node. */
  output(x: string, name: string): string {
    return this.#node("Identity", [x], {}, name);
  }

  #conv(op: string, x: string, w: string, o: ConvOptions): string {
    const pad = o.pad ?? 0;
    const s = o.stride ?? 1;
    const attr: Record<string, unknown> = {
      strides: ints([1, s, s, 1]),
      dilations: ints([1, 1, 1, 1]),
      data_format: str("NHWC"),
      padding: str(pad ? "EXPLICIT" : "VALID"),
    };
    if (pad) attr.explicit_paddings = ints([0, 0, pad, pad, pad, pad, 0, 0]);
    const y = this.#node(op, [x, this.#param(w)], attr);
    return o.bias
      ? this.#node("BiasAdd", [y, this.#param(o.bias)], { data_format: str("NHWC") })
      : y;
  }

  conv2d(x: string, weight: string, o: ConvOptions = {}): string {
    return this.#conv("Conv2D", x, weight, o);
  }

  depthwiseConv2d(x: string, weight: string, o: ConvOptions = {}): string {
    return this.#conv("DepthwiseConv2dNative", x, weight, o);
  }

  batchNorm(x: string, prefix: string, eps = 1e-5): string {
    const p = (n: string) => this.params.get(`${prefix}.${n}`);
    const [scale, shift] = tf.tidy(() => {
      const s = tf.mul(p("weight"), tf.rsqrt(tf.add(p("running_var"), eps)));
      return [s, tf.sub(p("bias"), tf.mul(p("running_mean"), s))];
    });
    const scaled = this.#node("Mul", [x, this.#const(`${prefix}.folded_scale`, scale, true)]);
    return this.#node("AddV2", [scaled, this.#const(`${prefix}.folded_shift`, shift, true)]);
  }

  layerNorm(x: string, prefix: string, eps: number): string {
    const axis = this.#ints([-1], [1]);
    const keep = { keep_dims: { b: true }, Tidx: INT32 };
    const mean = this.#node("Mean", [x, axis], keep);
    const centred = this.#node("Sub", [x, mean]);
    const variance = this.#node("Mean", [this.#node("Square", [centred]), axis], keep);
    const inv = this.#node("Rsqrt", [this.#node("AddV2", [variance, this.#float(eps)])]);
    const normed = this.#node("Mul", [centred, inv]);
    const scaled = this.#node("Mul", [normed, this.#param(`${prefix}.weight`)]);
    return this.#node("AddV2", [scaled, this.#param(`${prefix}.bias`)]);
  }

  linear(x: string, prefix: string, o: LinearOptions = {}): string {
    const wFull = this.params.get(`${prefix}.weight`);
    const [inDim, outAll] = wFull.shape as [number, number];
    let w: string;
    let b: string | undefined;
    const hasBias = o.bias !== false;
    if (o.columns) {
      const [start, size] = o.columns;
      const tag = `${prefix}.cols_${start}_${size}`;
      w = this.#const(`${tag}.weight`, tf.slice(wFull, [0, start], [-1, size]), true);
      if (hasBias) {
        const bias = this.params.get(`${prefix}.bias`);
        b = this.#const(`${tag}.bias`, tf.slice(bias, [start], [size]), true);
      }
    } else {
      w = this.#param(`${prefix}.weight`);
      if (hasBias) b = this.#param(`${prefix}.bias`);
    }
    const outDim = o.columns ? o.columns[1] : outAll;
    const rank = this.rankOf(x);
    const flat = rank === 2 ? x : this.reshape(x, [-1, inDim]);
    let y = this.#node("MatMul", [flat, w], {
      transpose_a: { b: false },
      transpose_b: { b: false },
    });
    if (b) y = this.#node("BiasAdd", [y, b], { data_format: str("NHWC") });
    if (rank === 2) return y;
    const tokens = this.#shapes.get(x)![1];
    return this.reshape(y, [-1, tokens, outDim]);
  }

  relu(x: string): string {
    return this.#node("Relu", [x]);
  }

  relu6(x: string): string {
    return this.#node("Relu6", [x]);
  }

  silu(x: string): string {
    return this.#node("Mul", [x, this.#node("Sigmoid", [x])]);
  }

  gelu(x: string): string {
    const erf = this.#node("Erf", [this.#node("Mul", [x, this.#float(Math.SQRT1_2)])]);
    const onePlus = this.#node("AddV2", [erf, this.#float(1)]);
    return this.#node("Mul", [this.#node("Mul", [x, this.#float(0.5)]), onePlus]);
  }

  sigmoid(x: string): string {
    return this.#node("Sigmoid", [x]);
  }

  add(a: string, b: string): string {
    return this.#node("AddV2", [a, b]);
  }

  mul(a: string, b: string): string {
    return this.#node("Mul", [a, b]);
  }

  scale(x: string, s: number): string {
    return this.#node("Mul", [x, this.#float(s)]);
  }

  maxPool(x: string, size: number, stride: number, pad: number): string {
    const input = pad
      ? this.#node("Pad", [x, this.#ints([0, 0, pad, pad, pad, pad, 0, 0], [4, 2])], {
        Tpaddings: INT32,
      })
      : x;
    return this.#node("MaxPool", [input], {
      ksize: ints([1, size, size, 1]),
      strides: ints([1, stride, stride, 1]),
      padding: str("VALID"),
      data_format: str("NHWC"),
    });
  }

  meanSpatial(x: string, keepDims: boolean): string {
    return this.#node("Mean", [x, this.#ints([1, 2])], { keep_dims: { b: keepDims }, Tidx: INT32 });
  }

  /** Rank of a node produced by reshape; 2 otherwise is not assumed: callers reshape first. */
  rankOf(x: string): number {
    return this.#shapes.get(x)?.length ?? 2;
  }

  reshape(x: string, shape: number[]): string {
    const y = this.#node("Reshape", [x, this.#ints(shape)], { Tshape: INT32 });
    this.#shapes.set(y, shape);
    return y;
  }

  /** Record the static shape (batch -1) of a node the caller knows. */
  declareShape(x: string, shape: number[]): string {
    this.#shapes.set(x, shape);
    return x;
  }

  transpose(x: string, perm: number[]): string {
    const y = this.#node("Transpose", [x, this.#ints(perm)], { Tperm: INT32 });
    const shape = this.#shapes.get(x);
    if (shape) this.#shapes.set(y, perm.map((p) => shape[p]));
    return y;
  }

  softmax(x: string): string {
    const y = this.#node("Softmax", [x]);
    return this.#keepShape(x, y);
  }

  #keepShape(from: string, to: string): string {
    const shape = this.#shapes.get(from);
    if (shape) this.#shapes.set(to, shape);
    return to;
  }

  batchMatMul(a: string, b: string, transposeB: boolean): string {
    const y = this.#node("BatchMatMulV2", [a, b], {
      adj_x: { b: false },
      adj_y: { b: transposeB },
    });
    const sa = this.#shapes.get(a), sb = this.#shapes.get(b);
    if (sa && sb) {
      const cols = transposeB ? sb[sb.length - 2] : sb[sb.length - 1];
      this.#shapes.set(y, [...sa.slice(0, -1), cols]);
    }
    return y;
  }

  prependToken(x: string, name: string): string {
    // A [B,1,D] slice times zero plus the token: the token broadcast to a dynamic batch.
    const first = this.#node("Slice", [x, this.#ints([0, 0, 0]), this.#ints([-1, 1, -1])], {
      Index: INT32,
    });
    const zero = this.#node("Mul", [first, this.#float(0)]);
    const token = this.#node("AddV2", [zero, this.#param(name)]);
    const y = this.#node("ConcatV2", [token, x, this.#ints([1], [])], {
      N: { i: "2" },
      Tidx: INT32,
    });
    const shape = this.#shapes.get(x);
    if (shape) this.#shapes.set(y, [shape[0], shape[1] + 1, shape[2]]);
    return y;
  }

  addParam(x: string, name: string): string {
    return this.#keepShape(x, this.#node("AddV2", [x, this.#param(name)]));
  }

  firstToken(x: string): string {
    const shape = this.#shapes.get(x)!;
    const first = this.#node("Slice", [x, this.#ints([0, 0, 0]), this.#ints([-1, 1, -1])], {
      Index: INT32,
    });
    return this.reshape(first, [-1, shape[2]]);
  }

  /** Free the tensors this builder created (folded BN, slices, int constants). */
  dispose(): void {
    for (const c of this.consts) if (c.owned) c.tensor.dispose();
  }
}
