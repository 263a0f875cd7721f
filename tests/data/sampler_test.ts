/**
 * Batch samplers: neighbour-batch composition (anchor, then `neighbours`
 * distinct members of its top-`pool` list, never itself), each anchor once
 * per epoch, the dropped remainder, image-pass accounting, reproducible seeds,
 * differing epochs, exact resume from a saved state, option validation, and
 * the plain random sampler's once-per-epoch coverage.
 */
import assert from "assert";
import {
  type BatchSampler,
  NeighbourBatchSampler,
  RandomBatchSampler,
} from "../../lib/data/sampler.ts";

/** Synthetic neighbour lists: row i lists k distinct pseudo-random indices ≠ i. */
function fakeLists(n: number, k: number): { indices: Int32Array; n: number; k: number } {
  const indices = new Int32Array(n * k);
  let state = 12345;
  const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) % n;
  for (let i = 0; i < n; i++) {
    const row = new Set<number>();
    while (row.size < k) {
      const v = next();
      if (v !== i) row.add(v);
    }
    indices.set([...row], i * k);
  }
  return { indices, n, k };
}

const epochBatches = (s: BatchSampler, e: number) => [...s.epoch(e)].map((b) => Array.from(b));

Deno.test("NeighbourBatchSampler: paper default composition, 16 × (1 + 15) from the top 31", () => {
  const lists = fakeLists(1000, 40);
  const s = new NeighbourBatchSampler(lists);
  assert.equal(s.batchSize, 256);
  assert.equal(s.batchesPerEpoch, Math.floor(1000 / 16));
  assert.equal(s.imagesPerEpoch, 62 * 256);
  for (const batch of s.epoch(0)) {
    assert.equal(batch.length, 256);
    for (let a = 0; a < 16; a++) {
      const anchor = batch[a * 16];
      const top = new Set(lists.indices.subarray(anchor * 40, anchor * 40 + 31));
      const drawn = batch.subarray(a * 16 + 1, a * 16 + 16);
      assert.equal(new Set(drawn).size, 15, `anchor ${anchor}: neighbours repeat`);
      for (const v of drawn) {
        assert.ok(top.has(v), `neighbour ${v} of anchor ${anchor} is not in its top 31`);
        assert.notEqual(v, anchor);
      }
    }
  }
});

Deno.test("NeighbourBatchSampler: each anchor once per epoch, remainder dropped", () => {
  const n = 103;
  const s = new NeighbourBatchSampler(fakeLists(n, 10), {
    anchors: 8,
    neighbours: 3,
    pool: 5,
    seed: 4,
  });
  assert.equal(s.batchesPerEpoch, 12); // 96 anchors; 7 dropped
  assert.equal(s.imagesPerEpoch, 12 * 32);
  for (let e = 0; e < 3; e++) {
    const anchors = epochBatches(s, e).flatMap((b) => b.filter((_, i) => i % 4 === 0));
    assert.equal(anchors.length, 96);
    assert.equal(new Set(anchors).size, 96, `epoch ${e}: an anchor repeats`);
  }
});

Deno.test("NeighbourBatchSampler: dropLast false keeps a short last batch", () => {
  const s = new NeighbourBatchSampler(fakeLists(10, 4), {
    anchors: 4,
    neighbours: 2,
    pool: 3,
    dropLast: false,
  });
  const batches = epochBatches(s, 0);
  assert.deepEqual(batches.map((b) => b.length), [12, 12, 6]);
  assert.equal(s.imagesPerEpoch, 30);
  const anchors = batches.flatMap((b) => b.filter((_, i) => i % 3 === 0)).sort((a, b) => a - b);
  assert.deepEqual(anchors, [...Array(10).keys()]);
});

Deno.test("NeighbourBatchSampler: seeds reproduce, seeds and epochs differ", () => {
  const lists = fakeLists(200, 12);
  const opts = { anchors: 4, neighbours: 5, pool: 10 };
  const a = new NeighbourBatchSampler(lists, { ...opts, seed: 7 });
  const b = new NeighbourBatchSampler(lists, { ...opts, seed: 7 });
  const c = new NeighbourBatchSampler(lists, { ...opts, seed: 8 });
  assert.deepEqual(epochBatches(a, 0), epochBatches(b, 0));
  assert.deepEqual(epochBatches(a, 3), epochBatches(b, 3));
  assert.notDeepEqual(epochBatches(a, 0), epochBatches(c, 0));
  assert.notDeepEqual(epochBatches(a, 0), epochBatches(a, 1));
  // The draws vary too, not just the anchor order: some anchor gets other neighbours.
  const draws = (e: number) => {
    const m = new Map<number, string>();
    for (const batch of epochBatches(a, e)) {
      for (let i = 0; i < batch.length; i += 6) m.set(batch[i], batch.slice(i + 1, i + 6).join());
    }
    return m;
  };
  const d0 = draws(0), d1 = draws(1);
  assert.ok([...d0].some(([anchor, nn]) => d1.get(anchor) !== nn));
});

Deno.test("NeighbourBatchSampler: neighbours are uniform over the pool", () => {
  // One list per anchor, pool 4, draw 1: each slot should come up ~1/4 of the time.
  const n = 40, k = 6;
  const lists = fakeLists(n, k);
  const s = new NeighbourBatchSampler(lists, { anchors: 1, neighbours: 1, pool: 4, seed: 1 });
  const counts = [0, 0, 0, 0];
  for (let e = 0; e < 100; e++) {
    for (const [anchor, v] of s.epoch(e)) {
      counts[lists.indices.subarray(anchor * k, anchor * k + 4).indexOf(v)]++;
    }
  }
  for (const c of counts) assert.ok(Math.abs(c - 1000) < 120, `slot counts ${counts}`);
});

