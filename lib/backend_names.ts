/**
 * The backend names, below both the backend loader (backend.ts) and the
 * kernel table (kernels/mod.ts) that is keyed by them.
 *
 * @module
 */

/** A backend name accepted by `initBackend`. */
export type BackendChoice = "auto" | "webgpu" | "wasm" | "cpu";

/** A backend that computation actually runs on. */
export type BackendName = Exclude<BackendChoice, "auto">;

/** The names `initBackend` accepts, in the order `auto` tries them. */
export const BACKEND_CHOICES: readonly BackendChoice[] = ["auto", "webgpu", "wasm", "cpu"];
