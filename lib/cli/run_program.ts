import {
  type CommandLine,
  type CommandSpec,
  ConfigError,
  helpText,
  parseCommandLine,
  type Schema,
} from "../config/mod.ts";
import { log, type LogLevel, setupLogging } from "../log/mod.ts";
import { exitCodeOf, isExitCodeError, runUntilSignal } from "./run_until_signal.ts";

/**
 * Parses an entrypoint's command line; on a bad flag or config prints the problem and exits 2, on
 * `--help` prints the help and exits 0.
 */
export async function parseOrExit<S extends Schema>(
  spec: CommandSpec<S>,
  args: string[],
): Promise<CommandLine<S>> {
  let cmd: CommandLine<S>;
  try {
    cmd = await parseCommandLine(spec, args);
  } catch (err) {
    console.error(`${spec.name}: ${(err as Error).message}`);
    Deno.exit(2);
  }
  if (cmd.help) {
    console.log(helpText(spec));
    Deno.exit(0);
  }
  return cmd;
}

/**
 * Runs a long-lived program (node, registry): sets up logging from its config, runs `body` with the
 * root signal until it returns (SIGINT/SIGTERM abort the signal), logs a fatal error with its cause,
 * and exits with the documented code.
 */
export async function runProgram(
  name: string,
  cmd: { config: { log_level: LogLevel; pretty_log: boolean }; file?: string },
  body: (signal: AbortSignal) => Promise<void>,
): Promise<never> {
  setupLogging({ level: cmd.config.log_level, pretty: cmd.config.pretty_log });
  const logger = log("main");
  if (cmd.file) logger.info("Config loaded from {file}", { file: cmd.file });
  try {
    await runUntilSignal(body);
  } catch (err) {
    const expected = err instanceof ConfigError || isExitCodeError(err);
    logger.fatal(`${name} stopped: {error}`, {
      error: expected ? (err as Error).message : (err as Error)?.stack ?? String(err),
    });
    Deno.exit(exitCodeOf(err));
  }
  Deno.exit(0);
}
