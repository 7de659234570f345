/**
 * The texts of a node's refusals that depend only on its config: built once, not per request.
 *
 * @module
 */
import type { NodeConfig } from "../config/mod.ts";

/** Refusal texts naming the config limit that was hit. */
export interface RefusalMessages {
  /** RATE_LIMITED: the connection's work budget (`max_requests_per_connection`). */
  readonly connectionRate: string;
  /** RATE_LIMITED: the client id's work budget (`max_requests_per_second`). */
  readonly clientRate: string;
  /** RATE_LIMITED: the connection's new-user budget (`max_new_users_per_connection`). */
  readonly newUsers: string;
  /** UNAVAILABLE: the connection carries `max_ids_per_connection` client ids. */
  readonly idsPerConnection: string;
}

/** The refusal texts of a node with `config`. */
export function refusalMessages(config: NodeConfig): RefusalMessages {
  const c = config.clients;
  return {
    connectionRate:
      `More than ${c.max_requests_per_connection} requests (work units) per second on this connection`,
    clientRate:
      `More than ${c.max_requests_per_second} requests (work units) per second for this client id`,
    newUsers: `More than ${c.max_new_users_per_connection} new users per second on this connection`,
    idsPerConnection:
      `This connection carries max_ids_per_connection (${c.max_ids_per_connection}) client ids already`,
  };
}
