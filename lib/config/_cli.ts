/**
 * Command-line flags of the training tasks: named flags through
 * `node:util`'s `parseArgs`, after dotted keys (`--optim.lr 0.01`) are
 * turned into `--set` overrides, which `parseArgs` would reject.
 *
 * @module
 */
import { parseArgs } from "parse-args";
import { ConfigError } from "./_error.ts";
import { BACKEND_CHOICES } from "../backend_names.ts";
import { closest } from "../util/suggest.ts";

/** What {@linkcode parseCli} reads from a command line. */
export interface CliArgs {
  /**
   * The YAML config file of `--config <file>`.
   * @default {undefined} (the built-in defaults)
   */
  configPath?: string;
  /**
   * Overrides `key=value` in command-line order (later wins): `--set`,
   * dotted flags, and `--backend`, `--run-dir`, `--seed` as
   * `backend=…`, `runDir=…`, `seed=…`.
   */
  overrides: string[];
  /** `--resume` true, `--no-resume` false, else `"auto"` (resume a checkpoint of the same config). */
  resume: boolean | "auto";
  /** `--help` or `-h`. */
  help: boolean;
  /** `--verbose`: tasks print the stack of an unexpected error. */
  verbose: boolean;
}

/** The named flags, as `--help` lists them. */
export const CLI_FLAGS: readonly [string, string][] = [
  ["--config <file>", "YAML config; keys left out keep their defaults"],
  ["--set <key>=<value>", "override one key, value read as YAML (repeatable)"],
  ["--<key> <value>", "the same for any dotted key, e.g. --optim.lr 0.01"],
  ["--backend <name>", `= --set backend=<name> (${BACKEND_CHOICES.join(", ")})`],
  ["--run-dir <dir>", "= --set runDir=<dir>"],
  ["--seed <n>", "= --set seed=<n>"],
  ["--resume", "resume from the run dir's checkpoint (fail if there is none)"],
  ["--no-resume", "start afresh even if the run dir holds a checkpoint"],
  ["--verbose", "print the stack trace of an unexpected error"],
  ["--help, -h", "print this help"],
];

const OPTIONS = {
  config: { type: "string" },
  set: { type: "string", multiple: true },
  backend: { type: "string" },
  "run-dir": { type: "string" },
  seed: { type: "string" },
  resume: { type: "boolean" },
  "no-resume": { type: "boolean" },
  verbose: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

const RENAMED: Record<string, string> = { backend: "backend", "run-dir": "runDir", seed: "seed" };

const flagList = () => Object.keys(OPTIONS).map((f) => `--${f}`).join(", ") + ", --<section.key>";

/** Turn `node:util` errors into one line naming the flag. */
function cliError(e: Error & { code?: string }, argv: readonly string[]): ConfigError {
  const flag = /'(-[^' ]*)/.exec(e.message)?.[1] ?? "";
  switch (e.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION": {
      const name = flag.replace(/=.*$/, "");
      const guess = closest(name.replace(/^-+/, ""), Object.keys(OPTIONS));
      const hint = guess ? ` (did you mean "--${guess}"?)` : "";
      return new ConfigError(`${name}: unknown flag${hint}; valid flags: ${flagList()}`);
    }
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL": {
      const arg = /'([^']*)'/.exec(e.message)?.[1] ?? argv.find((a) => !a.startsWith("-"));
      return new ConfigError(
        `${JSON.stringify(arg)}: unexpected argument (give a config file as --config <file>); ` +
          `valid flags: ${flagList()}`,
      );
    }
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE": {
      const name = flag.replace(/[= ].*$/, "");
      if (/does not take an argument/.test(e.message)) {
        return new ConfigError(`${name}: takes no value (use --resume or --no-resume)`);
      }
      const next = argv[argv.indexOf(name) + 1];
      if (argv.includes(name) && next !== undefined && /^-[\d.]/.test(next)) {
        // parseArgs reads "-1" as a flag: the value is there, but must be attached.
        return new ConfigError(
          `${name} ${next}: a value starting with "-" must be attached: ${name}=${next}`,
        );
      }
      return new ConfigError(`${name}: missing value (e.g. ${name}=<value>)`);
    }
    default:
      return new ConfigError(`command line: ${e.message.split("\n")[0]}`);
  }
}

/**
 * Read the flags.
 *
 * @example
 * ```ts
 * import { parseCli } from "./config.ts";
 * const cli = parseCli(["--config", "run.yaml", "--optim.lr", "0.01", "--seed=3", "--resume"]);
 * console.log(cli.configPath, cli.overrides, cli.resume); // run.yaml ["optim.lr=0.01", "seed=3"] true
 * ```
 *
 * @throws {ConfigError} For an unknown flag (listing the valid ones), a
 *   missing value, or a stray argument.
 */
export function parseCli(argv: readonly string[]): CliArgs {
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const name = a.startsWith("--") ? a.slice(2).split("=")[0] : "";
    if (!name.includes(".")) {
      args.push(a);
      continue;
    }
    let value: string | undefined;
    if (a.includes("=")) {
      value = a.slice(a.indexOf("=") + 1);
    } else {
      value = argv[++i];
      if (value === undefined || value.startsWith("--")) {
        throw new ConfigError(`${a}: missing value (e.g. ${a} <value>, or ${a}=<value>)`);
      }
    }
    args.push(`--set=${name}=${value}`);
  }
  let tokens;
  try {
    tokens = parseArgs({ args, options: OPTIONS, strict: true, tokens: true }).tokens;
  } catch (e) {
    if (!String((e as { code?: string }).code).startsWith("ERR_PARSE_ARGS")) throw e;
    throw cliError(e as Error, argv);
  }
  const out: CliArgs = { overrides: [], resume: "auto", help: false, verbose: false };
  const given = new Set<string>();
  for (const t of tokens) if (t.kind === "option") given.add(t.name);
  if (given.has("resume") && given.has("no-resume")) {
    throw new ConfigError(
      "--resume and --no-resume: give one (--resume continues the run, " +
        "--no-resume starts it over)",
    );
  }
  for (const t of tokens) {
    if (t.kind !== "option") continue;
    const value = t.value ?? "";
    if (t.name === "config") out.configPath = value;
    else if (t.name === "set") {
      if (!value.includes("=")) {
        throw new ConfigError(
          `--set ${value}: expected <key>=<value>, e.g. --set optim.lr=0.01`,
        );
      }
      out.overrides.push(value);
    } else if (t.name in RENAMED) out.overrides.push(`${RENAMED[t.name]}=${value}`);
    else if (t.name === "resume") out.resume = true;
    else if (t.name === "no-resume") out.resume = false;
    else if (t.name === "help") out.help = true;
    else if (t.name === "verbose") out.verbose = true;
  }
  return out;
}
