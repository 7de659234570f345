import { ConfigError } from "../config/mod.ts";
import { log } from "../log/mod.ts";

/**
 * An error that names the documented exit code it ends a program with (e.g. the node's
 * `RegistrationError`: 3). Its message is the whole story: no stack trace is logged.
 */
export interface ExitCodeError extends Error {
  /** The process exit code. */
  readonly exitCode: number;
}

/** True when `err` is an {@linkcode ExitCodeError}. */
export function isExitCodeError(err: unknown): err is ExitCodeError {
  return err instanceof Error && Number.isInteger((err as Partial<ExitCodeError>).exitCode);
}

/**
 * Runs `main` with one root `AbortSignal` that SIGINT and SIGTERM abort, so every entrypoint shuts
 * down the same orderly way. A second signal exits at once.
 */
export async function runUntilSignal(main: (signal: AbortSignal) => Promise<void>): Promise<void> {
  const controller = new AbortController();
  const logger = log("main");
  const onSignal = (name: Deno.Signal) => () => {
    if (controller.signal.aborted) {
      logger.warn("Second {signal}: exiting now", { signal: name });
      Deno.exit(130);
    }
    logger.info("{signal} received: shutting down", { signal: name });
    controller.abort();
  };
  const handlers: [Deno.Signal, () => void][] = [
    ["SIGINT", onSignal("SIGINT")],
    ["SIGTERM", onSignal("SIGTERM")],
  ];
  for (const [sig, handler] of handlers) Deno.addSignalListener(sig, handler);
  try {
    await main(controller.signal);
  } finally {
    for (const [sig, handler] of handlers) Deno.removeSignalListener(sig, handler);
  }
}

/** The documented exit code for an error that ended a program. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof ConfigError) return 2;
  if (isExitCodeError(err)) return err.exitCode;
  return 1;
}
