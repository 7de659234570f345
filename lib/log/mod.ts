/**
 * Logging setup shared by every entrypoint (npm:@logtape/logtape, to stderr, text or JSON lines).
 *
 * ```ts
 * import { log, setupLogging } from "./mod.ts";
 * setupLogging({ level: "info" });
 * log("node").info("Listening on {endpoint}", { endpoint: "tcp://127.0.0.1:7000" });
 * ```
 *
 * @module
 */
export { logMessage, type MessageLevel } from "./log_message.ts";
export { log, type LoggingOptions, type LogLevel, setupLogging } from "./setup_logging.ts";
