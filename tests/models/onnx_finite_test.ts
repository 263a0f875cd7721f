/**
 * The finiteness check of ONNX teachers at load: tiny models written here
 * with onnx-proto, one non-finite value in each place and storage the check
 * covers (raw and typed float32, float64, float16, bfloat16; initializers,
 * sparse initializers, `Constant` nodes, an `If` branch), are refused naming
 * the file and the tensor; finite ones, integers and external data pass. A
 * NaN teacher file is refused by `loadOnnxTeacher` before onnxruntime runs it,
 * and the same file with a finite weight loads.
 */
import assert from "assert";
import proto from "onnx-proto";
import { checkFiniteOnnx } from "../../lib/models/_onnx_finite.ts";
import { NonFiniteWeightsError } from "../../lib/models/finite_weights.ts";
import { loadOnnxTeacher } from "../../lib/models/onnx_teacher.ts";
import { initBackend } from "../../lib/backend.ts";
import { withTempDir } from "../_helpers.ts";

const { onnx } = proto;
const T = onnx.TensorProto.DataType;

/** Little-endian bytes of `values` written by `put` at `bytes` each, after `pad` leading bytes. */
function raw(
  values: number[],
  bytes: number,
  put: (v: DataView, at: number, x: number) => void,
  pad = 0,
): Uint8Array {
  const out = new Uint8Array(pad + values.length * bytes);
  const view = new DataView(out.buffer);
  values.forEach((x, i) => put(view, pad + i * bytes, x));
  return out.subarray(pad);
}
const f32 = (values: number[], pad = 0) =>
  raw(values, 4, (v, at, x) => v.setFloat32(at, x, true), pad);
const f64 = (values: number[]) => raw(values, 8, (v, at, x) => v.setFloat64(at, x, true));
const u16 = (values: number[]) => raw(values, 2, (v, at, x) => v.setUint16(at, x, true));

/** A model whose graph holds `graph` (initializers, nodes...), decoded back from its bytes. */
function model(graph: Record<string, unknown>): proto.onnx.ModelProto {
  const bytes = onnx.ModelProto.encode(onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 17 }],
    graph: { name: "g", ...graph } as never,
  })).finish();
  return onnx.ModelProto.decode(bytes);
}

/** The error `checkFiniteOnnx` throws for `m`, as `what "name" kind`; `""` when it passes. */
function refusal(m: proto.onnx.IModelProto): string {
  try {
    checkFiniteOnnx("m.onnx", m);
    return "";
  } catch (e) {
    assert.ok(e instanceof NonFiniteWeightsError, String(e));
    assert.equal(e.file, "m.onnx");
    return `${e.what} "${e.tensor}" ${e.kind}`;
  }
}

const init = (name: string, dataType: number, dims: number[], data: Record<string, unknown>) => ({
  name,
  dataType,
  dims,
  ...data,
});

Deno.test("ONNX finiteness: each float type and storage, NaN and Inf, named", () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ["float32 raw", { rawData: f32([1, NaN]) }, "NaN"],
    ["float32 raw, Inf", { rawData: f32([-Infinity, 2]) }, "Inf"],
    ["float32 float_data", { floatData: [0, Infinity, NaN] }, "NaN and Inf"],
    ["float64 raw", { rawData: f64([0, NaN]) }, "NaN"],
    ["float64 double_data", { doubleData: [Infinity] }, "Inf"],
    ["float16 raw", { rawData: u16([0x3c00, 0x7c00]) }, "Inf"], // 1, +Inf
    ["float16 int32_data", { int32Data: [0x3c00, 0x7e00] }, "NaN"], // 1, NaN
    ["bfloat16 raw", { rawData: u16([0x3f80, 0xff80, 0x7fc0]) }, "NaN and Inf"], // 1, −Inf, NaN
  ];
  const types: Record<string, number> = {
    float32: T.FLOAT,
    float64: T.DOUBLE,
    float16: T.FLOAT16,
    bfloat16: T.BFLOAT16,
  };
  for (const [name, data, kind] of cases) {
    const dataType = types[name.split(" ")[0]];
    const m = model({
      initializer: [
        init("ok", T.FLOAT, [2], { rawData: f32([1, 2]) }),
        init("bad", dataType, [2], data),
      ],
    });
    assert.equal(refusal(m), `initializer "bad" ${kind}`, name);
    // The same values, finite, pass.
    const fine = model({ initializer: [init("ok", T.FLOAT, [2], { rawData: f32([1, 2]) })] });
    assert.equal(refusal(fine), "", name);
  }
});

