/**
 * "Did you mean": the one helper every error in the codebase uses to name
 * the likeliest intended key, value, op or flag.
 *
 * @module
 */

/**
 * Levenshtein distance, case-insensitive.
 *
 * @example
 * ```ts
 * import { editDistance } from "./suggest.ts";
 * console.log(editDistance("Momentun", "momentum")); // 1
 * ```
 */
export function editDistance(a: string, b: string): number {
  a = a.toLowerCase();
  b = b.toLowerCase();
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}

/** `learning_rate`, `learningRate`, `learning-rate` → ["learning", "rate"]. */
function words(s: string): string[] {
  return s.replace(/([a-z0-9])([A-Z])/g, "$1 $2").toLowerCase().split(/[^a-z0-9]+/).filter(
    Boolean,
  );
}

/** Short forms of a name: its initials (`lr`) and initials plus last word (`fmnist`). */
function abbreviations(s: string): string[] {
  const w = words(s);
  if (w.length < 2) return [];
  const initials = w.map((x) => x[0]);
  return [initials.join(""), initials.slice(0, -1).join("") + w[w.length - 1]];
}

const norm = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, "");

/** The candidate that matches the word's shape: same letters, an abbreviation, containing, prefix. */
function byShape(word: string, w: string, candidates: readonly string[]): string | undefined {
  const exact = candidates.find((c) => norm(c) === w);
  if (exact) return exact;
  const abbreviated = candidates.find((c) =>
    abbreviations(c).includes(w) || abbreviations(word).includes(norm(c))
  );
  if (abbreviated) return abbreviated;
  const containing = candidates.filter((c) => norm(c).includes(w));
  if (containing.length) return containing.reduce((a, b) => b.length < a.length ? b : a);
  const prefixes = candidates.filter((c) => norm(c).length >= 3 && w.startsWith(norm(c)));
  if (prefixes.length) return prefixes.reduce((a, b) => b.length > a.length ? b : a);
  return undefined;
}

/** The nearest by edit distance less the common prefix (`prob` → `p`); never undefined. */
function nearest(word: string, candidates: readonly string[]): string {
  const lower = word.toLowerCase();
  const score = (c: string) => {
    let prefix = 0;
    while (prefix < c.length && c[prefix].toLowerCase() === lower[prefix]) prefix++;
    return editDistance(word, c) - prefix;
  };
  return candidates.reduce((a, b) => score(b) < score(a) ? b : a);
}

/** Options of {@linkcode closest}. */
export interface ClosestOptions {
  /**
   * Always name a candidate: when no name matches the word's shape, the
   * nearest by edit distance less the common prefix, however far.
   * @default {false}
   */
  always?: boolean;
}

/**
 * The likeliest intended name, or undefined when nothing is close. Tried in
 * order: equal ignoring case and separators (`weight_decay` → `weightDecay`),
 * abbreviations (`learning_rate` → `lr`, `fmnist` → `fashion-mnist`), the
 * shortest name containing the word (`resnet` → `resnet18`), the longest name
 * the word starts with (`optimizer` → `optim`), then the nearest by edit
 * distance, if within about a third of the word (with `always`: the nearest
 * less the common prefix, however far).
 *
 * @example
 * ```ts
 * import { closest } from "./suggest.ts";
 * console.log(closest("learning_rate", ["lr", "momentum"])); // "lr"
 * console.log(closest("zzzz", ["lr", "momentum"])); // undefined
 * console.log(closest("prob", ["p"], { always: true })); // "p"
 * ```
 */
export function closest(
  word: string,
  candidates: readonly string[],
  options: ClosestOptions = {},
): string | undefined {
  if (candidates.length === 0) return undefined;
  const w = norm(word);
  const shaped = w ? byShape(word, w, candidates) : undefined;
  if (shaped !== undefined) return shaped;
  if (options.always) return nearest(word, candidates);
  if (!w) return undefined;
  let best: string | undefined;
  let bestScore = Infinity;
  for (const c of candidates) {
    const d = editDistance(w, norm(c));
    if (d < bestScore) [best, bestScore] = [c, d];
  }
  return bestScore <= Math.max(1, Math.ceil(w.length / 3)) ? best : undefined;
}

/**
 * ` (did you mean "lr"?)` when a candidate is close, else `otherwise` (the
 * list of valid names, as the caller words it).
 *
 * @example
 * ```ts
 * import { didYouMean } from "./suggest.ts";
 * console.log(didYouMean("trian", ["train", "eval"], "")); // ' (did you mean "train"?)'
 * ```
 */
export function didYouMean(word: string, candidates: readonly string[], otherwise: string): string {
  const c = closest(word, candidates);
  return c !== undefined ? ` (did you mean ${JSON.stringify(c)}?)` : otherwise;
}
