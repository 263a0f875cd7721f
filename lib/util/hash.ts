/**
 * Incremental SHA-256 and MD5, so that downloads are hashed while they
 * stream. WebCrypto only digests whole buffers and has no MD5; MD5 is needed
 * because MNIST and CIFAR publish only MD5 sums.
 *
 * SHA-256: FIPS 180-4. MD5: RFC 1321.
 *
 * @module
 */

/** An incremental hash: feed chunks, then read the hex digest once. */
export interface IncrementalHash {
  update(chunk: Uint8Array): void;
  hex(): string;
}

/** Shared Merkle–Damgård buffering over 64-byte blocks. */
abstract class BlockHash implements IncrementalHash {
  private readonly block = new Uint8Array(64);
  private readonly view = new DataView(this.block.buffer);
  private filled = 0;
  private bytes = 0;
  protected readonly w = new Uint32Array(64);

  protected abstract compress(view: DataView, offset: number): void;
  protected abstract digest(): Uint8Array;
  protected abstract readonly bigEndianLength: boolean;

  update(chunk: Uint8Array): void {
    this.bytes += chunk.length;
    let i = 0;
    if (this.filled > 0) {
      const take = Math.min(64 - this.filled, chunk.length);
      this.block.set(chunk.subarray(0, take), this.filled);
      this.filled += take;
      i = take;
      if (this.filled < 64) return;
      this.compress(this.view, 0);
      this.filled = 0;
    }
    const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    for (; i + 64 <= chunk.length; i += 64) this.compress(view, i);
    if (i < chunk.length) {
      this.block.set(chunk.subarray(i), 0);
      this.filled = chunk.length - i;
    }
  }

  hex(): string {
    const bits = this.bytes * 8;
    const pad = new Uint8Array(((this.filled < 56 ? 56 : 120) - this.filled) + 8);
    pad[0] = 0x80;
    const tail = new DataView(pad.buffer, pad.length - 8);
    const hi = Math.floor(bits / 2 ** 32);
    const lo = bits >>> 0;
    if (this.bigEndianLength) {
      tail.setUint32(0, hi);
      tail.setUint32(4, lo);
    } else {
      tail.setUint32(0, lo, true);
      tail.setUint32(4, hi, true);
    }
    const bytes = this.bytes;
    this.update(pad);
    this.bytes = bytes;
    return Array.from(this.digest(), (b) => b.toString(16).padStart(2, "0")).join("");
  }
}

const K256 = new Uint32Array([
  0x428a2f98,
  0x71374491,
  0xb5c0fbcf,
  0xe9b5dba5,
  0x3956c25b,
  0x59f111f1,
  0x923f82a4,
  0xab1c5ed5,
  0xd807aa98,
  0x12835b01,
  0x243185be,
  0x550c7dc3,
  0x72be5d74,
  0x80deb1fe,
  0x9bdc06a7,
  0xc19bf174,
  0xe49b69c1,
  0xefbe4786,
  0x0fc19dc6,
  0x240ca1cc,
  0x2de92c6f,
  0x4a7484aa,
  0x5cb0a9dc,
  0x76f988da,
  0x983e5152,
  0xa831c66d,
  0xb00327c8,
  0xbf597fc7,
  0xc6e00bf3,
  0xd5a79147,
  0x06ca6351,
  0x14292967,
  0x27b70a85,
  0x2e1b2138,
  0x4d2c6dfc,
  0x53380d13,
  0x650a7354,
  0x766a0abb,
  0x81c2c92e,
  0x92722c85,
  0xa2bfe8a1,
  0xa81a664b,
  0xc24b8b70,
  0xc76c51a3,
  0xd192e819,
  0xd6990624,
  0xf40e3585,
  0x106aa070,
  0x19a4c116,
  0x1e376c08,
  0x2748774c,
  0x34b0bcb5,
  0x391c0cb3,
  0x4ed8aa4a,
  0x5b9cca4f,
  0x682e6ff3,
  0x748f82ee,
  0x78a5636f,
  0x84c87814,
  0x8cc70208,
  0x90befffa,
  0xa4506ceb,
  0xbef9a3f7,
  0xc67178f2,
]);

/** Incremental SHA-256. */
export class Sha256 extends BlockHash {
  private readonly h = new Uint32Array([
    0x6a09e667,
    0xbb67ae85,
    0x3c6ef372,
    0xa54ff53a,
    0x510e527f,
    0x9b05688c,
    0x1f83d9ab,
    0x5be0cd19,
  ]);
  protected readonly bigEndianLength = true;

  protected compress(view: DataView, offset: number): void {
    const w = this.w;
    for (let t = 0; t < 16; t++) w[t] = view.getUint32(offset + 4 * t);
    for (let t = 16; t < 64; t++) {
      const a = w[t - 15], b = w[t - 2];
      const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
      const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
      w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
    }
    const h = this.h;
    let a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (let t = 0; t < 64; t++) {
      const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (k + s1 + ((e & f) ^ (~e & g)) + K256[t] + w[t]) | 0;
      const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      k = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
  }

  protected digest(): Uint8Array {
    const out = new Uint8Array(32);
    const v = new DataView(out.buffer);
    for (let i = 0; i < 8; i++) v.setUint32(4 * i, this.h[i]);
    return out;
  }
}

const S5 = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
const K5 = new Uint32Array(64).map((_, i) => Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32));

/** Incremental MD5 (for checking published MD5 sums only; not for security). */
export class Md5 extends BlockHash {
  private readonly h = new Uint32Array([0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476]);
  protected readonly bigEndianLength = false;

  protected compress(view: DataView, offset: number): void {
    const m = this.w;
    for (let t = 0; t < 16; t++) m[t] = view.getUint32(offset + 4 * t, true);
    const h = this.h;
    let a = h[0], b = h[1], c = h[2], d = h[3];
    for (let i = 0; i < 64; i++) {
      const round = i >> 4;
      let f: number, g: number;
      if (round === 0) {
        f = (b & c) | (~b & d);
        g = i;
      } else if (round === 1) {
        f = (d & b) | (~d & c);
        g = (5 * i + 1) & 15;
      } else if (round === 2) {
        f = b ^ c ^ d;
        g = (3 * i + 5) & 15;
      } else {
        f = c ^ (b | ~d);
        g = (7 * i) & 15;
      }
      const x = (a + f + K5[i] + m[g]) | 0;
      const s = S5[(round << 2) | (i & 3)];
      a = d;
      d = c;
      c = b;
      b = (b + ((x << s) | (x >>> (32 - s)))) | 0;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d;
  }

  protected digest(): Uint8Array {
    const out = new Uint8Array(16);
    const v = new DataView(out.buffer);
    for (let i = 0; i < 4; i++) v.setUint32(4 * i, this.h[i], true);
    return out;
  }
}

/** SHA-256 of bytes or a UTF-8 string, as hex. */
export async function sha256(bytes: Uint8Array | string): Promise<string> {
  const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  const digest = await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}
