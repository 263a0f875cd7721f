/**
 * The finiteness check of an ONNX model's weights at load, as
 * `checkFiniteWeights` does for safetensors and tfjs files: a float tensor
 * holding NaN or Inf is refused before onnxruntime runs on it, naming the
 * file and the tensor. Private.
 *
 * Checked, in the main graph and in every subgraph (`If`, `Loop`, `Scan`
 * bodies): the initializers, the values of sparse initializers and the
 * tensors of `Constant` nodes, for float32, float64, float16 and bfloat16,
 * whether stored as `raw_data` or in the typed fields (`float_data`,
 * `double_data`, `int32_data` for the 16-bit types).
 *
 * Not checked: tensors stored as external data (`data_location: EXTERNAL`:
 * the bytes sit in another file, which onnxruntime opens itself), the
 * float8 types (the onnx.proto of npm `onnx-proto` 8 predates them), and
 * `Constant` nodes' scalar `value_float(s)` attributes. A model with one of
 * those passes this check as it is.
 */
import type { onnx } from "onnx-proto";
import { NonFiniteWeightsError } from "./finite_weights.ts";

/** ONNX `TensorProto.DataType` codes of the float types checked. */
const FLOAT = 1;
const FLOAT16 = 10;
const DOUBLE = 11;
const BFLOAT16 = 16;
/** `TensorProto.DataLocation.EXTERNAL`. */
const EXTERNAL = 1;

/** Exponent and mantissa masks of the 32- and 16-bit float types, read as unsigned ints. */
const BITS: Record<number, { exponent: number; mantissa: number }> = {
  [FLOAT]: { exponent: 0x7f800000, mantissa: 0x007fffff },
  [FLOAT16]: { exponent: 0x7c00, mantissa: 0x03ff },
  [BFLOAT16]: { exponent: 0x7f80, mantissa: 0x007f },
};

/** NaN and Inf seen so far in one tensor. */
class Seen {
  nan = false;
  inf = false;

  /** A float64 value (float_data, double_data, a decoded float64). */
  value(v: number): void {
    if (v !== v) this.nan = true;
    else if (v === Infinity || v === -Infinity) this.inf = true;
  }

  /** The bits of a 32- or 16-bit float of `dataType`. */
  bits(w: number, dataType: number): void {
    const { exponent, mantissa } = BITS[dataType];
    if ((w & exponent) !== exponent) return;
    if (w & mantissa) this.nan = true;
    else this.inf = true;
  }

  /** `NaN`, `Inf`, `NaN and Inf`, or `""`. */
  get kind(): string {
    return this.nan && this.inf ? "NaN and Inf" : this.nan ? "NaN" : this.inf ? "Inf" : "";
  }
}

/** What tensor `t` holds that is not finite, or `""` (also for types and storage not checked). */
function tensorKind(t: onnx.ITensorProto): string {
  const type = t.dataType ?? 0;
  if (![FLOAT, FLOAT16, DOUBLE, BFLOAT16].includes(type) || t.dataLocation === EXTERNAL) return "";
  const seen = new Seen();
  const raw = t.rawData;
  if (raw?.length) {
    // raw_data is little-endian and need not be aligned in the file: read it through a DataView.
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    if (type === DOUBLE) {
      for (let i = 0; i + 8 <= raw.length; i += 8) seen.value(view.getFloat64(i, true));
    } else if (type === FLOAT) {
      for (let i = 0; i + 4 <= raw.length; i += 4) seen.bits(view.getUint32(i, true), type);
    } else {
      for (let i = 0; i + 2 <= raw.length; i += 2) seen.bits(view.getUint16(i, true), type);
    }
  }
  for (const v of (type === FLOAT ? t.floatData : type === DOUBLE ? t.doubleData : null) ?? []) {
    seen.value(v);
  }
  // The 16-bit types keep their bits, one element per int32_data entry, when not raw.
  if (type === FLOAT16 || type === BFLOAT16) {
    for (const w of t.int32Data ?? []) {
      seen.bits(w, type);
    }
  }
  return seen.kind;
}

/** Each float tensor stored in `graph` and its subgraphs, with what to call it in an error. */
function* tensorsOf(
  graph: onnx.IGraphProto,
): Generator<{ what: string; name: string; tensor: onnx.ITensorProto }> {
  for (const t of graph.initializer ?? []) {
    yield { what: "initializer", name: t.name ?? "", tensor: t };
  }
  for (const s of graph.sparseInitializer ?? []) {
    if (s.values) yield { what: "sparse initializer", name: s.values.name ?? "", tensor: s.values };
  }
  for (const node of graph.node ?? []) {
    for (const a of node.attribute ?? []) {
      if (node.opType === "Constant" && a.t) {
        yield { what: "constant", name: node.output?.[0] ?? node.name ?? "", tensor: a.t };
      }
      for (const g of [...(a.g ? [a.g] : []), ...(a.graphs ?? [])]) yield* tensorsOf(g);
    }
  }
}

/**
 * Throw {@linkcode NonFiniteWeightsError} for the first float tensor of
 * `model` (in file order, see the module doc for what is covered) that
 * holds NaN or Inf; its `what` says whether it is an initializer, a sparse
 * initializer or a constant.
 *
 * @param file The `.onnx` file, for the message.
 * @param model The decoded `ModelProto`.
 */
export function checkFiniteOnnx(file: string, model: onnx.IModelProto): void {
  if (!model.graph) return;
  for (const { what, name, tensor } of tensorsOf(model.graph)) {
    const kind = tensorKind(tensor);
    if (kind) throw new NonFiniteWeightsError(file, name, kind, what);
  }
}
