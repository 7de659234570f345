/**
 * What every entrypoint shares: command-line parsing with `--help` and exit code 2, one root
 * `AbortSignal` wired to SIGINT/SIGTERM, logging setup and the documented exit codes.
 *
 * ```ts
 * import { parseOrExit, runProgram } from "./mod.ts";
 * import { REGISTRY_SCHEMA } from "../config/mod.ts";
 * const spec = { name: "demo", summary: "A demo.", schema: REGISTRY_SCHEMA, flags: {} };
 * const cmd = await parseOrExit(spec, Deno.args);
 * await runProgram("demo", cmd, (signal) =>
 *   new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve())));
 * ```
 *
 * @module
 */
export { parseOrExit, runProgram } from "./run_program.ts";
export {
  type ExitCodeError,
  exitCodeOf,
  isExitCodeError,
  runUntilSignal,
} from "./run_until_signal.ts";
