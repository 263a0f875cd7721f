/**
 * Encode an {@linkcode OnnxOps} graph as an ONNX `ModelProto` with the
 * protobufjs classes generated from onnx.proto (npm `onnx-proto`).
 *
 * @module
 */
import proto from "onnx-proto";
import type { OnnxInitializer, OnnxNode, OnnxOps } from "./_onnx_ops.ts";

const { onnx } = proto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;
const A = onnx.AttributeProto.AttributeType;

/** The ONNX opset the graph is written for. */
export const ONNX_OPSET = 17;
/** IR version 8: the one that goes with opset 17. */
const IR_VERSION = 8;

/** A graph input or output: its name and dims (a string for a symbolic dim). */
export interface OnnxValue {
  name: string;
  dims: (number | string)[];
}

/** What {@linkcode encodeOnnx} writes around the graph. */
export interface OnnxModelInfo {
  /** The graph's name. */
  graphName: string;
  /** The image input. */
  input: OnnxValue;
  /** The output. */
  output: OnnxValue;
  /** `producer_name` and `producer_version`. */
  producer: [string, string];
  /** A one-paragraph description. */
  docString: string;
  /** `metadata_props`, e.g. the architecture and the preprocessing. */
  metadata: Record<string, string>;
}

function valueInfo(v: OnnxValue): unknown {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: FLOAT,
        shape: {
          dim: v.dims.map((d) => typeof d === "string" ? { dimParam: d } : { dimValue: d }),
        },
      },
    },
  };
}

function attribute(name: string, value: OnnxNode["attrs"][string]): unknown {
  if (typeof value === "string") {
    return { name, type: A.STRING, s: new TextEncoder().encode(value) };
  }
  if (Array.isArray(value)) return { name, type: A.INTS, ints: value };
  if (typeof value === "object") return { name, type: A.FLOAT, f: value.f };
  return { name, type: A.INT, i: value };
}

async function tensor(init: OnnxInitializer): Promise<unknown> {
  let rawData: Uint8Array;
  if (init.float) {
    const values = await init.float.data() as Float32Array;
    rawData = new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice();
  } else {
    const values = BigInt64Array.from(init.int64!, (v) => BigInt(v));
    rawData = new Uint8Array(values.buffer);
  }
  return { name: init.name, dims: init.dims, dataType: init.float ? FLOAT : INT64, rawData };
}

/**
 * The serialised `ModelProto` of `ops`'s graph (opset 17, IR 8).
 *
 * @param ops The graph, after the forward ran on it.
 * @param info Names, shapes and metadata.
 * @returns The `.onnx` file's bytes.
 */
export async function encodeOnnx(ops: OnnxOps, info: OnnxModelInfo): Promise<Uint8Array> {
  const initializer = [];
  for (const init of ops.initializers) initializer.push(await tensor(init));
  const graph = {
    name: info.graphName,
    node: ops.nodes.map((n, i) => ({
      name: `${n.op}_${i}`,
      opType: n.op,
      input: n.inputs,
      output: [n.output],
      attribute: Object.entries(n.attrs).map(([k, v]) => attribute(k, v)),
    })),
    initializer,
    input: [valueInfo(info.input)],
    output: [valueInfo(info.output)],
  };
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: "", version: ONNX_OPSET }],
    producerName: info.producer[0],
    producerVersion: info.producer[1],
    docString: info.docString,
    graph: graph as never,
    metadataProps: Object.entries(info.metadata).map(([key, value]) => ({ key, value })),
  });
  return onnx.ModelProto.encode(model).finish();
}
