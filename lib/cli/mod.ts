/**
 * What every entrypoint shares: one root `AbortSignal` wired to SIGINT/SIGTERM, and exit codes.
 *
 * ```ts
 * import { runUntilSignal } from "./mod.ts";
 * await runUntilSignal(async (signal) => {
 *   await new Promise((resolve) => signal.addEventListener("abort", resolve));
 * });
 * ```
 *
 * @module
 */
export { exitCodeOf, RegistrationError, runUntilSignal } from "./run_until_signal.ts";
