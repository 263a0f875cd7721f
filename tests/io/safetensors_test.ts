/**
 * safetensors: every dtype decoded from hand-written byte patterns, a file
 * written by PyTorch (tests/fixtures/safetensors), the writer's layout and
 * float16 rounding against torch, a matrix of malformed files that must each
 * give a one-line SyntaxError, the PyTorch pickle refusal, and a little
 * fuzzing (every truncation, random header mutations).
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "assert";
import { backendTest, scratch } from "../_helpers.ts";
import {
  encodeSafetensors,
  parseSafetensors,
  readSafetensors,
  type Safetensors,
  safetensorsFromTensors,
  serializeSafetensors,
  tensorsFromSafetensors,
  writeSafetensors,
} from "../../lib/io/mod.ts";
import { readSafetensorsPart } from "../../lib/io/safetensors.ts";

const FIXTURE = new URL("../fixtures/safetensors/", import.meta.url);

/**
 * Assemble a file by hand: the 8-byte length, the header (an object is
 * JSON-encoded, a string or bytes is used as is), then the data bytes.
 */
function build(
  header: unknown,
  data: ArrayLike<number> = [],
  headerLength?: bigint,
): Uint8Array {
  const text = header instanceof Uint8Array
    ? header
    : new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setBigUint64(0, headerLength ?? BigInt(text.length), true);
  out.set(text, 8);
  out.set(Array.from(data), 8 + text.length);
  return out;
}

/** One tensor's header entry, covering `bytes.length` bytes from 0. */
function one(name: string, dtype: string, shape: number[], bytes: number[]): Uint8Array {
  return build({ [name]: { dtype, shape, data_offsets: [0, bytes.length] } }, bytes);
}

const le16 = (...v: number[]) => v.flatMap((x) => [x & 0xff, (x >> 8) & 0xff]);
const f32Bits = (v: ArrayLike<number>) => Array.from(new Uint32Array(Float32Array.from(v).buffer));
const bitsOf = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

function decodeOne(bytes: Uint8Array): { dtype: string; shape: number[]; values: number[] } {
  const { tensors } = parseSafetensors(bytes);
  assert.equal(tensors.size, 1);
  const [t] = tensors.values();
  return { dtype: t.dtype, shape: t.shape, values: Array.from(t.values) };
}

Deno.test("safetensors decodes F16 bit patterns: subnormals, inf, NaN, -0, max", () => {
  const bits = [
    0x3c00,
    0x0001,
    0x03ff,
    0x0400,
    0x7c00,
    0xfc00,
    0x7e00,
    0x8000,
    0x7bff,
    0x3555,
    0xc000,
  ];
  const t = parseSafetensors(one("h", "F16", [11], le16(...bits))).tensors.get("h")!;
  assert.ok(t.values instanceof Float32Array);
  const v = Array.from(t.values);
  assert.deepEqual(v.slice(0, 6), [1, 2 ** -24, 1023 * 2 ** -24, 2 ** -14, Infinity, -Infinity]);
  assert.ok(Number.isNaN(v[6]));
  assert.ok(Object.is(v[7], -0));
  assert.deepEqual(v.slice(8), [65504, 0.333251953125, -2]);
});

Deno.test("safetensors decodes BF16 bit patterns: subnormal, inf, NaN, -0, max", () => {
  const bits = [0x3f80, 0x3fc0, 0xc020, 0x7f80, 0xff80, 0x7fc0, 0x8000, 0x0001, 0x7f7f];
  const v = decodeOne(one("b", "BF16", [3, 3], le16(...bits)));
  assert.equal(v.dtype, "BF16");
  assert.deepEqual(v.shape, [3, 3]);
  assert.deepEqual(v.values.slice(0, 5), [1, 1.5, -2.5, Infinity, -Infinity]);
  assert.ok(Number.isNaN(v.values[5]));
  assert.ok(Object.is(v.values[6], -0));
  assert.equal(v.values[7], 2 ** -133);
  assert.equal(v.values[8], 3.3895313892515355e38);
});