Deno.test("ONNX finiteness: raw data at an unaligned offset is read correctly", () => {
  // A decoded model's raw_data is a view into the file at any offset.
  const rawData = f32([1, 2, NaN], 1);
  assert.equal(rawData.byteOffset, 1);
  const m = { graph: { initializer: [init("w", T.FLOAT, [3], { rawData })] } };
  assert.equal(refusal(m), `initializer "w" NaN`);
  const fine = {
    graph: { initializer: [init("w", T.FLOAT, [3], { rawData: f32([1, 2, 3], 1) })] },
  };
  assert.equal(refusal(fine), "");
});

Deno.test("ONNX finiteness: constants, sparse initializers and subgraphs; ints and external data pass", () => {
  const constant = model({
    node: [{
      opType: "Constant",
      output: ["c"],
      attribute: [{
        name: "value",
        type: onnx.AttributeProto.AttributeType.TENSOR,
        t: init("", T.FLOAT, [1], { floatData: [NaN] }),
      }],
    }],
  });
  assert.equal(refusal(constant), `constant "c" NaN`);
  const sparse = model({
    sparseInitializer: [{
      values: init("s", T.FLOAT, [1], { rawData: f32([Infinity]) }),
      indices: init("s_idx", T.INT64, [1], { int64Data: [0] }),
      dims: [4],
    }],
  });
  assert.equal(refusal(sparse), `sparse initializer "s" Inf`);
  const branch = model({
    node: [{
      opType: "If",
      input: ["cond"],
      output: ["y"],
      attribute: [{
        name: "then_branch",
        type: onnx.AttributeProto.AttributeType.GRAPH,
        g: { name: "then", initializer: [init("inner", T.FLOAT, [1], { rawData: f32([NaN]) })] },
      }],
    }],
  });
  assert.equal(refusal(branch), `initializer "inner" NaN`);
  // Integers hold no NaN; external data lies in another file, which onnxruntime reads.
  const notChecked = model({
    initializer: [
      init("ids", T.INT32, [1], { rawData: f32([NaN]) }),
      init("ext", T.FLOAT, [1], {
        dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
        externalData: [{ key: "location", value: "weights.bin" }],
      }),
    ],
  });
  assert.equal(refusal(notChecked), "");
});

/** images [batch, 1, 8, 8] × `scale` → mean over space → features [batch, 1]. */
function scaledPool(scale: number): Uint8Array {
  const value = (name: string, dims: (number | string)[]) => ({
    name,
    type: {
      tensorType: {
        elemType: T.FLOAT,
        shape: { dim: dims.map((d) => typeof d === "string" ? { dimParam: d } : { dimValue: d }) },
      },
    },
  });
  return onnx.ModelProto.encode(onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 17 }],
    graph: {
      name: "g",
      initializer: [init("scale", T.FLOAT, [1], { rawData: f32([scale]) })],
      node: [
        { opType: "Mul", input: ["images", "scale"], output: ["scaled"] },
        { opType: "GlobalAveragePool", input: ["scaled"], output: ["pooled"] },
        { opType: "Flatten", input: ["pooled"], output: ["features"] },
      ],
      input: [value("images", ["batch", 1, 8, 8])],
      output: [value("features", ["batch", 1])],
    } as never,
  })).finish();
}

Deno.test({
  name: "loadOnnxTeacher refuses a NaN initializer before onnxruntime runs, naming file and tensor",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await initBackend({ backend: "cpu", log: false });
    await withTempDir("onnx_finite", async (dir) => {
      await Deno.writeFile(`${dir}/nan.onnx`, scaledPool(NaN));
      await Deno.writeFile(`${dir}/ok.onnx`, scaledPool(2));
      await assert.rejects(
        loadOnnxTeacher(`${dir}/nan.onnx`),
        (e: Error) => {
          assert.ok(e instanceof NonFiniteWeightsError);
          assert.equal(
            e.message,
            `Cannot load weights "${dir}/nan.onnx": initializer "scale" holds non-finite values ` +
              "(NaN); re-export the weights from a finite model",
          );
          return true;
        },
      );
      const teacher = await loadOnnxTeacher(`${dir}/ok.onnx`);
      try {
        assert.equal(teacher.featureDim, 1);
      } finally {
        teacher.dispose();
      }
    });
  },
});
