/**
 * The training progress display: a cli-progress bar with epoch, step, loss,
 * learning rate, images/s and ETA on a terminal; plain lines otherwise.
 *
 * @module
 */
import cliProgress from "cli-progress";

/** What one update shows. */
export interface StepReport {
  step: number;
  epoch: number;
  loss: number;
  lr: number;
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
    options: { tty?: boolean; write?: (line: string) => void } = {},
  ) {
    this.#write = options.write ?? ((l) => console.error(l));
    if (options.tty ?? Deno.stderr.isTerminal()) {
      this.#bar = new cliProgress.SingleBar({
        format: "epoch {epochNo}/{epochs} [{bar}] step {value}/{total} | loss {loss} | " +
          "lr {lr} | {ips} img/s | ETA {etaText}",
        hideCursor: false,
      }, cliProgress.Presets.shades_classic);
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
