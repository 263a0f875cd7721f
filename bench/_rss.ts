/**
 * Peak resident memory of this process over one case.
 *
 * Preferred: the kernel's own high-water mark, VmHWM, reset before the case
 * by writing 5 to `/proc/<pid>/clear_refs` and read after it. Deno refuses
 * `/proc` without `--allow-all`, so `bench.py --rss` does both on our behalf.
 * Fallback, when the interpreter cannot run: the largest
 * `Deno.memoryUsage().rss` seen between iterations, which misses peaks
 * inside a step.
 *
 * Either way the figure covers the whole process: the tfjs runtime, and the
 * wasm heap, which only ever grows, so a case's peak includes what earlier
 * cases left resident. `startBytes` (RSS when the case began) separates the two.
 *
 * @module
 */
import type { PythonRunner } from "./_python.ts";

/** How a peak was measured: the kernel's VmHWM, or samples between iterations. */
export type RssMethod = "vmhwm" | "sampled";

/** Resident memory over one case, in bytes. */
export interface RssWindow {
  method: RssMethod;
  /** RSS when the case began. */
  startBytes: number;
  /** Highest RSS during the case. */
  peakBytes: number;
}

/** Measures {@linkcode RssWindow}s, one case at a time. */
export class RssMeter {
  #runner?: PythonRunner;
  #start = 0;
  #peak = 0;
  #method: RssMethod = "sampled";

  /** @param runner Runs `bench.py --rss`; without one, RSS is sampled. */
  constructor(runner?: PythonRunner) {
    this.#runner = runner;
  }

  /** Start a window: reset the kernel's peak (or start sampling). */
  async start(): Promise<void> {
    if (this.#runner) {
      try {
        const r = await this.#runner.rss(Deno.pid, true);
        this.#method = "vmhwm";
        this.#start = r.rssBytes;
        this.#peak = r.peakBytes;
        return;
      } catch {
        this.#runner = undefined; // a failure is permanent (no interpreter, no /proc): sample
      }
    }
    this.#method = "sampled";
    this.#start = this.#peak = Deno.memoryUsage().rss;
  }

  /** Record the current RSS (used only when sampling). */
  sample(): void {
    if (this.#method === "sampled") this.#peak = Math.max(this.#peak, Deno.memoryUsage().rss);
  }

  /** End the window and return it. */
  async stop(): Promise<RssWindow> {
    this.sample();
    if (this.#method === "vmhwm" && this.#runner) {
      try {
        // The kernel's per-thread RSS counters sync lazily: the peak may read a little under the start.
        this.#peak = Math.max(this.#start, (await this.#runner.rss(Deno.pid, false)).peakBytes);
      } catch {
        this.#method = "sampled";
      }
    }
    return { method: this.#method, startBytes: this.#start, peakBytes: this.#peak };
  }
}