Deno.test("safetensors decodes F32 and F64 (rounded to float32)", () => {
  const f32 = new Float32Array([1, -0, Infinity, NaN, 1e-45, 3.4028234663852886e38]);
  const a = decodeOne(one("a", "F32", [6], Array.from(new Uint8Array(f32.buffer))));
  assert.deepEqual(f32Bits(a.values), bitsOf(f32));
  const f64 = new Float64Array([1 / 3, -0, -Infinity, NaN, 1e-300, -3.4e38]);
  const b = decodeOne(one("b", "F64", [2, 3], Array.from(new Uint8Array(f64.buffer))));
  assert.deepEqual(f32Bits(b.values), f32Bits(Float32Array.from(f64)));
});

Deno.test("safetensors decodes every integer dtype and BOOL to Int32Array", () => {
  const cases: [string, number[], number[]][] = [
    ["I64", [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0], [
      -1,
      2147483647,
    ]],
    ["I64", [0, 0, 0, 0x80, 0xff, 0xff, 0xff, 0xff, 5, 0, 0, 0, 0, 0, 0, 0], [-2147483648, 5]],
    ["I32", [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0x80], [-1, -2147483648]],
    ["I16", [0x00, 0x80, 0xff, 0x7f], [-32768, 32767]],
    ["I8", [0x80, 0xff, 0x7f], [-128, -1, 127]],
    ["U64", [0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0], [2147483647]],
    ["U32", [0xff, 0xff, 0xff, 0x7f], [2147483647]],
    ["U16", [0xff, 0xff, 0x01, 0x00], [65535, 1]],
    ["U8", [0, 128, 255], [0, 128, 255]],
    ["BOOL", [0, 1, 1, 0], [0, 1, 1, 0]],
  ];
  for (const [dtype, bytes, expected] of cases) {
    const { tensors } = parseSafetensors(one("x", dtype, [expected.length], bytes));
    const t = tensors.get("x")!;
    assert.ok(t.values instanceof Int32Array, dtype);
    assert.deepEqual(Array.from(t.values), expected, dtype);
  }
});

Deno.test("safetensors: integers beyond int32 and F64 beyond float32 are RangeErrors", () => {
  const cases: [string, number[], RegExp][] = [
    ["I64", [0, 0, 0, 0x80, 0, 0, 0, 0], /tensor "big" I64 value 2147483648 at index 0/],
    ["I64", [0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff], /I64 value -2147483649 at index 0/],
    ["U64", [0, 0, 0, 0, 1, 0, 0, 0], /U64 value 4294967296 at index 0 does not fit in int32/],
    ["U32", [0, 0, 0, 0x80], /U32 value 2147483648 at index 0/],
    ["F64", Array.from(new Uint8Array(new Float64Array([1e39]).buffer)), /F64 value 1e\+39/],
  ];
  for (const [dtype, bytes, pattern] of cases) {
    assert.throws(
      () => parseSafetensors(one("big", dtype, [1], bytes), { source: "big.safetensors" }),
      (e: Error) =>
        e instanceof RangeError && pattern.test(e.message) &&
        e.message.startsWith('Cannot read safetensors "big.safetensors": tensor "big" '),
    );
  }
});

Deno.test("safetensors round trip: F32, F16, I32, I64, scalars, empty tensors, metadata", () => {
  const bytes = serializeSafetensors({
    f32: { shape: [2, 2], values: [1.5, -0, Infinity, NaN] },
    f16: { dtype: "F16", shape: [5], values: [2 ** -24, -0, 65504, -Infinity, 0.1] },
    i32: { dtype: "I32", shape: [3], values: new Int32Array([-2147483648, 0, 2147483647]) },
    i64: { dtype: "I64", shape: [4], values: [-1, 2 ** 31 - 1, -(2 ** 31), 0] },
    scalar: { shape: [], values: [7] },
    empty: { dtype: "I32", shape: [0, 4], values: [] },
  }, { note: "ünïcode ✓", step: "12" });
  const st = parseSafetensors(bytes);
  assert.deepEqual(st.metadata, { note: "ünïcode ✓", step: "12" });
  const get = (n: string) => st.tensors.get(n)!;
  assert.deepEqual(f32Bits(get("f32").values), f32Bits([1.5, -0, Infinity, NaN]));
  assert.deepEqual(
    f32Bits(get("f16").values),
    f32Bits([2 ** -24, -0, 65504, -Infinity, 0.0999755859375]),
  );
  assert.deepEqual(Array.from(get("i32").values), [-2147483648, 0, 2147483647]);
  assert.deepEqual(Array.from(get("i64").values), [-1, 2 ** 31 - 1, -(2 ** 31), 0]);
  assert.deepEqual(get("scalar").shape, []);
  assert.deepEqual(Array.from(get("scalar").values), [7]);
  assert.deepEqual(get("empty").shape, [0, 4]);
  assert.equal(get("empty").values.length, 0);
  assert.deepEqual(
    [...st.tensors.values()].map((t) => t.dtype),
    ["I32", "F16", "F32", "I32", "I64", "F32"],
  );
  // A view at an odd offset into a larger buffer reads the same.
  const shifted = new Uint8Array(bytes.length + 3);
  shifted.set(bytes, 3);
  const again = parseSafetensors(shifted.subarray(3));
  for (const [name, t] of st.tensors) {
    assert.deepEqual(f32Bits(again.tensors.get(name)!.values), f32Bits(t.values), name);
  }
  // I64 stores a full 64-bit little-endian value, not just 32 bits.
  const big = serializeSafetensors({
    n: { dtype: "I64", shape: [2], values: [2 ** 40 + 3, -(2 ** 40)] },
  });
  const view = new DataView(big.buffer, big.length - 16);
  assert.equal(view.getBigInt64(0, true), 2n ** 40n + 3n);
  assert.equal(view.getBigInt64(8, true), -(2n ** 40n));
});

