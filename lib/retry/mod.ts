/**
 * Retry timing shared by every side that reconnects (the client to its node, the node to its
 * registry): exponential backoff with jitter. Pure: it hands out delays, the caller owns the timer.
 *
 * ```ts
 * import { Backoff } from "./mod.ts";
 * const backoff = new Backoff({ minMs: 100, maxMs: 5000 });
 * backoff.next(); // 50–100 ms, then 100–200, 200–400, … up to 2500–5000
 * backoff.reset(); // after a success: back to the first delay
 * ```
 *
 * @module
 */
export { Backoff, type BackoffOptions } from "./backoff.ts";
