import assert from "assert";
import { DOMParser } from "linkedom";
import {
  type CurvePoint,
  embeddingMapSvg,
  type MapPanel,
  nnIoUBarsSvg,
  trainingCurvesSvg,
} from "../../lib/eval/plot.ts";
import { pca } from "../../lib/eval/pca.ts";
import { labelled, randomMatrix } from "./_data.ts";

interface Node {
  readonly tagName: string;
  readonly textContent: string | null;
  readonly children: ArrayLike<Node>;
  getAttribute(name: string): string | null;
  querySelectorAll(selectors: string): ArrayLike<Node>;
}

/** Parse `svg`, checking that it is one well-formed standalone `<svg xmlns=…>` element. */
function parse(svg: string): Node {
  assert.ok(svg.startsWith("<svg") && svg.endsWith("</svg>"), svg.slice(0, 80));
  // Tags must balance, so the string is well-formed XML with a single root.
  const stack: string[] = [];
  for (const [, close, name, self] of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    if (self) continue;
    if (close) assert.equal(stack.pop(), name, `unbalanced </${name}>`);
    else {
      assert.ok(stack.length > 0 || svg.indexOf(`<${name}`) === 0, "more than one root element");
      stack.push(name);
    }
  }
  assert.deepEqual(stack, []);
  const doc = new DOMParser().parseFromString(svg, "image/svg+xml") as unknown as {
    documentElement: Node;
  };
  const root = doc.documentElement;
  assert.equal(root.tagName.toLowerCase(), "svg");
  assert.equal(root.getAttribute("xmlns"), "http://www.w3.org/2000/svg");
  assert.match(root.getAttribute("viewBox") ?? "", /^0 0 \d+ \d+$/);
  assert.ok(!svg.includes("NaN"), "the SVG holds a NaN");
  return root;
}

const all = (root: Node, selectors: string): Node[] => Array.from(root.querySelectorAll(selectors));
const texts = (root: Node, selectors = "text"): string[] =>
  all(root, selectors).map((t) => t.textContent ?? "");
/** Panels are the `<svg>` elements nested in the root. */
const panels = (root: Node): Node[] => all(root, "svg");

function vertices(path: Node): number {
  return (path.getAttribute("d") ?? "").split(/[ML]/).filter((s) => s.length > 0).length;
}

Deno.test("trainingCurvesSvg: one panel per metric, one path per run, NaN points dropped", () => {
  const points: CurvePoint[] = [];
  for (const run of ["alpha", "beta"]) {
    for (let step = 0; step < 10; step++) {
      points.push({ run, step, metric: "loss", value: run === "alpha" ? -step : -2 * step });
      points.push({ run, step, metric: "L_co", value: step === 4 ? NaN : step / 10 });
    }
    points.push({ run, step: 9, metric: "kNN top-1", value: run === "alpha" ? 0.7 : 0.8 });
  }
  points.push({ run: "alpha", step: 3, metric: "diverged", value: NaN });
  points.push({ run: "beta", step: Infinity, metric: "loss", value: 1 });
  const svg = trainingCurvesSvg(points, { title: "Runs" });
  const root = parse(svg);
  const boxes = panels(root);
  assert.equal(boxes.length, 3, "loss, L_co, kNN top-1; no panel for the all-NaN metric");
  const headings = texts(root).filter((t) => ["loss", "L_co", "kNN top-1", "diverged"].includes(t));
  assert.deepEqual(headings, ["loss", "L_co", "kNN top-1"]);
  const [loss, co, knn] = boxes;
  assert.equal(all(loss, 'g[aria-label="line"] path').length, 2);
  all(loss, 'g[aria-label="line"] path').forEach((p) => assert.equal(vertices(p), 10));
  assert.equal(all(co, 'g[aria-label="line"] path').length, 2);
  all(co, 'g[aria-label="line"] path').forEach((p) => assert.equal(vertices(p), 9));
  // One value per run: no line to draw, one dot per run instead.
  assert.equal(all(knn, 'g[aria-label="line"] path').length, 0);
  assert.equal(all(knn, 'g[aria-label="dot"] circle').length, 2);
  assert.deepEqual(texts(root, 'g[aria-label="legend"] text'), ["alpha", "beta"]);
  assert.ok(texts(root).includes("Runs"));
  // The two runs are drawn in the legend's two colours.
  const swatches = all(root, 'g[aria-label="legend"] rect').map((r) => r.getAttribute("fill"));
  const strokes = all(loss, 'g[aria-label="line"] path').map((p) => p.getAttribute("stroke"));
  assert.deepEqual(strokes, swatches);
  assert.notEqual(swatches[0], swatches[1]);
  assert.equal(trainingCurvesSvg(points, { title: "Runs" }), svg, "deterministic");
});

