import { ConfigError } from "../config/mod.ts";
import { log } from "../log/mod.ts";

/** Thrown when a cluster node cannot register in time; the process exits with code 3. */
export class RegistrationError extends Error {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RegistrationError";
  }
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
  if (err instanceof RegistrationError) return 3;
  return 1;
}