Deno.test("safetensors writer: space-padded header, sorted layout, exact bytes", () => {
  const bytes = serializeSafetensors({
    b: { shape: [1], values: [1] },
    a: { dtype: "I32", shape: [2], values: [2, 3] },
  });
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(n % 8, 0);
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
  const json = '{"a":{"dtype":"I32","shape":[2],"data_offsets":[0,8]},' +
    '"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}';
  assert.equal(text, json.padEnd(n, " "));
  assert.ok(n - json.length < 8);
  assert.deepEqual(Array.from(bytes.subarray(8 + n)), [2, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0x80, 0x3f]);
  // Metadata comes first; none at all means no __metadata__ key.
  const withMeta = serializeSafetensors({ b: { shape: [1], values: [1] } }, { k: "v" });
  assert.match(new TextDecoder().decode(withMeta), /^[^{]*\{"__metadata__":\{"k":"v"\},"b":/);
  assert.ok(!new TextDecoder().decode(bytes).includes("__metadata__"));
});

Deno.test("encodeSafetensors: same bytes as serializeSafetensors, F32 without a copy", () => {
  const values = new Float32Array([1, 2, 3]);
  const tensors = {
    w: { shape: [3], values },
    h: { dtype: "F16" as const, shape: [1], values: [0.5] },
  };
  const chunks = [...encodeSafetensors(tensors, { a: "b" })];
  const joined = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
  let at = 0;
  for (const c of chunks) joined.set(c, (at += c.length) - c.length);
  assert.deepEqual(joined, serializeSafetensors(tensors, { a: "b" }));
  assert.equal(chunks[2].buffer, values.buffer);
  assert.throws(() => encodeSafetensors({ w: { shape: [2], values } }), RangeError);
});

Deno.test("safetensors writer: F16 rounding matches torch's float32 → half bit for bit", async () => {
  const fx = JSON.parse(await Deno.readTextFile(new URL("torch_written.json", FIXTURE)));
  const inputs = new Float32Array(new Uint32Array(fx.f16_encode.f32_bits).buffer);
  const expected: number[] = fx.f16_encode.f16_bits;
  const finite: number[] = [];
  for (let i = 0; i < inputs.length; i++) {
    const overflow = Number.isFinite(inputs[i]) && (expected[i] & 0x7fff) === 0x7c00;
    if (!overflow) {
      finite.push(i);
      continue;
    }
    // torch silently gives inf; the writer refuses.
    assert.throws(
      () => serializeSafetensors({ x: { dtype: "F16", shape: [1], values: [inputs[i]] } }),
      /tensor "x" value .* overflows F16/,
    );
  }
  assert.ok(finite.length > 100);
  const values = finite.map((i) => inputs[i]);
  const bytes = serializeSafetensors({ x: { dtype: "F16", shape: [values.length], values } });
  const got = new Uint16Array(bytes.slice(bytes.length - 2 * values.length).buffer);
  for (let k = 0; k < finite.length; k++) {
    const want = expected[finite[k]];
    assert.equal(
      got[k],
      want,
      `f16 of ${inputs[finite[k]]}: 0x${got[k].toString(16)} != torch 0x${want.toString(16)}`,
    );
  }
});

Deno.test("safetensors reads a file written from PyTorch tensors (all dtypes)", async () => {
  const fx = JSON.parse(await Deno.readTextFile(new URL("torch_written.json", FIXTURE)));
  const st = await readSafetensors(new URL("torch_written.safetensors", FIXTURE).pathname);
  assert.deepEqual(st.metadata, fx.metadata);
  assert.deepEqual([...st.tensors.keys()].sort(), Object.keys(fx.tensors).sort());
  assert.ok(st.tensors.size >= 12);
  for (const [name, want] of Object.entries<Record<string, unknown>>(fx.tensors)) {
    const t = st.tensors.get(name)!;
    assert.equal(t.dtype, want.dtype, name);
    assert.deepEqual(t.shape, want.shape, name);
    if (want.f32_bits) {
      assert.ok(t.values instanceof Float32Array, name);
      const wantBits = want.f32_bits as number[];
      const gotBits = bitsOf(t.values);
      assert.equal(gotBits.length, wantBits.length, name);
      for (let i = 0; i < wantBits.length; i++) {
        const wantNaN = Number.isNaN(new Float32Array(new Uint32Array([wantBits[i]]).buffer)[0]);
        if (wantNaN) assert.ok(Number.isNaN(t.values[i]), `${name}[${i}] should be NaN`);
        else assert.equal(gotBits[i], wantBits[i], `${name}[${i}] = ${t.values[i]}`);
      }
    } else {
      assert.ok(t.values instanceof Int32Array, name);
      assert.deepEqual(Array.from(t.values), want.values, name);
    }
  }
});

// Each malformed file must give a one-line SyntaxError that names the file and the problem.
const E = (begin: number, end: number, dtype = "F32", shape = [1]) => ({
  dtype,
  shape,
  data_offsets: [begin, end],
});
const BAD: [string, Uint8Array, string | RegExp][] = [
  ["empty file", new Uint8Array(0), "file is empty"],
  [
    "shorter than 8 bytes",
    new Uint8Array(5),
    "file is truncated: 5 bytes, shorter than the 8-byte",
  ],
  ["absurd header length", build("{}", [], 2n ** 40n), /header length 1099511627776 is absurd/],
  [
    "header past the end",
    build("{}", [], 100n),
    /truncated: the header says it is 100 bytes but only 2/,
  ],
  ["header too short", build("", [], 0n), /header length 0 is too short/],
  ["not UTF-8", build(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])), "header is not valid UTF-8"],
  ["not JSON", build('{"a": '), /header is not valid JSON \(/],
  ["JSON array", build("[1,2]"), "header is an array, not a JSON object"],
  ["JSON number", build("42"), "header is 42, not a JSON object"],
  ["JSON null", build("null"), "header is null, not a JSON object"],
  ["metadata not an object", build({ __metadata__: [1] }), '"__metadata__" is [1], not an object'],
  [
    "metadata value",
    build({ __metadata__: { a: 1 } }),
    '"__metadata__" entry "a" is 1, not a string',
  ],
  ["entry not an object", build({ w: 3 }), 'tensor "w" is described by 3, not an object'],
  [
    "no dtype",
    build({ w: { shape: [1], data_offsets: [0, 4] } }, [0, 0, 0, 0]),
    'tensor "w" has no "dtype"',
  ],
  [
    "dtype not a string",
    build({ w: { ...E(0, 4), dtype: 32 } }, [0, 0, 0, 0]),
    "has dtype 32, not a string",
  ],
  [
    "unknown dtype",
    build({ w: E(0, 4, "F17") }, [0, 0, 0, 0]),
    'tensor "w" has unknown dtype "F17"',
  ],
  [
    "unsupported dtype",
    build({ w: E(0, 1, "F8_E4M3") }, [0]),
    'has dtype "F8_E4M3", which is not supported',
  ],
  [
    "no shape",
    build({ w: { dtype: "F32", data_offsets: [0, 4] } }, [0, 0, 0, 0]),
    'tensor "w" has no "shape"',
  ],
  [
    "negative dim",
    build({ w: E(0, 4, "F32", [-1]) }, [0, 0, 0, 0]),
    "shape [-1], not a list of non-negative",
  ],
  ["fractional dim", build({ w: E(0, 4, "F32", [1.5]) }, [0, 0, 0, 0]), "shape [1.5], not a list"],
  [
    "shape not a list",
    build({ w: E(0, 4, "F32", "2" as never) }, [0, 0, 0, 0]),
    'shape "2", not a list',
  ],
  [
    "no offsets",
    build({ w: { dtype: "F32", shape: [1] } }, [0, 0, 0, 0]),
    'tensor "w" has no "data_offsets"',
  ],
  [
    "three offsets",
    build({ w: { ...E(0, 4), data_offsets: [0, 4, 8] } }),
    "[0,4,8], not two non-negative",
  ],
  [
    "float offsets",
    build({ w: { ...E(0, 4), data_offsets: [0, 4.5] } }),
    "[0,4.5], not two non-negative",
  ],
  [
    "negative offset",
    build({ w: { ...E(0, 4), data_offsets: [-4, 0] } }),
    "[-4,0], not two non-negative",
  ],
  [
    "begin after end",
    build({ w: E(8, 4) }, new Array(8).fill(0)),
    "data_offsets [8, 4] that begin after they end",
  ],
  [
    "offset past the end",
    build({ w: E(0, 40, "F32", [10]) }, new Array(12).fill(0)),
    'file is truncated: tensor "w" data_offsets [0, 40] point past the end of the 12-byte data buffer',
  ],
  [
    "wrong dtype or shape",
    build({ "conv1.weight": E(0, 400, "F32", [3, 3, 3, 8]) }, new Array(400).fill(0)),
    'tensor "conv1.weight" data_offsets [0, 400] do not match F32 shape [3,3,3,8] (864 bytes): ' +
    "wrong dtype or shape",
  ],
  [
    "overlap",
    build({ a: E(0, 8, "F32", [2]), b: E(4, 8) }, new Array(8).fill(0)),
    'tensor "b" data_offsets [4, 8] overlap tensor "a" [0, 8]',
  ],
  [
    "hole",
    build({ a: E(0, 4), b: E(8, 12) }, new Array(12).fill(0)),
    "bytes [4, 8) of the data buffer belong to no tensor",
  ],
  [
    "trailing bytes",
    build({ a: E(0, 4) }, new Array(7).fill(0)),
    "3 trailing bytes after the last tensor",
  ],
  ["leading hole", build({ a: E(4, 8) }, new Array(8).fill(0)), "bytes [0, 4) of the data buffer"],
];

Deno.test("safetensors: each malformed file is a one-line SyntaxError naming file and problem", () => {
  for (const [label, bytes, problem] of BAD) {
    assert.throws(
      () => parseSafetensors(bytes, { source: "x.safetensors" }),
      (e: Error) => {
        assert.ok(e instanceof SyntaxError, `${label}: ${e}`);
        const head = 'Cannot read safetensors "x.safetensors": ';
        assert.ok(e.message.startsWith(head), `${label}: ${e.message}`);
        const rest = e.message.slice(head.length);
        if (typeof problem === "string") assert.ok(rest.includes(problem), `${label}: ${rest}`);
        else assert.match(rest, problem, label);
        assert.ok(!e.message.includes("\n"), `${label}: multi-line message`);
        return true;
      },
      label,
    );
  }
  // Without a source the message still says what is wrong.
  assert.throws(
    () => parseSafetensors(new Uint8Array(3)),
    /^SyntaxError: Cannot read safetensors: file/,
  );
});

Deno.test("safetensors: wrong argument types are TypeErrors", async () => {
  assert.throws(() => parseSafetensors("abc" as never), TypeError);
  assert.throws(() => parseSafetensors([1, 2] as never), TypeError);
  assert.throws(() => parseSafetensors(new Uint8Array(8), { source: 3 as never }), TypeError);
  await assert.rejects(readSafetensors(3 as never), TypeError);
  assert.throws(() => serializeSafetensors(null as never), TypeError);
  assert.throws(
    () => serializeSafetensors({ w: { shape: [1], values: [1] } }, { a: 1 as never }),
    TypeError,
  );
  assert.throws(
    () => serializeSafetensors({ w: { dtype: "BF16" as never, shape: [1], values: [1] } }),
    /writable: /,
  );
  assert.throws(
    () => serializeSafetensors({ w: { shape: ["1" as never], values: [1] } }),
    TypeError,
  );
  assert.throws(() => serializeSafetensors({ w: { shape: [1], values: 1 as never } }), TypeError);
  assert.throws(
    () => serializeSafetensors({ __metadata__: { shape: [1], values: [1] } }),
    TypeError,
  );
  assert.throws(() => tensorsFromSafetensors({} as never), TypeError);
});

Deno.test("safetensors writer: values that do not fit are RangeErrors naming the tensor", () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ shape: [2, 2], values: [1, 2, 3] }, /tensor "t" has 3 values but shape \[2,2\] holds 4/],
    [{ shape: [-1], values: [] }, /tensor "t" shape \[-1\] needs non-negative integers/],
    [
      { dtype: "I32", shape: [1], values: [1.5] },
      /tensor "t" value 1.5 at index 0 is not an int32/,
    ],
    [
      { dtype: "I32", shape: [1], values: [2 ** 31] },
      /value 2147483648 at index 0 is not an int32/,
    ],
    [{ dtype: "I64", shape: [1], values: [2 ** 53] }, /not a safe integer for I64/],
    [{ dtype: "F16", shape: [1], values: [65520] }, /value 65520 at index 0 overflows F16/],
    [{ shape: [1], values: [1e39] }, /value 1e\+39 at index 0 overflows F32/],
  ];
  for (const [t, pattern] of cases) {
    assert.throws(() => serializeSafetensors({ t: t as never }), (e: Error) => {
      assert.ok(e instanceof RangeError, String(e));
      assert.match(e.message, pattern);
      return true;
    });
  }
});

