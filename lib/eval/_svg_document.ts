/**
 * Private helpers of ./plot.ts: a linkedom document for Observable Plot, a
 * categorical palette, Plot panels whose left margin fits their tick labels,
 * and the composition of panels, a title and a legend into one standalone
 * `<svg xmlns=…>` (nested `<svg x y>` per panel, so each keeps its viewBox).
 *
 * @module
 */
import * as Plot from "@observablehq/plot";
import { parseHTML } from "linkedom";

/** The SVG namespace; the root carries it so that a written `.svg` file renders. */
export const SVG_NS = "http://www.w3.org/2000/svg";
const FONT_FAMILY = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif";
/** Font size of panel text (ticks, axis labels). */
const PANEL_FONT = 11;
/** A generous average glyph width at {@linkcode PANEL_FONT}, for layout only. */
const CHAR_WIDTH = 6.6;
/** Outer padding and gap between panels. */
export const PAD = 12;
export const GAP = 16;
const LEGEND_ROW = 18;
const MAX_LEGEND_ITEMS = 30;

/** The few DOM members used here; Deno's type library has no DOM. */
export interface SvgElement {
  readonly tagName: string;
  textContent: string | null;
  readonly outerHTML: string;
  getAttribute(name: string): string | null;
  setAttribute(name: string, value: string): void;
  removeAttribute(name: string): void;
  appendChild(child: SvgElement): unknown;
  querySelectorAll(selectors: string): ArrayLike<SvgElement>;
  remove(): void;
}

/** A document that creates {@linkcode SvgElement}s. */
export interface SvgDocument {
  createElementNS(namespace: string, name: string): SvgElement;
}

/** A fresh HTML document that Observable Plot can render into. */
export function newDocument(): SvgDocument {
  const window = parseHTML("<!DOCTYPE html><html><body></body></html>");
  return (window as unknown as { document: SvgDocument }).document;
}

/** `n` distinct categorical colours: Observable's 10 for up to 10, else a rainbow. */
export function palette(n: number): string[] {
  if (n <= 0) return [];
  const domain = Array.from({ length: n }, (_, i) => i);
  const scheme = n <= 10 ? "observable10" : "rainbow";
  return (Plot.scale({ color: { type: "ordinal", scheme, domain } }).range as string[]).slice(0, n);
}

/** Estimated rendered width of `text` at `fontSize`. */
export function textWidth(text: string, fontSize = PANEL_FONT): number {
  return text.length * CHAR_WIDTH * (fontSize / PANEL_FONT);
}

/** One rendered Plot panel. */
export interface Panel {
  /** The `<svg>` element Plot returned. */
  element: SvgElement;
  width: number;
  height: number;
  /** Bold heading drawn centred above the panel. */
  heading?: string;
}

/**
 * Render `options` with Plot into `doc` as one `<svg>`, without Plot's
 * `<style>` (its `height: auto` would break nested SVGs), then widen the left
 * margin once if the y tick labels need more room than `options.marginLeft`.
 */
export function plotPanel(doc: SvgDocument, options: Plot.PlotOptions): Panel {
  const render = (marginLeft: number): SvgElement => {
    const el = Plot.plot({
      ...options,
      marginLeft,
      document: doc as unknown as Plot.PlotOptions["document"],
    }) as unknown as SvgElement;
    if (el.tagName.toLowerCase() !== "svg") {
      throw new Error(`plotPanel: Plot returned <${el.tagName}>, not <svg>`);
    }
    for (const style of Array.from(el.querySelectorAll("style"))) style.remove();
    el.removeAttribute("class");
    el.setAttribute("font-size", String(PANEL_FONT));
    return el;
  };
  const margin = options.marginLeft ?? 40;
  let el = render(margin);
  const labels = Array.from(el.querySelectorAll('g[aria-label="y-axis tick label"] text'));
  const widest = Math.max(0, ...labels.map((t) => textWidth(t.textContent ?? "")));
  const needed = Math.ceil(widest + 14);
  if (needed > margin) el = render(needed);
  return {
    element: el,
    width: Number(el.getAttribute("width")),
    height: Number(el.getAttribute("height")),
  };
}

/** Options of {@linkcode composeSvg}. */
export interface ComposeOptions {
  width: number;
  columns: number;
  title?: string;
  legend?: { label: string; color: string }[];
  /** Text shown in place of the panels when there are none. */
  empty?: string;
}

/**
 * Lay out `panels` in a grid under an optional title and legend, and return
 * the outer `<svg>` as a string.
 */
