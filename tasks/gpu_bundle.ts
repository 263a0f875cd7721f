/**
 * `deno task gpu-bundle [--out dist/gpu-bundle] [--subset 20000] [--data dir] [--no-vulkan]
 * [--check]`
 *
 * Build the GPU bundle: one folder (≤ 60 MiB) that runs the toolkit's GPU
 * check on a bare Linux x86-64 machine with a GPU and no network
 * (docs/gpu.md). It holds Deno (xz-compressed), the toolkit and its npm
 * dependencies as one JavaScript file (`deno bundle` of tasks/gpu_entry.ts),
 * tfjs's wasm binaries, the bundled teacher and the configs, the first
 * `--subset` Fashion-MNIST training images and the whole test set, the
 * PyTorch reference script, Debian's Vulkan loader, and `run.sh`.
 *
 * `--check` then unpacks the bundle into an empty directory and runs
 * `run.sh --quick` there with the network cut (`unshare -n`) on whatever
 * WebGPU adapter the machine has (llvmpipe here), and checks that every
 * stage passed and wrote its JSON.
 *
 * @module
 */
import { exitUsage, parseFlags } from "./_cli.ts";

/** The bundle's size limit: it travels with the working tree to machines lent for ≤ 64 MiB. */
export const MAX_BUNDLE_BYTES = 60 * 2 ** 20;

const ROOT = decodeURIComponent(new URL("../", import.meta.url).pathname);
const FASHION = ["/usr/share/datasets/fashion-mnist"];

const USAGE =
  `usage: deno task gpu-bundle [--out dist/gpu-bundle] [--subset 20000] [--data dir] [--no-vulkan] [--check]

  --out        the bundle folder (default dist/gpu-bundle; replaced whole, never half-written)
  --subset     Fashion-MNIST training images to carry (default 20000, what the default config reads)
  --data       folder with Fashion-MNIST's four .gz files (default /usr/share/datasets/fashion-mnist,
               then $HOME/.cache/coss/datasets/fashion-mnist)
  --no-vulkan  leave out Debian's Vulkan loader (libvulkan1 and the GL dispatch libraries,
               fetched with apt-get download)
  --check      after building, unpack into an empty folder and run run.sh --quick there offline`;

const log = (line: string) => console.error(`gpu-bundle: ${line}`);

async function run(cmd: string, args: string[], opts: Deno.CommandOptions = {}): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", ...opts }).output();
  } catch (e) {
    throw new Error(`cannot run ${cmd}: ${e instanceof Error ? e.message : e}`);
  }
  const dec = new TextDecoder();
  if (!out.success) {
    const err = dec.decode(out.stderr).trim().split("\n").slice(-4).join(" | ");
    throw new Error(`${cmd} ${args.slice(0, 3).join(" ")} exited ${out.code}: ${err}`);
  }
  return dec.decode(out.stdout);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function copy(from: string, to: string): Promise<void> {
  await Deno.mkdir(to.slice(0, to.lastIndexOf("/")), { recursive: true });
  await Deno.copyFile(from, to);
}

async function gunzip(path: string): Promise<Uint8Array> {
  const file = await Deno.open(path);
  const stream = file.readable.pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function gzip(bytes: Uint8Array, path: string): Promise<void> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream("gzip"));
  await Deno.writeFile(path, stream);
}

/**
 * The first `n` records of an IDX file: its header with the count changed,
 * then `n` records (IDX: magic, one big-endian u32 per dimension, data).
 */
export function idxHead(bytes: Uint8Array, n: number): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = bytes[3];
  const header = 4 + 4 * dims;
  const count = view.getUint32(4);
  let record = 1;
  for (let d = 1; d < dims; d++) record *= view.getUint32(4 + 4 * d);
  const keep = Math.min(n, count);
  const out = bytes.slice(0, header + keep * record);
  new DataView(out.buffer).setUint32(4, keep);
  return out;
}

