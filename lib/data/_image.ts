/**
 * PNG and JPEG: read the size from the header without decoding, and decode
 * to 8-bit RGB with the maintained npm decoders (`pngjs`, `jpeg-js`).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { PNG } from "pngjs";
import jpeg from "jpeg-js";

/** What a header says about an image file. */
export interface ImageHeader {
  format: "png" | "jpeg";
  height: number;
  width: number;
  /** File size in bytes and modification time, for fingerprints. */
  size: number;
  mtime: number;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** JPEG start-of-frame markers: C0–CF except DHT (C4), JPG (C8) and DAC (CC). */
const SOF = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

async function readAt(file: Deno.FsFile, offset: number, n: number): Promise<Uint8Array> {
  await file.seek(offset, Deno.SeekMode.Start);
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const k = await file.read(out.subarray(got));
    if (k === null) break;
    got += k;
  }
  return out.subarray(0, got);
}

/**
 * Read an image's format and size from its first bytes (PNG: the IHDR chunk;
 * JPEG: the first start-of-frame segment).
 *
 * @throws {Error} When the file is neither, or its header is cut short; the message is the reason only.
 */
export async function readImageHeader(path: string): Promise<ImageHeader> {
  const file = await Deno.open(path, { read: true });
  try {
    const info = await file.stat();
    const stamp = { size: info.size, mtime: info.mtime?.getTime() ?? 0 };
    const head = await readAt(file, 0, 32);
    if (PNG_SIGNATURE.every((b, i) => head[i] === b)) {
      const view = new DataView(head.buffer, head.byteOffset, head.length);
      if (head.length < 24 || new TextDecoder().decode(head.subarray(12, 16)) !== "IHDR") {
        throw new Error("a PNG without an IHDR chunk");
      }
      return { format: "png", width: view.getUint32(16), height: view.getUint32(20), ...stamp };
    }
    if (head[0] !== 0xff || head[1] !== 0xd8) {
      const hex = Array.from(head.subarray(0, 4), (b) => b.toString(16).padStart(2, "0")).join(" ");
      throw new Error(`neither PNG nor JPEG (starts with ${hex || "nothing"})`);
    }
    let at = 2;
    while (at < stamp.size) {
      const seg = await readAt(file, at, 9);
      if (seg.length < 2 || seg[0] !== 0xff) break;
      const marker = seg[1];
      if (marker === 0xff) {
        at += 1; // fill byte
        continue;
      }
      if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
        at += 2;
        continue;
      }
      if (seg.length < 4 || marker === 0xd9 || marker === 0xda) break;
      if (SOF.has(marker)) {
        if (seg.length < 9) break;
        const v = new DataView(seg.buffer, seg.byteOffset, seg.length);
        return { format: "jpeg", height: v.getUint16(5), width: v.getUint16(7), ...stamp };
      }
      at += 2 + ((seg[2] << 8) | seg[3]);
    }
    throw new Error("a JPEG without a readable frame header (truncated?)");
  } finally {
    file.close();
  }
}

/** The default pixel limit of an image file (height × width): 50 megapixels, 200 MB decoded. */
export const DEFAULT_MAX_PIXELS = 50_000_000;

/** An image whose header claims more pixels than allowed: refused before decoding. */
export class PixelLimitError extends RangeError {
  /**
   * @param height The header's height.
   * @param width The header's width.
   * @param limit The limit it exceeds.
   */
  constructor(readonly height: number, readonly width: number, readonly limit: number) {
    super(
      `its header claims ${height}×${width} (h×w) = ${height * width} pixels, ` +
        `above the limit of ${limit}`,
    );
    this.name = "PixelLimitError";
  }
}

/** Throw {@linkcode PixelLimitError} when `height × width` exceeds `limit`. */
export function checkPixels(height: number, width: number, limit: number): void {
  if (height * width > limit) throw new PixelLimitError(height, width, limit);
}

/** A decoded image, 8-bit RGB, row-major HWC. */
export interface DecodedImage {
  height: number;
  width: number;
  rgb: Uint8Array;
}

/**
 * Decode PNG or JPEG bytes to RGB. PNG alpha is dropped (not composited);
 * 16-bit PNGs are scaled to 8 bits by pngjs; grey images are repeated to RGB.
 *
 * The header's size is checked against `maxPixels` before any pixel is
 * inflated: a small PNG can claim 20000×20000 pixels (a decompression bomb).
 *
 * @throws {PixelLimitError} When the header claims more than `maxPixels` pixels.
 * @throws {Error} On a corrupt file; the message is the decoder's reason.
 */
export function decodeImage(bytes: Uint8Array, maxPixels = DEFAULT_MAX_PIXELS): DecodedImage {
  if (PNG_SIGNATURE.every((b, i) => bytes[i] === b)) {
    if (bytes.length >= 24) {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
      checkPixels(view.getUint32(20), view.getUint32(16), maxPixels);
    }
    const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
    const n = png.width * png.height;
    const rgb = new Uint8Array(n * 3);
    const rgba = png.data;
    for (let p = 0; p < n; p++) {
      rgb[3 * p] = rgba[4 * p];
      rgb[3 * p + 1] = rgba[4 * p + 1];
      rgb[3 * p + 2] = rgba[4 * p + 2];
    }
    return { height: png.height, width: png.width, rgb };
  }
  if (bytes[0] === 0xff && bytes[1] === 0xd8) {
    const img = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: false,
      tolerantDecoding: false,
      maxResolutionInMP: maxPixels / 1e6,
    });
    return { height: img.height, width: img.width, rgb: img.data };
  }
  throw new Error("neither PNG nor JPEG");
}

/**
 * Write an RGB image into `out` at `offset` as float32 in [0, 1] with
 * `channels` channels: 3 copies RGB, 1 takes the luma `0.299 R + 0.587 G + 0.114 B`
 * (ITU-R BT.601, as PIL's `convert("L")`), exact for grey pixels.
 */
export function toUnitFloat(
  rgb: Uint8Array,
  channels: 1 | 3,
  out: Float32Array,
  offset: number,
): void {
  const n = rgb.length / 3;
  if (channels === 3) {
    for (let i = 0; i < rgb.length; i++) out[offset + i] = rgb[i] / 255;
    return;
  }
  for (let p = 0; p < n; p++) {
    const r = rgb[3 * p], g = rgb[3 * p + 1], b = rgb[3 * p + 2];
    out[offset + p] = r === g && g === b ? r / 255 : (0.299 * r + 0.587 * g + 0.114 * b) / 255;
  }
}
