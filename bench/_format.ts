/**
 * Number and cell formatting shared by the bench's Markdown tables.
 *
 * @module
 */

/**
 * A number with about three significant digits, without exponent notation.
 *
 * @example
 * ```ts
 * import { fmt } from "./_format.ts";
 * console.log(fmt(2512.4), fmt(38.25), fmt(0.4567)); // "2512" "38.3" "0.457"
 * ```
 */
export function fmt(x: number | null | undefined): string {
  if (x == null || !Number.isFinite(x)) return "";
  const a = Math.abs(x);
  return a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : a >= 1 ? x.toFixed(2) : x.toFixed(3);
}

const MiB = 1024 * 1024;

/** Bytes as MiB with {@linkcode fmt}, or "" for null. */
export function mib(bytes: number | null | undefined): string {
  return bytes == null ? "" : `${fmt(bytes / MiB)}`;
}

/** `peak (start)` in MiB, or just the peak when the start is unknown. */
export function rssCell(peak: number | null | undefined, start: number | null | undefined): string {
  if (peak == null) return "";
  return start == null ? mib(peak) : `${mib(peak)} (${mib(start)})`;
}

/** A table cell: pipes escaped, newlines flattened. */
export function cell(s: string): string {
  return s.replaceAll("|", "\\|").replaceAll("\n", " ");
}