Deno.test("readSafetensors: missing file, PyTorch pickles by name and by content", async () => {
  const { dir, cleanup } = await scratch("st-read");
  try {
    await assert.rejects(
      readSafetensors(`${dir}/nope.safetensors`),
      (e: Error) =>
        e instanceof Deno.errors.NotFound &&
        e.message === `Cannot read "${dir}/nope.safetensors": no such file`,
    );
    const message = (p: string, out: string) =>
      `Cannot read "${p}": PyTorch pickle checkpoints are not supported (unpickling can run ` +
      `code). Convert once in Python: python -c "import torch; from safetensors.torch import ` +
      `save_file; save_file(torch.load('${p}', map_location='cpu'), '${out}')" (index a nested ` +
      `state dict first, e.g. torch.load(...)['state_dict'])`;
    for (const ext of ["pth", "pt", "bin", "ckpt"]) {
      // Refused by name, before reading: the file need not exist.
      await assert.rejects(
        readSafetensors(`x.${ext}`),
        (e: Error) =>
          e instanceof SyntaxError && e.message === message(`x.${ext}`, "x.safetensors"),
      );
    }
    const zip = `${dir}/zipped.safetensors`;
    await Deno.writeFile(zip, new Uint8Array([0x50, 0x4b, 0x03, 0x04, 20, 0, 0, 0, 8, 0]));
    await assert.rejects(readSafetensors(zip), {
      name: "SyntaxError",
      message: message(zip, `${dir}/zipped.safetensors`),
    });
    const legacy = `${dir}/legacy.weights`;
    await Deno.writeFile(
      legacy,
      new Uint8Array([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20]),
    );
    await assert.rejects(readSafetensors(legacy), {
      message: message(legacy, `${dir}/legacy.safetensors`),
    });
    assert.ok(!message("x.pth", "x.safetensors").includes("\n"));

    // A real safetensors file whose header length starts with the byte 0x80
    // must not be mistaken for a pickle.
    const name = "n".repeat(0x280 - 60);
    let bytes = serializeSafetensors({ [name]: { shape: [1], values: [4] } });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    bytes = build(
      new TextDecoder().decode(bytes.subarray(8, 8 + n)).padEnd(0x280),
      bytes.subarray(8 + n),
    );
    assert.equal(bytes[0], 0x80);
    assert.equal(bytes[1], 0x02);
    await Deno.writeFile(`${dir}/tricky.safetensors`, bytes);
    const st = await readSafetensors(`${dir}/tricky.safetensors`);
    assert.deepEqual(Array.from(st.tensors.get(name)!.values), [4]);

    // Errors from the parser name the path.
    await Deno.writeFile(`${dir}/short.safetensors`, new Uint8Array(3));
    await assert.rejects(
      readSafetensors(`${dir}/short.safetensors`),
      {
        name: "SyntaxError",
        message:
          `Cannot read safetensors "${dir}/short.safetensors": file is truncated: 3 bytes, shorter than the 8-byte header length`,
      },
    );
  } finally {
    await cleanup();
  }
});

