/**
 * The run-dir lock: a `run.lock` file holding the writer's pid, host and start
 * time, kept open under an exclusive `flock` for the life of the run, so that
 * two processes never run in one directory. The kernel drops the flock when
 * its process dies, so a lock file that can be locked again was left by a
 * dead process: on this host it is taken over with a notice.
 *
 * @module
 */

/** What a lock file records. */
interface LockInfo {
  pid: number;
  host: string;
  since: string;
}

function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown-host";
  }
}

function parse(text: string): LockInfo | undefined {
  try {
    const v = JSON.parse(text);
    return typeof v?.pid === "number" && typeof v?.host === "string" ? v : undefined;
  } catch {
    return undefined;
  }
}

/** A held lock; {@linkcode RunLock.release} removes it. */
export class RunLock {
  private constructor(readonly path: string, private file: Deno.FsFile | undefined) {}

  /** Take the lock of run dir `dir` (which must exist), or throw naming its holder. */
  static async acquire(dir: string, log: (line: string) => void = console.log): Promise<RunLock> {
    const path = `${dir}/run.lock`;
    const me: LockInfo = { pid: Deno.pid, host: hostname(), since: new Date().toISOString() };
    for (let attempt = 0; attempt < 3; attempt++) {
      const file = await Deno.open(path, { read: true, write: true, create: true });
      const text = async () => {
        const buf = new Uint8Array((await file.stat()).size);
        await file.seek(0, Deno.SeekMode.Start);
        let n = 0;
        while (n < buf.length) {
          const r = await file.read(buf.subarray(n));
          if (r === null) break;
          n += r;
        }
        return new TextDecoder().decode(buf.subarray(0, n));
      };
      if (!(await file.tryLock(true))) {
        const held = parse(await text());
        file.close();
        throw new Error(
          `Cannot use run dir "${dir}": it is locked by ` +
            (held ? `pid ${held.pid} on ${held.host} since ${held.since}` : `"${path}"`) +
            "; wait for that run to finish or use another --run-dir",
        );
      }
      // A lock file removed (by its releasing holder) after we opened it: open the new one.
      const [ours, named] = [await file.stat(), await Deno.stat(path).catch(() => undefined)];
      if (!named || named.ino !== ours.ino) {
        file.close();
        continue;
      }
      const left = parse(await text());
      if (left && left.host !== me.host) {
        await file.unlock();
        file.close();
        throw new Error(
          `Cannot use run dir "${dir}": "${path}" names pid ${left.pid} on ${left.host} ` +
            `since ${left.since}, which this host cannot check; ` +
            `delete "${path}" if that run has ended, or use another --run-dir`,
        );
      }
      if (left && left.pid !== me.pid) {
        log(
          `taking over "${path}" left by pid ${left.pid} on ${left.host} ` +
            `since ${left.since} (no longer running)`,
        );
      }
      await file.truncate(0);
      await file.seek(0, Deno.SeekMode.Start);
      const bytes = new TextEncoder().encode(JSON.stringify(me) + "\n");
      for (let n = 0; n < bytes.length;) n += await file.write(bytes.subarray(n));
      return new RunLock(path, file);
    }
    throw new Error(`Cannot lock run dir "${dir}": "${path}" keeps being replaced; run again`);
  }

  /** Remove the lock file, then drop the flock. */
  async release(): Promise<void> {
    if (!this.file) return;
    await Deno.remove(this.path).catch(() => {});
    await this.file.unlock().catch(() => {});
    this.file.close();
    this.file = undefined;
  }
}
