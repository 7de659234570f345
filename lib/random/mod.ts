/**
 * Seeded random numbers for tests, benchmarks and simulations (never for secrets: session tokens
 * come from `crypto.getRandomValues`).
 *
 * ```ts
 * import { mulberry32 } from "./mod.ts";
 * const random = mulberry32(42);
 * random(); // the same sequence of floats in [0, 1) for the same seed
 * ```
 *
 * @module
 */
export { mulberry32, type Rng } from "./mulberry32.ts";