async function fashionDir(given: string | undefined): Promise<string> {
  const home = Deno.env.get("HOME");
  const dirs = given
    ? [given]
    : [...FASHION, ...(home ? [`${home}/.cache/coss/datasets/fashion-mnist`] : [])];
  for (const dir of dirs) {
    if (await exists(`${dir}/train-images-idx3-ubyte.gz`)) return dir;
  }
  throw new Error(
    `Fashion-MNIST not found in ${dirs.join(", ")}: install dataset-fashion-mnist, run ` +
      "deno task distill once (it downloads the files), or pass --data dir",
  );
}

/** Deno, xz-compressed; cached by version next to the bundle, since xz takes a minute. */
async function compressedDeno(cacheDir: string): Promise<string> {
  const cached = `${cacheDir}/deno-${Deno.version.deno}.xz`;
  if (await exists(cached)) return cached;
  log(`compressing ${Deno.execPath()} with xz (about a minute, once per Deno version)`);
  await Deno.mkdir(cacheDir, { recursive: true });
  const tmp = `${cached}.tmp-${Deno.pid}`;
  const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
  const child = new Deno.Command("xz", {
    args: ["-6", "-T2", "-c", Deno.execPath()],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  await child.stdout.pipeTo(file.writable);
  if (!(await child.status).success) throw new Error("xz failed to compress the Deno binary");
  await Deno.rename(tmp, cached);
  return cached;
}

/**
 * Debian's Vulkan loader and the GL dispatch libraries NVIDIA's Vulkan driver
 * (libGLX_nvidia) links against: the packages the device notes name.
 */
export const VULKAN_PACKAGES: readonly string[] = [
  "libvulkan1",
  "libglvnd0",
  "libegl1",
  "libgl1",
  "libglx0",
  "libopengl0",
  "libgles2",
];

/** The {@linkcode VULKAN_PACKAGES}, downloaded once with apt-get into the cache; empty when that fails. */
async function vulkanLoader(cacheDir: string): Promise<string[]> {
  const dir = `${cacheDir}/gl`;
  await Deno.mkdir(dir, { recursive: true });
  const debs = () =>
    [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".deb")).map((e) =>
      `${dir}/${e.name}`
    );
  if (debs().length < VULKAN_PACKAGES.length) {
    try {
      await run("apt-get", ["download", ...VULKAN_PACKAGES], { cwd: dir });
    } catch (e) {
      log(
        `no Vulkan loader in the bundle (${(e as Error).message}); run.sh will use the machine's`,
      );
      return [];
    }
  }
  return debs();
}

async function sizeOf(path: string): Promise<number> {
  const info = await Deno.stat(path);
  if (!info.isDirectory) return info.size;
  let total = 0;
  for await (const e of Deno.readDir(path)) total += await sizeOf(`${path}/${e.name}`);
  return total;
}

async function sha256(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(`${dir}/${prefix}`)) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory) out.push(...await listFiles(dir, rel));
    else out.push(rel);
  }
  return out.sort();
}

/** Options for {@linkcode buildBundle}. */
export interface BundleOptions {
  /** The bundle folder. */
  out: string;
  /** Training images to carry. */
  subset: number;
  /** Where Fashion-MNIST's files are; undefined: the usual places. */
  data?: string;
  /** Carry Debian's Vulkan loader. */
  vulkan: boolean;
}

