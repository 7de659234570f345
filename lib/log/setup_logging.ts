import {
  configureSync,
  getLogger,
  getTextFormatter,
  jsonLinesFormatter,
  type Logger,
  type LogRecord,
  resetSync,
} from "@logtape/logtape";

/** Levels our entrypoints accept on `--log-level`. */
export type LogLevel = "debug" | "info" | "warning" | "error";

/** Options of {@linkcode setupLogging}. */
export interface LoggingOptions {
  /** Lowest level written. */
  level: LogLevel;
  /** Human-readable lines (default) or JSON lines. */
  pretty?: boolean;
}

const encoder = new TextEncoder();
// Strings appear bare in text lines (`node-1`, not `"node-1"`); other values are inspected.
const textFormatter = getTextFormatter({ timestamp: "date-time-tz", value: "bare" });

/**
 * Configures logging once per process: every record under the `gameserver` category goes to stderr
 * (stdout stays free for a command's own output, such as the client's JSON), as text or JSON lines.
 */
export function setupLogging(options: LoggingOptions): void {
  const format = options.pretty === false ? jsonLinesFormatter : textFormatter;
  const sink = (record: LogRecord): void => {
    try {
      const line = format(record);
      Deno.stderr.writeSync(encoder.encode(line.endsWith("\n") ? line : line + "\n"));
    } catch {
      // stderr closed (e.g. a parent that stopped reading): logging must never crash the process.
    }
  };
  resetSync();
  configureSync({
    reset: true,
    sinks: { stderr: sink },
    loggers: [
      { category: ["gameserver"], lowestLevel: options.level, sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
}

/** The logger of one part of the system, e.g. `log("node")` → category `gameserver.node`. */
export function log(...category: string[]): Logger {
  return getLogger(["gameserver", ...category]);
}