Deno.test("writeSafetensors: atomic round trip; a bad value leaves no file behind", async () => {
  const { dir, cleanup } = await scratch("st-write");
  try {
    const path = `${dir}/w.safetensors`;
    await writeSafetensors(path, { w: { shape: [2], values: [1, 2] } }, { source: "test" });
    const st = await readSafetensors(path);
    assert.deepEqual(Array.from(st.tensors.get("w")!.values), [1, 2]);
    assert.deepEqual(st.metadata, { source: "test" });
    // Values are checked while streaming; the temporary file is removed.
    await assert.rejects(
      writeSafetensors(`${dir}/bad.safetensors`, {
        a: { shape: [1], values: [1] },
        b: { dtype: "I32", shape: [1], values: [0.5] },
      }),
      (e: Error) => e instanceof RangeError && /tensor "b" value 0.5/.test(e.message),
    );
    const names = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    assert.deepEqual(names, ["w.safetensors"]);
  } finally {
    await cleanup();
  }
});

/** A small deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Parse, and allow only success or one of the documented error types. */
function parseOrExpectedError(bytes: Uint8Array, label: string): Safetensors | Error {
  try {
    return parseSafetensors(bytes, { source: "fuzz.safetensors" });
  } catch (e) {
    assert.ok(e instanceof SyntaxError || e instanceof RangeError, `${label}: ${e}`);
    assert.ok(
      (e as Error).message.startsWith('Cannot read safetensors "fuzz.safetensors": '),
      label,
    );
    return e as Error;
  }
}

