/**
 * Neighbours in a feature space: the feature matrix type, blocked exact
 * top-k mining on the active backend, and neighbour-list files.
 *
 * @module
 */
export * from "./types.ts";
export * from "./mine.ts";
export * from "./files.ts";
