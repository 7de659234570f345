/**
 * In-test clients: real `Connection`s and `ClientSession`s over real sockets to real node processes.
 *
 * @module
 */
import type { Pump } from "../lib/transport/mod.ts";
import { CLIENT_SCHEMA, type ClientConfig, defaults } from "../lib/config/mod.ts";
import { ClientSession, Connection, type ConnectionEvent } from "../lib/client/mod.ts";

/** A client config for tests: fast heartbeats and reconnects. */
export function testClientConfig(target: { node?: string; registry?: string[] }): ClientConfig {
  return {
    ...defaults(CLIENT_SCHEMA),
    node: target.node ?? "tcp://127.0.0.1:1",
    registry: target.registry ?? [],
    heartbeat_interval_ms: 100,
    server_timeout_ms: 600,
    request_timeout_ms: 3000,
    reconnect_min_ms: 50,
    reconnect_max_ms: 400,
  };
}

/** A session whose user is resumed after every reconnect; events are recorded. */
export interface TestClient {
  session: ClientSession;
  connection: Connection;
  events: (ConnectionEvent & { at: number })[];
  /** Resolves after the next successful resume. */
  resumed: () => Promise<void>;
}

/** Opens a connected session (waits until the node answered). */
export async function openTestClient(pump: Pump, config: ClientConfig): Promise<TestClient> {
  const clientId = crypto.randomUUID();
  const events: (ConnectionEvent & { at: number })[] = [];
  let resumeWaiters: (() => void)[] = [];
  const connection = new Connection({
    pump,
    config,
    clientId,
    onEvent: (event) => {
      events.push({ ...event, at: performance.now() });
      if (event.type === "connected" && event.reconnect && session.userId) {
        session.resume().then((out) => {
          if (out?.ok) {
            for (const w of resumeWaiters) w();
            resumeWaiters = [];
          }
        });
      }
    },
  });
  const session: ClientSession = new ClientSession(connection, clientId);
  connection.start();
  await connection.ready(15_000);
  return {
    session,
    connection,
    events,
    resumed: () => new Promise<void>((resolve) => resumeWaiters.push(resolve)),
  };
}