Deno.test("readSafetensorsPart: reads only the named tensors' bytes; the same values; truncation", async () => {
  const { dir, cleanup } = await scratch("st-part");
  try {
    const path = `${dir}/shard.safetensors`;
    const views = Float32Array.from({ length: 6 * 8 * 4 }, (_, i) => i / 7);
    await writeSafetensors(path, {
      features: { shape: [6, 4], values: Float32Array.from({ length: 24 }, (_, i) => i - 3.5) },
      rows: { dtype: "I32", shape: [6], values: [10, 11, 12, 13, 14, 15] },
      views: { dtype: "F16", shape: [6, 8, 4], values: views },
    }, { kind: "shard" });
    const whole = await readSafetensors(path);
    const part = await readSafetensorsPart(path, ["features", "rows", "absent"]);
    assert.deepEqual([...part.tensors.keys()].sort(), ["features", "rows"]);
    for (const name of ["features", "rows"]) {
      assert.deepEqual(part.tensors.get(name), whole.tensors.get(name), name);
    }
    assert.deepEqual(part.metadata, whole.metadata);
    assert.deepEqual(part.shapes.get("views"), { dtype: "F16", shape: [6, 8, 4] });
    // The views' 6 × 8 × 4 halves are never read: the file less exactly their bytes.
    const size = (await Deno.stat(path)).size;
    assert.equal(part.bytesRead, size - 6 * 8 * 4 * 2);
    // A file cut short is refused as readSafetensors refuses it, even past the tensors read.
    const bytes = await Deno.readFile(path);
    await Deno.writeFile(`${dir}/cut.safetensors`, bytes.subarray(0, bytes.length - 1));
    await assert.rejects(
      readSafetensorsPart(`${dir}/cut.safetensors`, ["features"]),
      (e: Error) => e instanceof SyntaxError && /file is truncated/.test(e.message),
    );
    await assert.rejects(readSafetensorsPart(`${dir}/none.safetensors`, []), Deno.errors.NotFound);
  } finally {
    await cleanup();
  }
});

