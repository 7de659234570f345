/**
 * The sentinel's log actions.
 *
 * @module
 */
import type { LogAction } from "./types.ts";

/** A `log` action; `fields` is left out entirely when not given. */
export function log(
  level: LogAction["level"],
  message: string,
  fields?: Record<string, unknown>,
): LogAction {
  return fields === undefined
    ? { type: "log", level, message }
    : { type: "log", level, message, fields };
}
