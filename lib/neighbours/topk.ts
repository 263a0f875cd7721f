/**
 * Running top-k lists, one per row, merged from candidate lists that arrive
 * chunk by chunk (see `mineNeighbours`). Each list is kept sorted by
 * similarity, descending, with the lower index first among equal
 * similarities; empty slots hold `-Infinity` and index `-1`.
 *
 * @module
 */

/** `n` sorted lists of `k` (similarity, index) pairs. */
export class TopKLists {
  readonly sims: Float32Array;
  readonly indices: Int32Array;

  constructor(readonly n: number, readonly k: number) {
    this.sims = new Float32Array(n * k).fill(-Infinity);
    this.indices = new Int32Array(n * k).fill(-1);
  }

  /** Offer candidate `(sim, index)` to `row`'s list; false when it does not make the cut. */
  offer(row: number, sim: number, index: number): boolean {
    const sims = this.sims;
    const idx = this.indices;
    const base = row * this.k;
    let p = base + this.k - 1;
    if (!(sim > sims[p] || (sim === sims[p] && index < idx[p]))) return false;
    while (p > base && (sim > sims[p - 1] || (sim === sims[p - 1] && index < idx[p - 1]))) {
      sims[p] = sims[p - 1];
      idx[p] = idx[p - 1];
      p--;
    }
    sims[p] = sim;
    idx[p] = index;
    return true;
  }

  /**
   * Offer the rows of one `tf.topk` result: `rowCount` rows of `width`
   * candidates, row `r` belonging to list `firstRow + r`, candidate column `c`
   * being item `indexOffset + c`. With `excludeSelf` (mining a set against
   * itself), candidates equal to the row itself are skipped.
   */
  offerRows(
    values: Float32Array,
    columns: Int32Array,
    width: number,
    firstRow: number,
    rowCount: number,
    indexOffset: number,
    excludeSelf = true,
  ): void {
    for (let r = 0; r < rowCount; r++) {
      const row = firstRow + r;
      for (let j = r * width, end = j + width; j < end; j++) {
        const index = indexOffset + columns[j];
        if (!excludeSelf || index !== row) this.offer(row, values[j], index);
      }
    }
  }

  /**
   * Offer every entry of a query block to its row's list only: `block[i*cols + j]`
   * is the similarity of query `i` (list `i`) and item `c0 + j` (a search of
   * queries against another set, as kNN evaluation does). Most entries fall
   * below the current k-th best and cost one comparison.
   */
  offerQueryBlock(block: Float32Array, rows: number, cols: number, c0: number): void {
    const k = this.k;
    const best = this.sims;
    for (let i = 0; i < rows; i++) {
      const last = i * k + k - 1;
      let cut = best[last];
      for (let j = 0, b = i * cols; j < cols; j++) {
        // Equal entries lose to the lower index already kept, inside offer.
        if (block[b + j] >= cut && this.offer(i, block[b + j], c0 + j)) cut = best[last];
      }
    }
  }

  /**
   * Offer every entry of a similarity block: `block[i*cols + j]` is the
   * similarity of items `r0 + i` and `c0 + j`, offered to both items' lists
   * (only to the row's on the diagonal block, where the transpose repeats
   * it), the diagonal itself skipped. Most entries fall below the current
   * k-th best and cost two comparisons.
   */
  offerBlock(block: Float32Array, rows: number, cols: number, r0: number, c0: number): void {
    const k = this.k;
    const sims = this.sims;
    const diagonal = r0 === c0;
    for (let i = 0; i < rows; i++) {
      const row = r0 + i;
      const last = row * k + k - 1;
      let rowCut = sims[last];
      const base = i * cols;
      for (let j = 0; j < cols; j++) {
        const v = block[base + j];
        if (v >= rowCut && !(diagonal && j === i)) {
          if (this.offer(row, v, c0 + j)) rowCut = sims[last];
        }
        if (!diagonal) {
          const col = c0 + j;
          if (v >= sims[col * k + k - 1]) this.offer(col, v, row);
        }
      }
    }
  }

  /** The first row whose list is not full, or -1 when every list is. */
  firstIncomplete(): number {
    const last = this.k - 1;
    for (let row = 0; row < this.n; row++) if (this.indices[row * this.k + last] < 0) return row;
    return -1;
  }
}
