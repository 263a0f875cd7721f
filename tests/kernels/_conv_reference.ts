/**
 * Independent reference for the conv kernels: direct loops over the
 * definitions, in float64, with TensorFlow's padding rules written out here
 * rather than taken from tfjs.
 */

/** Deterministic standard-normal samples (mulberry32 + Box-Muller). */
export function randn(seed: number, n: number): Float32Array {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  }
  return out;
}

/** Padding as tfjs accepts it: a mode or explicit `[[0,0],[t,b],[l,r],[0,0]]`. */
export type PadSpec = "same" | "valid" | [[0, 0], [number, number], [number, number], [0, 0]];

/** Geometry of one spatial axis: output size and leading pad. */
export function axisGeometry(
  size: number,
  k: number,
  stride: number,
  dilation: number,
  pad: PadSpec,
  axis: 0 | 1,
): { out: number; lead: number } {
  const ke = (k - 1) * dilation + 1;
  if (pad === "valid") return { out: Math.ceil((size - ke + 1) / stride), lead: 0 };
  if (pad === "same") {
    const out = Math.ceil(size / stride);
    const total = Math.max((out - 1) * stride + ke - size, 0);
    return { out, lead: Math.floor(total / 2) };
  }
  const [lead, trail] = pad[axis + 1] as [number, number];
  return { out: Math.floor((size + lead + trail - ke) / stride) + 1, lead };
}

/** A conv problem: NHWC input `[n,h,w,ci]`, filter `[kh,kw,ci,co]` (depthwise: `[kh,kw,c,m]`). */
export interface ConvCase {
  n: number;
  h: number;
  w: number;
  ci: number;
  kh: number;
  kw: number;
  /** Output channels (conv) or channel multiplier (depthwise). */
  co: number;
  stride: number;
  dilation?: number;
  pad: PadSpec;
  depthwise?: boolean;
}

/** Output shape of `c`. */
export function outShape(c: ConvCase): [number, number, number, number] {
  const d = c.dilation ?? 1;
  const gh = axisGeometry(c.h, c.kh, c.stride, d, c.pad, 0);
  const gw = axisGeometry(c.w, c.kw, c.stride, d, c.pad, 1);
  return [c.n, gh.out, gw.out, c.depthwise ? c.ci * c.co : c.co];
}

/**
 * Visit every multiply of the convolution: `fn(xIndex, wIndex, yIndex)` for
 * each term `y[yIndex] += x[xIndex] * w[wIndex]`.
 */
function eachTerm(c: ConvCase, fn: (xi: number, wi: number, yi: number) => void): void {
  const d = c.dilation ?? 1;
  const gh = axisGeometry(c.h, c.kh, c.stride, d, c.pad, 0);
  const gw = axisGeometry(c.w, c.kw, c.stride, d, c.pad, 1);
  const [, ho, wo, yc] = outShape(c);
  for (let b = 0; b < c.n; b++) {
    for (let i = 0; i < ho; i++) {
      for (let j = 0; j < wo; j++) {
        for (let a = 0; a < c.kh; a++) {
          const y = i * c.stride + a * d - gh.lead;
          if (y < 0 || y >= c.h) continue;
          for (let e = 0; e < c.kw; e++) {
            const x = j * c.stride + e * d - gw.lead;
            if (x < 0 || x >= c.w) continue;
            const xBase = ((b * c.h + y) * c.w + x) * c.ci;
            const yBase = ((b * ho + i) * wo + j) * yc;
            const wBase = (a * c.kw + e) * c.ci * c.co;
            for (let ch = 0; ch < c.ci; ch++) {
              for (let o = 0; o < c.co; o++) {
                const yo = c.depthwise ? ch * c.co + o : o;
                fn(xBase + ch, wBase + ch * c.co + o, yBase + yo);
              }
            }
          }
        }
      }
    }
  }
}

/** Forward convolution. */
export function convForward(c: ConvCase, x: ArrayLike<number>, w: ArrayLike<number>): Float64Array {
  const y = new Float64Array(outShape(c).reduce((p, q) => p * q, 1));
  eachTerm(c, (xi, wi, yi) => (y[yi] += x[xi] * w[wi]));
  return y;
}

/** Gradients of `Σ y·dy` with respect to the input and the filter. */
export function convGrads(
  c: ConvCase,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  dy: ArrayLike<number>,
): { dx: Float64Array; dw: Float64Array } {
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(w.length);
  eachTerm(c, (xi, wi, yi) => {
    dx[xi] += dy[yi] * w[wi];
    dw[wi] += dy[yi] * x[xi];
  });
  return { dx, dw };
}

/**
 * The parameter grid the issue names: strides 1/2, same/valid, odd/even, 1×1/3×3/5×5; for
 * plain convs also 1 to 5 input channels.
 */
export function convGrid(depthwise: boolean): ConvCase[] {
  const cases: ConvCase[] = [];
  for (const stride of [1, 2]) {
    for (const pad of ["same", "valid"] as const) {
      for (const size of [7, 8]) {
        for (const k of [1, 3, 5]) {
          cases.push({
            n: 2,
            h: size,
            w: size + 1,
            ci: 3,
            kh: k,
            kw: k,
            co: depthwise ? 1 + (k % 2 === 1 && size === 8 ? 1 : 0) : 4,
            stride,
            pad,
            depthwise,
          });
        }
      }
    }
  }
  // Non-square kernels and explicit, asymmetric padding.
  cases.push({
    n: 1,
    h: 6,
    w: 9,
    ci: 2,
    kh: 3,
    kw: 2,
    co: 3,
    stride: 2,
    pad: [[0, 0], [2, 0], [1, 3], [0, 0]],
    depthwise,
  });
  cases.push({ n: 3, h: 5, w: 5, ci: 4, kh: 2, kw: 2, co: 2, stride: 1, pad: "same", depthwise });
  if (depthwise) return cases;
  // Few input channels, where wasm's filter gradient is one im2col product at stride 1 (Ci ≤ 4):
  // one channel, odd and asymmetric kernels and pads, the 4-channel edge and 5 channels past it,
  // and a strided one-channel layer, which keeps the dilated convolution.
  const few: [number, number, number, number, number, number, number, PadSpec][] = [
    [2, 7, 8, 1, 3, 3, 1, "same"],
    [2, 8, 7, 1, 5, 3, 1, "valid"],
    [1, 6, 9, 1, 3, 2, 1, [[0, 0], [2, 0], [1, 3], [0, 0]]],
    [2, 7, 7, 1, 1, 1, 1, "valid"],
    [2, 7, 8, 1, 3, 3, 2, "same"],
    [2, 6, 5, 4, 3, 3, 1, "same"],
    [2, 6, 5, 5, 3, 3, 1, "same"],
  ];
  for (const [n, h, w, ci, kh, kw, stride, pad] of few) {
    cases.push({ n, h, w, ci, kh, kw, co: 3, stride, pad, depthwise });
  }
  return cases;
}

/** A short label for failure messages. */
export function describe(c: ConvCase): string {
  const pad = typeof c.pad === "string" ? c.pad : JSON.stringify(c.pad);
  return `${c.depthwise ? "depthwise" : "conv"} x[${c.n},${c.h},${c.w},${c.ci}] ` +
    `k${c.kh}x${c.kw} ${c.depthwise ? "m" : "co"}${c.co} s${c.stride} d${c.dilation ?? 1} ${pad}`;
}