Deno.test("safetensors fuzz: every truncation of a valid file is a SyntaxError saying so", async () => {
  const file = await Deno.readFile(new URL("torch_written.safetensors", FIXTURE));
  assert.ok(!(parseOrExpectedError(file, "whole") instanceof Error));
  for (let len = 0; len < file.length; len++) {
    const r = parseOrExpectedError(file.subarray(0, len), `truncated at ${len}`);
    assert.ok(r instanceof SyntaxError, `truncated at ${len} parsed`);
    assert.match(r.message, /file is (truncated|empty)/, `truncated at ${len}: ${r.message}`);
  }
});

Deno.test("safetensors fuzz: random header mutations parse or fail cleanly", async () => {
  const file = await Deno.readFile(new URL("torch_written.safetensors", FIXTURE));
  const headerEnd = 8 + Number(new DataView(file.buffer).getBigUint64(0, true));
  const digits = [];
  for (let i = 8; i < headerEnd; i++) if (file[i] >= 0x30 && file[i] <= 0x39) digits.push(i);
  const random = rng(20241127);
  const pick = (n: number) => Math.floor(random() * n);
  const outcomes = { ok: 0, syntax: 0, range: 0 };
  for (let trial = 0; trial < 3000; trial++) {
    const bytes = file.slice();
    const edits = 1 + pick(3);
    for (let k = 0; k < edits; k++) {
      const kind = pick(3);
      if (kind === 0) bytes[pick(headerEnd)] ^= 1 + pick(255); // any byte, length prefix included
      else if (kind === 1) bytes[digits[pick(digits.length)]] = 0x30 + pick(10); // still valid JSON
      else bytes[8 + pick(headerEnd - 8)] = ' {}[],:"0-.e'[pick(12)].charCodeAt(0);
    }
    const r = parseOrExpectedError(bytes, `trial ${trial}`);
    if (r instanceof SyntaxError) outcomes.syntax++;
    else if (r instanceof RangeError) outcomes.range++;
    else outcomes.ok++;
  }
  // The digit edits make the semantic checks (not just JSON.parse) do the work.
  assert.ok(outcomes.syntax > 1000, JSON.stringify(outcomes));
  // Random data after a valid header: values decode or are RangeErrors.
  for (let trial = 0; trial < 200; trial++) {
    const bytes = file.slice();
    for (let i = headerEnd; i < bytes.length; i++) bytes[i] = pick(256);
    parseOrExpectedError(bytes, `data trial ${trial}`);
  }
  // Pure garbage.
  for (let trial = 0; trial < 500; trial++) {
    const bytes = new Uint8Array(pick(64)).map(() => pick(256));
    parseOrExpectedError(bytes, `garbage ${trial}`);
  }
});

