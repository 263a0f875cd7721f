/**
 * The finiteness check of weight files at load: a tensor holding NaN or Inf
 * is refused before a model runs on it, naming the file and the tensor.
 * Private.
 */

/** A weight file whose tensor holds NaN or Inf. */
export class NonFiniteWeightsError extends RangeError {
  /**
   * @param file The weight file.
   * @param tensor The first tensor (in file order) holding a non-finite value.
   * @param kind What it holds: `NaN`, `Inf` or `NaN and Inf`.
   * @param what What the file calls such a tensor (an ONNX file: `initializer`, `constant`).
   */
  constructor(
    readonly file: string,
    readonly tensor: string,
    readonly kind: string,
    readonly what: string = "tensor",
  ) {
    super(
      `Cannot load weights "${file}": ${what} "${tensor}" holds non-finite values (${kind}); ` +
        "re-export the weights from a finite model",
    );
    this.name = "NonFiniteWeightsError";
  }
}

/**
 * Throw {@linkcode NonFiniteWeightsError} for the first float tensor of
 * `tensors` whose name starts with `prefix` and that holds NaN or Inf.
 */
export function checkFiniteWeights(
  file: string,
  tensors: Map<string, { values: Float32Array | Int32Array }>,
  prefix = "",
): void {
  for (const [name, { values }] of tensors) {
    if (!(values instanceof Float32Array) || !name.startsWith(prefix)) continue;
    const kind = nonFiniteKind(values);
    if (kind) throw new NonFiniteWeightsError(file, name, kind);
  }
}

/** `NaN`, `Inf` or `NaN and Inf` for what `values` holds that is not finite; `""` if all is finite. */
export function nonFiniteKind(values: Float32Array): string {
  let nan = false;
  let inf = false;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v - v !== 0) {
      if (v !== v) nan = true;
      else inf = true;
    }
  }
  return nan && inf ? "NaN and Inf" : nan ? "NaN" : inf ? "Inf" : "";
}