Deno.test("NeighbourBatchSampler: state resumes mid-epoch exactly", () => {
  const lists = fakeLists(64, 8);
  const opts = { anchors: 4, neighbours: 3, pool: 6, seed: 11 };
  const full = new NeighbourBatchSampler(lists, opts);
  const all = [...epochBatches(full, 0), ...epochBatches(full, 1)];
  assert.deepEqual(full.state(), { kind: "neighbour", seed: 11, epoch: 2, batch: 0 });

  const first = new NeighbourBatchSampler(lists, opts);
  const seen: number[][] = [];
  for (const b of first.epoch()) {
    seen.push(Array.from(b));
    if (seen.length === 5) break;
  }
  const saved = JSON.parse(JSON.stringify(first.state()));
  assert.deepEqual(saved, { kind: "neighbour", seed: 11, epoch: 0, batch: 5 });

  const resumed = new NeighbourBatchSampler(lists, opts);
  resumed.setState(saved);
  for (const b of resumed.epoch(0)) seen.push(Array.from(b));
  for (const b of resumed.epoch()) seen.push(Array.from(b)); // epoch 1 from its start
  assert.deepEqual(seen, all);
  assert.deepEqual(epochBatches(resumed, 0), epochBatches(full, 0), "explicit epoch restarts");

  assert.throws(() => resumed.setState({ ...saved, seed: 12 }), RangeError);
  assert.throws(() => resumed.setState({ ...saved, kind: "random" }), /"random" sampler/);
  assert.throws(() => resumed.setState({ ...saved, batch: 99 }), /state\.batch/);
});

Deno.test("NeighbourBatchSampler: options and lists are validated with one-line errors", () => {
  const lists = fakeLists(50, 10);
  assert.throws(
    () => new NeighbourBatchSampler(lists, { pool: 31 }),
    (e: Error) => e instanceof RangeError && /pool \(31\).*k \(10\)/.test(e.message),
  );
  assert.throws(() => new NeighbourBatchSampler(lists, { pool: 5, neighbours: 6 }), /neighbours/);
  assert.throws(
    () => new NeighbourBatchSampler(lists, { pool: 5, neighbours: 2, anchors: 0 }),
    /anchors/,
  );
  assert.throws(
    () => new NeighbourBatchSampler(lists, { pool: 5, neighbours: 2, anchors: 51 }),
    /anchors/,
  );
  assert.throws(
    () => new NeighbourBatchSampler(lists, { pool: 5, neighbours: 2, seed: 0.5 }),
    /seed/,
  );
  assert.throws(
    () => new NeighbourBatchSampler({ ...lists, k: 9 }, { pool: 5, neighbours: 2 }),
    /500 entries, expected n·k = 50·9/,
  );
  const self = fakeLists(50, 10);
  self.indices[3 * 10 + 2] = 3;
  assert.throws(
    () => new NeighbourBatchSampler(self, { pool: 5, neighbours: 2 }),
    /image 3 lists itself/,
  );
  const twice = fakeLists(50, 10);
  twice.indices[7 * 10 + 1] = twice.indices[7 * 10];
  assert.throws(
    () => new NeighbourBatchSampler(twice, { pool: 5, neighbours: 2 }),
    /image 7 lists neighbour/,
  );
  const out = fakeLists(50, 10);
  out.indices[0] = 50;
  assert.throws(
    () => new NeighbourBatchSampler(out, { pool: 5, neighbours: 2 }),
    /outside \[0, 50\)/,
  );
  const s = new NeighbourBatchSampler(lists, { pool: 5, neighbours: 2, anchors: 5 });
  assert.throws(() => s.epoch(-1), /epoch must be an integer/);
  assert.throws(() => s.epoch(0, { fromBatch: 99 }), /fromBatch must be an integer in \[0, 10\]/);
});

Deno.test("RandomBatchSampler: each index once per epoch, reproducible, remainder policy", () => {
  const s = new RandomBatchSampler(103, { batchSize: 10, seed: 2 });
  assert.equal(s.batchesPerEpoch, 10);
  assert.equal(s.imagesPerEpoch, 100);
  const e0 = epochBatches(s, 0);
  assert.ok(e0.every((b) => b.length === 10));
  assert.equal(new Set(e0.flat()).size, 100);
  assert.deepEqual(e0, epochBatches(new RandomBatchSampler(103, { batchSize: 10, seed: 2 }), 0));
  assert.notDeepEqual(e0, epochBatches(s, 1));

  const keep = new RandomBatchSampler(103, { batchSize: 10, seed: 2, dropLast: false });
  const all = epochBatches(keep, 5);
  assert.equal(all.length, 11);
  assert.equal(all[10].length, 3);
  assert.deepEqual(all.flat().sort((a, b) => a - b), [...Array(103).keys()]);
  assert.equal(keep.imagesPerEpoch, 103);

  assert.throws(() => new RandomBatchSampler(10, { batchSize: 0 }), /batchSize/);
  assert.throws(() => new RandomBatchSampler(10, { batchSize: 11 }), /batchSize/);
  assert.throws(() => new RandomBatchSampler(0, { batchSize: 1 }), /n must be/);
});

Deno.test("samplers: image passes per epoch, neighbour epoch ≈ (1 + neighbours) × plain", () => {
  const n = 4096;
  const plain = new RandomBatchSampler(n, { batchSize: 256 });
  const nb = new NeighbourBatchSampler(fakeLists(n, 31));
  assert.equal(plain.imagesPerEpoch, 4096);
  assert.equal(nb.imagesPerEpoch, 16 * 4096);
  let passes = 0;
  for (const b of nb.epoch(0)) passes += b.length;
  assert.equal(passes, nb.imagesPerEpoch);
});
