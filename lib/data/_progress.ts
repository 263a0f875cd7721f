/**
 * The default download progress report, on the shared reporter
 * ({@linkcode progress}): a bar on a terminal, else a line every ~10%, and one
 * line when a file is verified.
 *
 * @module
 */
import type { DownloadProgress } from "./download.ts";
import { type Progress, progress } from "../util/progress.ts";

/** A fresh progress callback for one or more downloads (one report per URL). */
export function defaultProgress(): (p: DownloadProgress) => void {
  let current: string | undefined;
  let report: Progress | undefined;
  let reported = 0;
  return (p) => {
    if (p.url !== current) {
      report?.done();
      current = p.url;
      reported = 0;
      const name = p.url.split("/").pop();
      report = p.total
        ? progress(`coss: downloading ${name}`, p.total, { unit: "bytes" })
        : undefined;
      if (!report) console.error(`coss: downloading ${p.url} (size unknown)`);
    }
    report?.tick(p.received - reported);
    reported = p.received;
    if (p.done) {
      report?.done();
      report = undefined;
      current = undefined;
      console.error(`coss: downloaded and verified ${p.url} (${(p.received / 1e6).toFixed(1)} MB)`);
    }
  };
}
