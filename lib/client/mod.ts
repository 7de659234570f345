/**
 * The client: connection (over ZeroMQ or a WebSocket) with heartbeats and reconnection through the
 * registry, sessions that resume their user, the interactive console, one-shot commands and the load generator.
 *
 * ```ts
 * import { openSession } from "./mod.ts";
 * import { Pump } from "../transport/mod.ts";
 * import { CLIENT_SCHEMA, defaults } from "../config/mod.ts";
 * await using pump = new Pump();
 * const session = await openSession(pump, defaults(CLIENT_SCHEMA));
 * await session.login();
 * ```
 *
 * @module
 */
export { logConnectionEvent, openSession, runConsole, runOneShot } from "./client_app.ts";
export { ClientSession, type Outcome } from "./client_session.ts";
export { type Command, COMMAND_HELP, parseCommand, runCommand, velocityOf } from "./commands.ts";
export {
  Connection,
  type ConnectionClock,
  type ConnectionEvent,
  type ConnectionOptions,
} from "./connection.ts";
export { clientEndpoint, discoverNode, type DiscoverOptions } from "./discovery.ts";
export {
  type ClientTransport,
  isWebSocketUrl,
  nodeEndpoint,
  openTransport,
  transportOf,
  type TransportOptions,
} from "./client_transport.ts";
export { DiscoveryError, RequestError } from "./errors.ts";
export { LOAD_COMMAND, loadCommandArgs, parseLoadArgs, runLoad } from "./load_command.ts";
export { LoadDriver, type LoadDriverOptions } from "./load_driver.ts";
export { LOAD_SCHEMA, type LoadConfig, type LoadSettings } from "./load_settings.ts";
export type { LoadReport } from "./load_stats.ts";
