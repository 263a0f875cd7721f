/**
 * A small progress reporter for long work (teacher passes, neighbour mining):
 * a cli-progress bar on a terminal, else one line on stderr every ~10%, so
 * that logs from CI and `nohup` runs stay short and readable.
 *
 * @module
 */
import cliProgress from "cli-progress";

/** Options for {@linkcode progress}. */
export interface ProgressOptions {
  /**
   * Unit shown after the counts, e.g. `"images"`.
   *
   * @default {""}
   */
  unit?: string;
  /**
   * Draw a live bar (`true`) or print lines (`false`).
   *
   * @default {Deno.stderr.isTerminal()} (and `false` whenever `write` is given)
   */
  tty?: boolean;
  /**
   * Where line-mode reports go.
   *
   * @default {console.error}
   */
  write?: (line: string) => void;
  /**
   * Line mode: print a line each time this fraction of `total` is passed.
   *
   * @default {0.1}
   */
  every?: number;
}

/** A running report, from {@linkcode progress}. */
export interface Progress {
  /** Record `n` more units of work done (clamped to the total). */
  tick(n?: number): void;
  /** Finish: stop the bar, or print the closing line. Safe to call twice. */
  done(): void;
}

/** Whole numbers as they are, fractional ones (work in millions, say) to one decimal. */
function count(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

function seconds(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - 60 * m)} s`;
}

/**
 * Report progress of `total` units of work under `label`, to stderr: a bar on
 * a terminal, else a line every ~10% with elapsed time and an estimate of the
 * time left (a straight-line extrapolation).
 *
 * @example
 * ```ts
 * import { progress } from "./progress.ts";
 *
 * const lines: string[] = [];
 * const p = progress("mining", 200, { unit: "rows", write: (l) => lines.push(l) });
 * for (let i = 0; i < 4; i++) p.tick(50);
 * p.done();
 * console.log(lines.length); // 4: at 25%, 50%, 75%, then "mining: done (200/200 rows) in …"
 * ```
 *
 * @param label What is being done, e.g. `kNN 60000x512`.
 * @param total Units of work in all (positive).
 * @param options Unit, output and cadence.
 * @returns A reporter: call `tick(n)` as work completes and `done()` at the end.
 * @throws {RangeError} When `total` is not a positive finite number.
 */
export function progress(label: string, total: number, options: ProgressOptions = {}): Progress {
  if (!(Number.isFinite(total) && total > 0)) {
    throw new RangeError(`progress: total must be a positive number, got ${total}`);
  }
  const unit = options.unit ? ` ${options.unit}` : "";
  const tty = options.write ? false : options.tty ?? Deno.stderr.isTerminal();
  let value = 0;
  let finished = false;
  const start = performance.now();

  if (tty) {
    const bar = new cliProgress.SingleBar({
      format: `${label} [{bar}] {percentage}% | {value}/{total}${unit} | ` +
        "{duration_formatted} elapsed | ETA {eta_formatted}",
      hideCursor: false,
      etaBuffer: 50,
      formatValue: (v: number, _o: unknown, type: string) =>
        type === "value" || type === "total" ? count(v) : String(v),
    }, cliProgress.Presets.shades_classic);
    bar.start(total, 0);
    return {
      tick(n = 1) {
        if (finished) return;
        value = Math.min(total, value + n);
        bar.update(value);
      },
      done() {
        if (finished) return;
        finished = true;
        bar.stop();
      },
    };
  }

  const write = options.write ?? ((line: string) => console.error(line));
  const every = options.every ?? 0.1;
  if (!(every > 0 && every <= 1)) {
    throw new RangeError(`progress: every must be in (0, 1], got ${every}`);
  }
  let nextStep = 1;
  return {
    tick(n = 1) {
      if (finished) return;
      value = Math.min(total, value + n);
      const fraction = value / total;
      // The closing line from done() reports 100%.
      if (fraction >= 1 || fraction + 1e-12 < nextStep * every) return;
      while ((nextStep + 1) * every <= fraction + 1e-12) nextStep++;
      nextStep++;
      const elapsed = performance.now() - start;
      const left = `, ~${seconds(elapsed * (1 / fraction - 1))} left`;
      write(
        `${label}: ${Math.round(100 * fraction)}% (${count(value)}/${count(total)}${unit}), ` +
          `${seconds(elapsed)} elapsed${left}`,
      );
    },
    done() {
      if (finished) return;
      finished = true;
      const took = seconds(performance.now() - start);
      write(`${label}: done (${count(value)}/${count(total)}${unit}) in ${took}`);
    },
  };
}