/** Build the bundle into `options.out` (staged in a sibling folder, then renamed); returns its size. */
export async function buildBundle(options: BundleOptions): Promise<number> {
  const out = options.out.replace(/\/+$/, "");
  const parent = out.includes("/") ? out.slice(0, out.lastIndexOf("/")) : ".";
  const cache = `${parent}/cache`;
  const stage = `${out}.tmp-${Deno.pid}`;
  await Deno.mkdir(stage, { recursive: true });
  try {
    const app = `${stage}/app`;
    log("bundling tasks/gpu_entry.ts with deno bundle");
    await Deno.mkdir(`${app}/lib/bundle`, { recursive: true });
    await run("deno", [
      "bundle",
      "--quiet",
      "--platform",
      "deno",
      // A native addon cannot be bundled: ONNX teachers and bench's onnxruntime-node row need
      // node_modules beside the bundle, which the GPU bundle does not carry.
      "--external",
      "onnxruntime-node",
      "-o",
      `${app}/lib/bundle/coss.js`,
      `${ROOT}tasks/gpu_entry.ts`,
    ], { cwd: ROOT, env: { NO_COLOR: "1" } });
    // The toolkit finds these relative to its own modules; in the bundle, relative to coss.js.
    const wasm = `${ROOT}node_modules/@tensorflow/tfjs-backend-wasm`;
    const wasmDist = `${app}/node_modules/@tensorflow/tfjs-backend-wasm`;
    await copy(`${wasm}/package.json`, `${wasmDist}/package.json`);
    for await (const e of Deno.readDir(`${wasm}/dist`)) {
      if (e.name.endsWith(".wasm")) {
        await copy(`${wasm}/dist/${e.name}`, `${wasmDist}/dist/${e.name}`);
      }
    }
    for await (const e of Deno.readDir(`${ROOT}lib/teachers`)) {
      for await (const f of Deno.readDir(`${ROOT}lib/teachers/${e.name}`)) {
        await copy(
          `${ROOT}lib/teachers/${e.name}/${f.name}`,
          `${app}/lib/teachers/${e.name}/${f.name}`,
        );
      }
    }
    for await (const e of Deno.readDir(`${ROOT}tasks/configs`)) {
      await copy(`${ROOT}tasks/configs/${e.name}`, `${app}/tasks/configs/${e.name}`);
      await copy(`${ROOT}tasks/configs/${e.name}`, `${app}/lib/bundle/configs/${e.name}`);
    }
    await copy(`${ROOT}bench/reference.py`, `${app}/lib/bundle/reference.py`);

    const from = await fashionDir(options.data);
    log(`Fashion-MNIST from ${from}: the first ${options.subset} training images, all test images`);
    await Deno.mkdir(`${stage}/data/fashion-mnist`, { recursive: true });
    for (
      const [file, n] of [
        ["train-images-idx3-ubyte.gz", options.subset],
        ["train-labels-idx1-ubyte.gz", options.subset],
        ["t10k-images-idx3-ubyte.gz", Infinity],
        ["t10k-labels-idx1-ubyte.gz", Infinity],
      ] as const
    ) {
      const target = `${stage}/data/fashion-mnist/${file}`;
      if (n === Infinity) await copy(`${from}/${file}`, target);
      else await gzip(idxHead(await gunzip(`${from}/${file}`), n), target);
    }

    await copy(await compressedDeno(cache), `${stage}/bin/deno.xz`);
    if (options.vulkan) {
      for (const deb of await vulkanLoader(cache)) {
        await copy(deb, `${stage}/gl/${deb.slice(deb.lastIndexOf("/") + 1)}`);
      }
    }
    await copy(`${ROOT}tasks/gpu/run.sh`, `${stage}/run.sh`);
    await Deno.chmod(`${stage}/run.sh`, 0o755);
    await copy(`${ROOT}tasks/gpu/README.md`, `${stage}/README.md`);

    let commit = "unknown";
    try {
      commit = (await run("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT })).trim();
      const dirty = (await run("git", ["status", "--porcelain"], { cwd: ROOT })).trim();
      if (dirty) commit += "+changes";
    } catch { /* not a git checkout: "unknown" */ }
    const files: Record<string, { bytes: number; sha256: string }> = {};
    for (const rel of await listFiles(stage)) {
      files[rel] = {
        bytes: (await Deno.stat(`${stage}/${rel}`)).size,
        sha256: await sha256(`${stage}/${rel}`),
      };
    }
    const manifest = {
      commit,
      createdAt: new Date().toISOString(),
      deno: Deno.version.deno,
      subset: options.subset,
      files,
    };
    await Deno.writeTextFile(`${stage}/manifest.json`, JSON.stringify(manifest, null, 2) + "\n");
    const bytes = await sizeOf(stage);
    if (bytes > MAX_BUNDLE_BYTES) {
      throw new Error(
        `the bundle is ${(bytes / 2 ** 20).toFixed(1)} MiB, over its ${
          MAX_BUNDLE_BYTES / 2 ** 20
        } MiB ` +
          "limit: carry fewer images (--subset) or leave out the Vulkan loader (--no-vulkan)",
      );
    }
    await Deno.remove(out, { recursive: true }).catch(() => {});
    await Deno.rename(stage, out);
    return bytes;
  } catch (e) {
    await Deno.remove(stage, { recursive: true }).catch(() => {});
    throw e;
  }
}

/**
 * Unpack `bundle` into an empty folder and run `run.sh --quick` there with
 * the network cut; throws unless every stage passed and wrote its JSON.
 */
export async function checkBundle(bundle: string): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "coss-gpu-check-" });
  {
    const tar = await new Deno.Command("tar", {
      args: ["-C", bundle, "-cf", "-", "."],
      stdout: "piped",
    }).spawn();
    const untar = new Deno.Command("tar", { args: ["-C", dir, "-xf", "-"], stdin: "piped" })
      .spawn();
    await tar.stdout.pipeTo(untar.stdin);
    if (!(await tar.status).success || !(await untar.status).success) {
      throw new Error(`cannot unpack ${bundle} into ${dir}`);
    }
    log(`unpacked into ${dir}; running run.sh --quick with the network cut (unshare -n)`);
    const t0 = performance.now();
    const child = new Deno.Command("unshare", {
      args: ["-n", "bash", `${dir}/run.sh`, "--quick"],
      env: { OUT: `${dir}/out` },
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    const status = await child.status;
    const seconds = ((performance.now() - t0) / 1000).toFixed(0);
    const wanted = ["probe.json", "parity.json", "bench-quick/results.json", "summary.md"];
    const missing = [];
    for (const f of wanted) if (!(await exists(`${dir}/out/${f}`))) missing.push(f);
    if (!status.success || missing.length) {
      throw new Error(
        `run.sh --quick exited ${status.code} after ${seconds} s` +
          (missing.length ? `, without ${missing.join(", ")}` : "") + ` (see ${dir}/out/run.log)`,
      );
    }
    const distill = await Deno.readTextFile(`${dir}/out/distill.log`);
    if (!/kNN/i.test(distill)) {
      throw new Error(`the quick distill printed no kNN table (${dir}/out/distill.log)`);
    }
    log(`check passed in ${seconds} s: every stage ran offline and wrote its results`);
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  const { values: flags, help } = parseFlags(Deno.args, {
    options: {
      out: { type: "string" },
      subset: { type: "string" },
      data: { type: "string" },
      "no-vulkan": { type: "boolean" },
      check: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    usage: USAGE,
    onError: (e) => exitUsage(e.message, USAGE),
  });
  if (help) Deno.exit(0);
  const subset = Number(flags.subset ?? 20000);
  if (!Number.isInteger(subset) || subset < 1 || subset > 60000) {
    exitUsage(`--subset must be an integer from 1 to 60000, got "${flags.subset}"`);
  }
  const out = flags.out ?? "dist/gpu-bundle";
  try {
    const t0 = performance.now();
    const bytes = await buildBundle({ out, subset, data: flags.data, vulkan: !flags["no-vulkan"] });
    log(
      `built ${out} (${(bytes / 2 ** 20).toFixed(1)} MiB of ${MAX_BUNDLE_BYTES / 2 ** 20}) in ` +
        `${((performance.now() - t0) / 1000).toFixed(0)} s; run it with: bash ${out}/run.sh`,
    );
    if (flags.check) await checkBundle(out);
  } catch (e) {
    console.error(`error: ${e instanceof Error ? e.message : e}`);
    Deno.exit(1);
  }
}