backendTest("tensorsFromSafetensors / safetensorsFromTensors round trip", async () => {
  const w = tf.tensor2d([[1.5, -2], [0, 3e-8]]);
  const ids = tf.tensor1d([7, -1, 2147483647], "int32");
  const inputs = await safetensorsFromTensors({ "layer.w": w, ids });
  assert.equal(inputs["layer.w"].dtype, "F32");
  assert.equal(inputs.ids.dtype, "I32");
  assert.deepEqual(inputs["layer.w"].shape, [2, 2]);
  const st = parseSafetensors(serializeSafetensors(inputs));
  tf.dispose([w, ids]);
  const back = tensorsFromSafetensors(st);
  assert.deepEqual(Object.keys(back).sort(), ["ids", "layer.w"]);
  assert.equal(back["layer.w"].dtype, "float32");
  assert.equal(back.ids.dtype, "int32");
  assert.deepEqual(back["layer.w"].shape, [2, 2]);
  assert.deepEqual(f32Bits(await back["layer.w"].data()), f32Bits([1.5, -2, 0, 3e-8]));
  assert.deepEqual(Array.from(await back.ids.data()), [7, -1, 2147483647]);
  tf.dispose(Object.values(back));
  // Decoded F16 / I64 / BOOL become float32 / int32 tensors.
  const fx = await readSafetensors(new URL("torch_written.safetensors", FIXTURE).pathname);
  const all = tensorsFromSafetensors(fx);
  assert.equal(all.half.dtype, "float32");
  assert.equal(all.steps.dtype, "int32");
  assert.equal(all.mask.dtype, "int32");
  assert.deepEqual(all.empty.shape, [0, 3]);
  assert.deepEqual(all.scalar.shape, []);
  tf.dispose(Object.values(all));
  const disposed = tf.scalar(1);
  disposed.dispose();
  await assert.rejects(safetensorsFromTensors({ disposed }), /"disposed" is a disposed tensor/);
  const flags = tf.tensor1d([1, 0], "bool");
  await assert.rejects(safetensorsFromTensors({ flags }), /has dtype bool/);
  flags.dispose();
});
