/**
 * What a load run is configured with: the `load` config group beside the client fields. The
 * command line that sets these is in `load_command.ts`.
 *
 * @module
 */
import { CLIENT_SCHEMA, type ConfigOf } from "../config/mod.ts";
import { bool, group, int, num } from "../config/schema.ts";

/** The load generator's settings (the `load` group beside the client fields). */
export const LOAD_GROUP = group({
  clients: int(100, 1, 1_000_000, "Simulated clients"),
  connections: int(
    0,
    0,
    100_000,
    "Connections the clients share (0 = one per 250 clients, ≤ 64); more when needed to keep within clients_per_connection",
  ),
  clients_per_connection: int(
    4000,
    1,
    1_000_000,
    "Most clients over one connection (a node carries at most clients.max_ids_per_connection client ids per connection, 4096 by default)",
  ),
  login_rate: num(
    800,
    1,
    1e6,
    "New-user logins sent per second per connection (a node takes clients.max_new_users_per_connection, 1000 by default)",
  ),
  duration_s: num(0, 0, 1e7, "Seconds of load after every client logged in (0 = until Ctrl-C)"),
  warmup_s: num(0, 0, 1e7, "Seconds at the start of the duration left out of the statistics"),
  query_rate: num(1, 0, 1000, "Circle queries per client per second"),
  aoe_rate: num(1, 0, 1000, "AOEs per client per second"),
  velocity_interval_s: num(5, 0, 1e6, "Seconds between a client's velocity changes (0 = never)"),
  rate_scale: num(1, 0, 1000, "Multiplies every rate above"),
  radius: num(50, 0, 1e6, "Radius of queries and AOEs, m"),
  speed: num(10, 0, 1e6, "Speed of velocity changes, m/s (at most the node's max_speed)"),
  aoe_amount: int(1, -1_000_000, 1_000_000, "Money each AOE adds to the users it hits"),
  keepalive_s: num(
    3,
    0,
    3600,
    "A client idle this long pings, so the node does not drop it (0 = never)",
  ),
  max_in_flight: int(256, 1, 100_000, "Requests in flight per connection (beyond: queued)"),
  poll_ms: int(
    0,
    0,
    100,
    "0: the process's usual pump (epoll wait); N: a timer-mode pump pausing N ms between polls",
  ),
  login_timeout_s: num(30, 1, 1e6, "Start the duration after this long even if logins fail"),
  logout: bool(true, "Log every client out at the end"),
  progress: bool(true, "Print a progress line to stderr every second"),
}, "The load generator");

/** The load command's config: every client field plus the `load` group. */
export const LOAD_SCHEMA = { ...CLIENT_SCHEMA, load: LOAD_GROUP };

/** The load command's config. */
export type LoadConfig = ConfigOf<typeof LOAD_SCHEMA>;

/** Settings of one load run. */
export type LoadSettings = LoadConfig["load"];
