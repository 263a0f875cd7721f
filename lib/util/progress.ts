/**
 * Progress on stderr, the one wrapper of npm cli-progress: a cli-progress bar
 * on a terminal, else plain lines, so that logs from CI and `nohup` runs stay
 * short and readable. {@linkcode progress} reports long work (teacher passes,
 * neighbour mining, downloads) with a line every ~10%; {@linkcode TrainProgress}
 * shows training steps with epoch, loss, learning rate, images/s and ETA.
 *
 * @module
 */
import cliProgress from "cli-progress";

/** Where a reporter writes lines and whether it draws a live bar. */
interface Output {
  /** Draw a live bar (`true`) or print lines (`false`). */
  tty?: boolean;
  /** Where line-mode reports go. */
  write?: (line: string) => void;
}

/** Lines go to stderr unless `write` is given. */
function lineWriter(o: Output): (line: string) => void {
  return o.write ?? ((line: string) => console.error(line));
}

/** A bar on a terminal (stderr), unless `tty` says otherwise. */
function wantsBar(o: Output): boolean {
  return o.tty ?? Deno.stderr.isTerminal();
}

/** A cli-progress bar in the shared style (classic shades, cursor left visible). */
function newBar(
  format: string,
  extra: Partial<cliProgress.Options> = {},
): cliProgress.SingleBar {
  return new cliProgress.SingleBar(
    { format, hideCursor: false, ...extra },
    cliProgress.Presets.shades_classic,
  );
}

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
  const tty = options.write ? false : wantsBar(options);
  let value = 0;
  let finished = false;
  const start = performance.now();

  if (tty) {
    const bar = newBar(
      `${label} [{bar}] {percentage}% | {value}/{total}${unit} | ` +
        "{duration_formatted} elapsed | ETA {eta_formatted}",
      {
        etaBuffer: 50,
        formatValue: (v: number, _o: unknown, type: string) =>
          type === "value" || type === "total" ? count(v) : String(v),
      },
    );
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

  const write = lineWriter(options);
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

/** What one update of {@linkcode TrainProgress} shows. */
export interface StepReport {
  /** Steps done (1-based). */
  step: number;
  /** The epoch, 0-based. */
  epoch: number;
  /** The step's loss. */
  loss: number;
  /** The step's learning rate. */
  lr: number;
  /** Training throughput. */
  imagesPerSecond: number;
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const m = Math.floor(seconds / 60);
  return m
    ? `${m}m${String(Math.round(seconds % 60)).padStart(2, "0")}s`
    : `${seconds.toFixed(0)}s`;
}

/** A display for `total` steps over `epochs` epochs, resuming at `start`. */
export class TrainProgress {
  readonly #bar?: cliProgress.SingleBar;
  readonly #write: (line: string) => void;
  readonly #t0 = performance.now();

  constructor(
    readonly total: number,
    readonly epochs: number,
    readonly start: number,
    options: Output = {},
  ) {
    this.#write = lineWriter(options);
    if (wantsBar(options)) {
      this.#bar = newBar(
        "epoch {epochNo}/{epochs} [{bar}] step {value}/{total} | loss {loss} | " +
          "lr {lr} | {ips} img/s | ETA {etaText}",
      );
      this.#bar.start(total, start, this.#payload(undefined));
    }
  }

  #payload(r: StepReport | undefined) {
    const done = r ? r.step - this.start : 0;
    const rate = done / ((performance.now() - this.#t0) / 1000);
    const eta = r ? (this.total - r.step) / rate : NaN;
    return {
      epochNo: r ? r.epoch + 1 : 1,
      epochs: this.epochs,
      loss: r ? r.loss.toFixed(3) : "…",
      lr: r ? r.lr.toPrecision(3) : "…",
      ips: r ? r.imagesPerSecond.toFixed(0) : "…",
      etaText: duration(eta),
    };
  }

  /** Show the state after step `r.step` (1-based count of steps done). */
  update(r: StepReport): void {
    if (this.#bar) {
      this.#bar.update(r.step, this.#payload(r));
      return;
    }
    const p = this.#payload(r);
    this.#write(
      `step ${r.step}/${this.total} (epoch ${p.epochNo}/${this.epochs}) loss ${p.loss} ` +
        `lr ${p.lr} ${p.ips} img/s ETA ${p.etaText}`,
    );
  }

  /** Print a line without breaking the bar. */
  log(line: string): void {
    if (this.#bar) this.#bar.stop();
    this.#write(line);
    if (this.#bar) this.#bar.start(this.total, this.#bar.getProgress() * this.total);
  }

  /** Stop the bar. */
  stop(): void {
    this.#bar?.stop();
  }
}