export function composeSvg(doc: SvgDocument, panels: Panel[], options: ComposeOptions): string {
  const { width, columns } = options;
  const el = (name: string, attrs: Record<string, string | number>, text?: string): SvgElement => {
    const node = doc.createElementNS(SVG_NS, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const root = el("svg", {
    xmlns: SVG_NS,
    width,
    height: 0,
    viewBox: "",
    "font-family": FONT_FAMILY,
    "font-size": 12,
    color: "#222",
    fill: "currentColor",
  });
  const background = el("rect", { width: "100%", height: "100%", fill: "white" });
  root.appendChild(background);
  let y = PAD;
  if (options.title) {
    root.appendChild(
      el("text", {
        x: width / 2,
        y: y + 14,
        "text-anchor": "middle",
        "font-size": 16,
        "font-weight": "bold",
      }, options.title),
    );
    y += 28;
  }
  const items = options.legend ?? [];
  if (items.length > 0) {
    const legend = el("g", { "aria-label": "legend" });
    const shown = items.slice(0, MAX_LEGEND_ITEMS);
    const entries = shown.map((item) => ({ ...item, w: 18 + textWidth(item.label, 12) + 16 }));
    if (items.length > shown.length) {
      entries.push({ label: `+${items.length - shown.length} more`, color: "", w: 80 });
    }
    // Centre each row of swatches.
    const rows: (typeof entries)[] = [[]];
    let used = 0;
    for (const e of entries) {
      if (used + e.w > width - 2 * PAD && rows.at(-1)!.length > 0) {
        rows.push([]);
        used = 0;
      }
      rows.at(-1)!.push(e);
      used += e.w;
    }
    for (const row of rows) {
      let x = (width - row.reduce((s, e) => s + e.w, 0)) / 2;
      for (const e of row) {
        const g = el("g", { transform: `translate(${x.toFixed(1)},${y})` });
        if (e.color) g.appendChild(el("rect", { width: 12, height: 12, rx: 2, fill: e.color }));
        g.appendChild(el("text", { x: e.color ? 18 : 0, y: 10 }, e.label));
        legend.appendChild(g);
        x += e.w;
      }
      y += LEGEND_ROW;
    }
    root.appendChild(legend);
    y += 6;
  }
  if (panels.length === 0) {
    root.appendChild(
      el(
        "text",
        { x: width / 2, y: y + 40, "text-anchor": "middle", fill: "#888" },
        options.empty ?? "no data",
      ),
    );
    y += 80;
  }
  for (let start = 0; start < panels.length; start += columns) {
    const row = panels.slice(start, start + columns);
    const headed = row.some((p) => p.heading);
    const rowHeight = Math.max(...row.map((p) => p.height)) + (headed ? 20 : 0);
    row.forEach((panel, c) => {
      const x = PAD + c * (panel.width + GAP);
      if (panel.heading) {
        root.appendChild(
          el("text", {
            x: x + panel.width / 2,
            y: y + 13,
            "text-anchor": "middle",
            "font-weight": "bold",
          }, panel.heading),
        );
      }
      panel.element.setAttribute("x", String(x));
      panel.element.setAttribute("y", String(y + (headed ? 20 : 0)));
      root.appendChild(panel.element);
    });
    y += rowHeight + GAP;
  }
  const height = Math.ceil(y - GAP + PAD);
  root.setAttribute("height", String(height));
  root.setAttribute("viewBox", `0 0 ${width} ${height}`);
  return root.outerHTML;
}

/** The distinct values, in order of first appearance. */
export function unique<T>(values: T[]): T[] {
  return [...new Set(values)];
}

/** `width`, rounded, when it is a number ≥ 200. */
export function checkWidth(who: string, width: number): number {
  if (!Number.isFinite(width) || width < 200) {
    throw new RangeError(`${who}: width must be a number ≥ 200, got ${width}`);
  }
  return Math.round(width);
}

/** As many columns of at least `minPanel` pixels as fit, at most `count`. */
export function gridColumns(width: number, count: number, minPanel: number): number {
  const fit = Math.floor((width - 2 * PAD + GAP) / (minPanel + GAP));
  return Math.max(1, Math.min(count, fit));
}

/** Width of each of `columns` panels side by side in a figure `width` wide. */
export function panelWidth(width: number, columns: number): number {
  return Math.floor((width - 2 * PAD - (columns - 1) * GAP) / columns);
}
