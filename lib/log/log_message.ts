import type { Logger } from "@logtape/logtape";

/** Levels of the log lines pure modules hand to their adapters. */
export type MessageLevel = "debug" | "info" | "warn" | "error";

/**
 * Writes a ready-made message (from a pure module's `log` action) at `level`: braces in the text are
 * escaped so logtape does not read them as placeholders, and `fields` are appended as JSON (so text
 * logs show them) and passed as properties (so JSON-lines logs keep them structured).
 */
export function logMessage(
  logger: Logger,
  level: MessageLevel,
  message: string,
  fields: Record<string, unknown> = {},
): void {
  const suffix = Object.keys(fields).length ? ` ${JSON.stringify(fields)}` : "";
  const text = (message + suffix).replaceAll("{", "{{").replaceAll("}", "}}");
  switch (level) {
    case "error":
      return logger.error(text, fields);
    case "warn":
      return logger.warn(text, fields);
    case "info":
      return logger.info(text, fields);
    default:
      return logger.debug(text, fields);
  }
}
