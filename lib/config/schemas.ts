import { bool, type ConfigOf, group, int, list, num, oneOf, str } from "./schema.ts";

const HOST = /^[A-Za-z0-9.\-:\[\]*]+$/;
const ENDPOINT = /^tcp:\/\/[A-Za-z0-9.\-\[\]:*]+:\d{1,5}$/;
const WS_URL = /^$|^wss?:\/\/[A-Za-z0-9.\-\[\]:]+(:\d{1,5})?(\/[^\s]*)?$/;
const Z85_KEY = /^$|^[0-9a-zA-Z.\-:+=^!\/*?&<>()\[\]{}@%$#]{40}$/;
const ID = /^[A-Za-z0-9_.\-]{1,64}$/;

/** Log levels every entrypoint accepts. */
export const LOG_LEVELS = ["debug", "info", "warning", "error"] as const;

/** The CURVE keys of the cluster plane (one keypair shared by the cluster's processes). */
export const CURVE_SCHEMA = group({
  public_key: str(
    "",
    "Z85 public key of the cluster keypair (`deno task keys`); empty = no CURVE",
    {
      pattern: Z85_KEY,
      hint: "a 40-character Z85 key",
    },
  ),
  secret_key: str("", "Z85 secret key of the cluster keypair", {
    pattern: Z85_KEY,
    hint: "a 40-character Z85 key",
  }),
}, "CURVE security of the cluster plane");

/** Every field of a game node's config, with defaults, ranges and docs. */
export const NODE_SCHEMA = {
  mode: oneOf(
    "single",
    ["single", "cluster"] as const,
    "single: no registry; cluster: register and replicate",
  ),
  node_id: str("node-1", "Unique name of this node in the cluster", {
    pattern: ID,
    hint: "1-64 of A-Z a-z 0-9 _ . -",
  }),
  role: oneOf("master", ["master", "slave"] as const, "Cluster role at start (the app tag)"),
  bind: str("127.0.0.1", "Interface to listen on (`*` or `0.0.0.0` for all)", {
    pattern: HOST,
    hint: "a host name or address",
  }),
  host: str("127.0.0.1", "Address other processes use to reach this node", {
    pattern: HOST,
    hint: "a host name or address",
  }),
  client_port: int(7000, 0, 65535, "Port for clients (0 = any free port)"),
  cluster_port: int(7001, 0, 65535, "Port for slaves' forwarding and snapshots (cluster mode)"),
  publish_port: int(
    7002,
    0,
    65535,
    "Port the master publishes replication updates on (cluster mode)",
  ),
  http_port: int(
    7003,
    0,
    65535,
    "HTTP port: /metrics, /healthz, /readyz, /status (0 = off)",
  ),
  registry: list(
    ["tcp://127.0.0.1:7100"],
    "Registry cluster endpoints, tried in order (standbys after the first)",
    {
      pattern: ENDPOINT,
      hint: "tcp://HOST:PORT",
    },
  ),
  registry_http_port: int(
    7180,
    0,
    65535,
    "HTTP port of the registries named in `registry` (same hosts): the play page asks their /discover for another node when its own dies (0 = none)",
  ),
  log_level: oneOf("info", LOG_LEVELS, "Lowest level logged"),
  state_file: str(
    "",
    "Where a cluster node remembers its last epoch and role across restarts (empty = nowhere; a restarted old master then counts as new)",
  ),
  data_dir: str(
    "data",
    "Folder where the node keeps its world durably (log of updates + snapshots; one folder per node, locked while in use); empty = nothing is persisted and a restart starts empty",
  ),
  persistence: group({
    snapshot_interval_s: int(
      30,
      1,
      86_400,
      "Snapshot the state this often: bounds the log a restart replays (30 s of log replays in 2-5 s at 250,000 moving users); two snapshots are kept",
    ),
    snapshot_log_mb: int(
      64,
      1,
      1_000_000,
      "…or as soon as the log since the last snapshot holds this many MiB",
    ),
    snapshot_slice_ms: num(
      2,
      0.1,
      1000,
      "Time per tick spent encoding a snapshot (the rest of the tick stays the world's)",
    ),
  }, "Persistence in data_dir"),
  curve: CURVE_SCHEMA,
  world: group({
    width: num(10_000, 1, 1e7, "World width in metres"),
    height: num(10_000, 1, 1e7, "World height in metres"),
    cell_size: num(50, 1, 1e6, "Grid cell size in metres"),
    max_users: int(200_000, 1, 10_000_000, "Most users the world holds"),
    max_speed: num(50, 0, 1e6, "Largest velocity magnitude, m/s"),
    initial_money: num(1000, -1e12, 1e12, "Money a new user starts with"),
    tick_time: num(0.02, 0.001, 10, "Seconds per world tick"),
    max_aoe_radius: num(50, 0, 1e6, "Largest aoe radius, m"),
    max_aoe_amount: int(1_000_000, 0, 1_000_000_000, "Largest absolute aoe amount"),
    max_query_radius: num(1000, 0, 1e7, "Largest query circle radius, m"),
    max_query_results: int(1000, 1, 100_000, "Most users one query or aoe reply lists"),
  }, "The world"),
  clients: group({
    zmq_engine: oneOf(
      "zmtp",
      ["zmtp", "libzmq"] as const,
      "What serves the ZeroMQ client port: zmtp (ZMTP 3.1 in TypeScript on raw sockets in one epoll set: about half the CPU per request with one connection per client; needs Linux and --allow-ffi, else the node warns and uses libzmq) or libzmq (a libzmq ROUTER socket)",
    ),
    idle_timeout_ms: int(
      10_000,
      100,
      3_600_000,
      "Drop a client silent this long (any message counts)",
    ),
    max_frame_bytes: int(
      65_536,
      64,
      16_777_216,
      "Largest client frame accepted; larger ones get FRAME_TOO_LARGE up to frame_disconnect_bytes",
    ),
    frame_disconnect_bytes: int(
      1_048_576,
      64,
      1_073_741_824,
      "A frame larger than this (or than max_frame_bytes, if larger) makes the node close the connection without a reply (counted in disconnects)",
    ),
    max_requests_per_second: int(
      1000,
      1,
      1_000_000,
      "Work units per second one client id may use (a request costs 1 plus its work, see README Limits); beyond: RATE_LIMITED",
    ),
    max_clients: int(
      100_000,
      1,
      10_000_000,
      "Most client ids tracked at once; beyond: UNAVAILABLE",
    ),
    max_ids_per_connection: int(
      4096,
      1,
      10_000_000,
      "Most client ids one connection carries at once (a game client uses one); beyond: UNAVAILABLE",
    ),
    max_requests_per_connection: int(
      10_000,
      1,
      10_000_000,
      "Work units per second one connection may use over all its client ids, in bursts of a tenth of that; beyond: RATE_LIMITED, and past as many refusals again in a second, dropped unanswered",
    ),
    max_new_users_per_connection: int(
      1000,
      1,
      1_000_000,
      "Logins that create a user, per second per connection; beyond: RATE_LIMITED",
    ),
    send_hwm: int(
      100,
      1,
      1_000_000,
      "Replies queued per connection before max_backlog_bytes counts (a client reading them slower gets the rest from the node's backlog)",
    ),
    max_backlog_bytes: int(
      1_048_576,
      0,
      1_073_741_824,
      "Reply bytes the node holds per connection beyond send_hwm; beyond: the reply is dropped, and while over half of it is held the connection's requests are dropped unread",
    ),
    checksum_interval_ms: int(
      500,
      0,
      600_000,
      "status with_checksum computes the state checksum (a pass over every user) at most once per this interval; requests in between wait for the next one",
    ),
    session_linger_ms: int(
      30_000,
      0,
      86_400_000,
      "Keep a dropped client's user this long for a resume",
    ),
    read_workers: int(
      0,
      0,
      64,
      "Reader threads answering circle and rectangle queries against the last whole tick (0: the node's thread answers them; see README Concurrent reads)",
    ),
  }, "Client handling"),
  cluster: group({
    members: list(
      [],
      "Node ids of every member of the cluster, the same list in every node's config (required in cluster mode); writes and elections need a majority of them",
      { pattern: ID, hint: "node ids: 1-64 of A-Z a-z 0-9 _ . -" },
    ),
    register_timeout_ms: int(
      5000,
      100,
      600_000,
      "Exit if no registry accepts the node within this time",
    ),
    report_interval_ms: int(200, 20, 60_000, "State report (heartbeat) interval to the registry"),
    registry_timeout_ms: int(
      1500,
      100,
      600_000,
      "Registry silent this long counts as down: retry and fail over",
    ),
    retry_max_ms: int(2000, 50, 60_000, "Largest backoff between registry retries"),
    min_replicas_to_ack: int(
      -1,
      -1,
      100,
      "Slaves that must hold a write before it is acknowledged: -1 (default, safe) a majority of cluster.members with the master; n >= 0 trades safety for availability: n, fewer when fewer slaves are live (a failover can then lose acknowledged writes)",
    ),
    ack_timeout_ms: int(
      2000,
      10,
      600_000,
      "Give up on replica acknowledgement after this long (reply TIMEOUT)",
    ),
    forward_timeout_ms: int(
      3000,
      10,
      600_000,
      "A slave's forwarded write fails with TIMEOUT after this long",
    ),
    snapshot_timeout_ms: int(
      5000,
      100,
      600_000,
      "Ask again when a snapshot does not arrive in this time",
    ),
    checksum_every_ticks: int(
      50,
      0,
      1_000_000,
      "Publish a world checksum every N ticks (0 = never)",
    ),
    checksum_parts: int(
      8,
      1,
      4096,
      "Each checksum covers the users whose id % N is its part, in turn (250k users: ~6 ms vs ~18 ms whole)",
    ),
    fence_timeout_ms: int(
      3000,
      100,
      600_000,
      "A master cut off from registry and slaves this long stops acknowledging writes",
    ),
    publish_hwm: int(
      1000,
      1,
      10_000_000,
      "Replication updates queued per slave (1000: 20 s of ticks) before the publisher drops them for it (the slave then resyncs from a snapshot); bounds what a frozen or removed slave holds on the master to this many updates",
    ),
    replica_silence_ms: int(
      1000,
      50,
      600_000,
      "A slave with no update for this long asks for a snapshot",
    ),
    publish_timeout_ms: int(
      3000,
      0,
      600_000,
      "A slave connection that answers no heartbeat of the publisher for this long is closed by the master, and its queue freed (a frozen or dead slave; it reconnects and resyncs once it runs again); 0 = never",
    ),
  }, "Cluster behaviour"),
  pretty_log: bool(true, "Human-readable log lines (false: JSON lines)"),
};

/** A game node's config. */
export type NodeConfig = ConfigOf<typeof NODE_SCHEMA>;

/** Every field of the registry's config. */
export const REGISTRY_SCHEMA = {
  bind: str("127.0.0.1", "Interface to listen on", {
    pattern: HOST,
    hint: "a host name or address",
  }),
  host: str("127.0.0.1", "Address clients and nodes use to reach the registry", {
    pattern: HOST,
    hint: "a host name or address",
  }),
  cluster_port: int(7100, 0, 65535, "Port for nodes (CURVE when keys are set)"),
  discovery_port: int(7101, 0, 65535, "Port for clients asking for a node"),
  http_port: int(
    7180,
    0,
    65535,
    "HTTP port: /discover, /metrics, /healthz, /readyz, /status (0 = off)",
  ),
  node_timeout_ms: int(1000, 50, 600_000, "A node silent this long is dead (master: failover)"),
  recovery_grace_ms: int(
    5000,
    0,
    600_000,
    "After start, rebuild from nodes' registrations without any failover",
  ),
  tick_ms: int(50, 5, 10_000, "How often liveness is checked"),
  election_timeout_ms: int(
    2000,
    50,
    600_000,
    "An election round without promises from a majority of the members in this time is retried with a higher epoch",
  ),
  log_level: oneOf("info", LOG_LEVELS, "Lowest level logged"),
  curve: CURVE_SCHEMA,
  pretty_log: bool(true, "Human-readable log lines (false: JSON lines)"),
};

/** The registry's config. */
export type RegistryConfig = ConfigOf<typeof REGISTRY_SCHEMA>;

/** Every field of the client's config. */
export const CLIENT_SCHEMA = {
  node: str("tcp://127.0.0.1:7000", "Node to connect to when no registry is given", {
    pattern: ENDPOINT,
    hint: "tcp://HOST:PORT",
  }),
  registry: list([], "Registry discovery endpoints; when set, nodes are found through them", {
    pattern: ENDPOINT,
    hint: "tcp://HOST:PORT",
  }),
  ws: str(
    "",
    "WebSocket URL of a node (ws://HOST:HTTP_PORT/ws): when set, the client speaks WebSocket to it instead of ZeroMQ to `node`",
    { pattern: WS_URL, hint: "ws://HOST:PORT/ws" },
  ),
  transport: oneOf(
    "zmq",
    ["zmq", "ws"] as const,
    "zmq: ZeroMQ to client ports; ws: WebSocket to /ws on HTTP ports (`ws`, or the http_port of the node a registry names)",
  ),
  zmq_engine: oneOf(
    "zmtp",
    ["zmtp", "epoll", "libzmq"] as const,
    "How tcp:// node endpoints are spoken: zmtp (ZMTP 3.1 in TypeScript on Deno's TCP: the lowest round trip), epoll (the same on raw sockets in one epoll set, Linux: the least CPU and garbage per connection, for thousands of connections in one process, e.g. the load generator) or libzmq (a libzmq DEALER socket)",
  ),
  want_master: bool(false, "Ask the registry for the master rather than the least-loaded node"),
  heartbeat_interval_ms: int(1000, 10, 600_000, "Ping the node after this long without traffic"),
  server_timeout_ms: int(3000, 50, 600_000, "Node silent this long counts as gone: reconnect"),
  request_timeout_ms: int(5000, 10, 600_000, "A request with no reply fails after this long"),
  reconnect_min_ms: int(100, 1, 600_000, "First reconnect delay (doubles, with jitter)"),
  reconnect_max_ms: int(3000, 1, 600_000, "Largest reconnect delay"),
  format: oneOf("binary", ["binary", "json"] as const, "Wire format the client speaks"),
  log_level: oneOf("info", LOG_LEVELS, "Lowest level logged"),
  pretty_log: bool(true, "Human-readable log lines (false: JSON lines)"),
};

/** The client's config. */
export type ClientConfig = ConfigOf<typeof CLIENT_SCHEMA>;