Deno.test("trainingCurvesSvg: a single run has no legend; wide tick labels widen the margin", () => {
  const points = [0, 1, 2].map((step) => ({
    run: "r",
    step,
    metric: "lr",
    value: 1e6 * (step + 1),
  }));
  const root = parse(trainingCurvesSvg(points));
  assert.equal(all(root, 'g[aria-label="legend"]').length, 0);
  const [panel] = panels(root);
  const ticks = texts(panel, 'g[aria-label="y-axis tick label"] text');
  const widest = Math.max(...ticks.map((t) => t.length));
  assert.ok(widest >= 9, `tick labels ${ticks}`);
  // The y axis sits at the left margin, which must hold the widest label.
  const x = Number(
    /translate\(([\d.]+),/.exec(
      all(panel, 'g[aria-label="y-axis tick"] path')[0].getAttribute("transform")!,
    )![1],
  );
  assert.ok(x >= widest * 6, `axis at x = ${x} for ${widest}-character labels`);
});

Deno.test("trainingCurvesSvg: no finite value gives an empty figure, not an error", () => {
  const root = parse(trainingCurvesSvg([{ run: "r", step: 0, metric: "loss", value: NaN }]));
  assert.equal(panels(root).length, 0);
  assert.ok(texts(root).some((t) => t.includes("no finite values")));
  parse(trainingCurvesSvg([]));
});

function mapPanels(n: number): MapPanel[] {
  return [
    { name: "teacher", features: randomMatrix(n, 8, 1) },
    { name: "student", features: randomMatrix(n, 5, 2) },
  ];
}

Deno.test("embeddingMapSvg: all points, class colours and names, explained variance in the labels", () => {
  const n = 40;
  const maps = mapPanels(n);
  const labels = labelled(n, 3, 4);
  const names = ["cat", "dog", "bird", "fish"]; // "fish" never occurs
  const root = parse(embeddingMapSvg(maps, labels, { classNames: names, title: "Map" }));
  const boxes = panels(root);
  assert.equal(boxes.length, 2);
  assert.deepEqual(texts(root, 'g[aria-label="legend"] text'), ["cat", "dog", "bird"]);
  const swatch = new Map(
    all(root, 'g[aria-label="legend"] g').map((g) => [
      g.children[0].getAttribute("fill"),
      g.children[1].textContent,
    ]),
  );
  boxes.forEach((box, p) => {
    const dots = all(box, 'g[aria-label="dot"] circle');
    assert.equal(dots.length, n);
    // Each class is drawn in its legend colour, as often as it occurs.
    for (const [c, name] of names.entries()) {
      const fills = dots.filter((d) => swatch.get(d.getAttribute("fill")) === name).length;
      assert.equal(fills, labels.filter((l) => l === c).length, name);
    }
    const { explained } = pca(maps[p].features);
    const [xLabel] = texts(box, 'g[aria-label="x-axis label"] text');
    const [yLabel] = texts(box, 'g[aria-label="y-axis label"] text');
    assert.equal(xLabel, `PC1 (${(100 * explained[0]).toFixed(1)}%)`);
    assert.equal(yLabel, `PC2 (${(100 * explained[1]).toFixed(1)}%)`);
  });
  assert.ok(texts(root).includes("teacher") && texts(root).includes("student"));
});

Deno.test("embeddingMapSvg: deterministic subsample of maxPoints rows per panel", () => {
  const n = 300;
  const maps = mapPanels(n);
  const labels = labelled(n, 10, 5);
  const svg = embeddingMapSvg(maps, labels, { maxPoints: 50 });
  const root = parse(svg);
  panels(root).forEach((box) => assert.equal(all(box, 'g[aria-label="dot"] circle').length, 50));
  assert.equal(embeddingMapSvg(maps, labels, { maxPoints: 50 }), svg);
  assert.notEqual(embeddingMapSvg(maps, labels, { maxPoints: 50, seed: 1 }), svg);
  // Without class names the legend shows the class indices that occur, in order.
  const legend = texts(root, 'g[aria-label="legend"] text');
  assert.deepEqual(legend, [...legend].sort((a, b) => Number(a) - Number(b)));
  assert.ok(legend.every((t) => /^\d$/.test(t)));
});

Deno.test("embeddingMapSvg: a row with NaN in any panel is dropped from every panel", () => {
  const n = 20;
  const maps = mapPanels(n);
  maps[1].features.features[3 * 5 + 2] = NaN;
  maps[0].features.features[7 * 8] = Infinity;
  const root = parse(embeddingMapSvg(maps, labelled(n, 2, 6)));
  panels(root).forEach((box) => assert.equal(all(box, 'g[aria-label="dot"] circle').length, n - 2));
  // Every row NaN: empty panels, 0% explained, no crash.
  const empty = [{
    name: "x",
    features: { features: new Float32Array(6).fill(NaN), n: 3, dim: 2 },
  }];
  const none = parse(embeddingMapSvg(empty, new Int32Array(3)));
  assert.equal(all(none, "circle").length, 0);
  assert.ok(texts(none).includes("PC1 (0.0%)"));
  // One feature: PC1 holds all the variance, PC2 is flat.
  const line = [{ name: "1-d", features: { features: new Float32Array([1, 2, 4]), n: 3, dim: 1 } }];
  const oneD = parse(embeddingMapSvg(line, new Int32Array(3)));
  assert.equal(all(oneD, "circle").length, 3);
  assert.ok(texts(oneD).includes("PC1 (100.0%)") && texts(oneD).includes("PC2 (0.0%)"));
});

Deno.test("embeddingMapSvg: rejects mismatched shapes and bad options", () => {
  const maps = mapPanels(10);
  assert.throws(() => embeddingMapSvg(maps, new Int32Array(9)), /panel "teacher" .* 9 labels/);
  assert.throws(() => embeddingMapSvg([], new Int32Array(0)), RangeError);
  assert.throws(() => embeddingMapSvg(maps, new Int32Array(10), { maxPoints: 0 }), RangeError);
  // deno-lint-ignore no-explicit-any
  assert.throws(() => embeddingMapSvg(maps, [0, 1] as any), TypeError);
});

Deno.test("nnIoUBarsSvg: one bar per run and k, heights proportional to NN-IoU", () => {
  const runs = ["random", "λ=0", "λ=1"], ks = [50, 10, 20, 100];
  const iou = (r: number, k: number) => Math.min(1, 0.01 * (r + 1) * Math.sqrt(k));
  const bars = ks.flatMap((k) => runs.map((run, r) => ({ run, k, iou: iou(r, k) })));
  bars.push({ run: "λ=1", k: 200, iou: NaN }, { run: "λ=0", k: 10, iou: 0.5 }); // NaN; a repeat
  const svg = nnIoUBarsSvg(bars, { title: "NN-IoU" });
  const root = parse(svg);
  const rects = all(root, 'g[aria-label="bar"] rect');
  assert.equal(rects.length, runs.length * ks.length);
  const heights = rects.map((r) => Number(r.getAttribute("height")));
  const values = [10, 20, 50, 100].flatMap((k) =>
    runs.map((_, r) => k === 10 && r === 1 ? 0.5 : iou(r, k))
  );
  const unit = heights[0] / values[0];
  heights.forEach((h, i) => assert.ok(Math.abs(h - unit * values[i]) < 1e-6, `bar ${i}`));
  assert.deepEqual(texts(root, 'g[aria-label="fx-axis tick label"] text'), [
    "10",
    "20",
    "50",
    "100",
  ]);
  assert.deepEqual(texts(root, 'g[aria-label="legend"] text'), runs);
  assert.ok(texts(root, 'g[aria-label="text"] text').includes("0.500"));
  assert.equal(nnIoUBarsSvg(bars, { title: "NN-IoU" }), svg);
});

Deno.test("nnIoUBarsSvg: NaN-only input renders empty; values outside [0, 1] are rejected", () => {
  const root = parse(nnIoUBarsSvg([{ run: "r", k: 10, iou: NaN }]));
  assert.equal(all(root, "rect").length, 1, "only the background");
  assert.throws(() => nnIoUBarsSvg([{ run: "r", k: 10, iou: 1.5 }]), /"r" at k = 10 is 1.5/);
  assert.throws(() => nnIoUBarsSvg([], { width: 50 }), RangeError);
});
