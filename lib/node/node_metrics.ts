import {
  type CollectedFamily,
  type MetricsRegistry,
  newMetricsRegistry,
  registerCollected,
  registerHistogram,
  type Sample,
} from "../metrics/mod.ts";
import type { NodeServer } from "./node_server.ts";

/** `# HELP` of each of the node server's counters, exposed as `gameserver_<snake_name>_total`. */
const COUNTER_HELP: Record<string, string> = {
  dropped: "Replies the transport did not take (peer gone, output full)",
  badFrames: "Messages that were not one decodable frame within max_frame_bytes",
  rateLimited: "Requests refused with RATE_LIMITED (client id, connection or new-user budget)",
  unanswered: "Requests of a connection far over its budget, dropped without a reply",
  idsRefused: "New client ids refused: max_clients or max_ids_per_connection",
  foreign: "Requests under a client id bound to another connection",
  loginsRefused: "Logins refused: another login of the client id in flight, or logged in elsewhere",
  abandonedLogins: "Users left to expire because no client holds them",
  stalled: "Requests of a connection that does not read its replies, dropped unread",
  overflowed: "Replies dropped because a connection's backlog was full",
  unroutable: "Replies dropped because their connection was gone",
  accepted: "Client connections opened (ZeroMQ port)",
  disconnects: "Client connections closed, by the client or by the node (ZeroMQ port)",
};

/** Counters with families of their own (by transport, by code) rather than one line each. */
const LABELLED = new Set(["requests", "errors"]);

const ROLES = { ROLE_MASTER: "master", ROLE_SLAVE: "slave", ROLE_SINGLE: "single" } as const;

/**
 * The node's Prometheus registry: its own (label `node_id`), with the default process metrics and
 * families that read the node's figures when scraped, so serving requests costs no metrics calls
 * beyond the counts the node keeps anyway. See the README's metrics table.
 */
export function nodeMetrics(server: NodeServer, nodeId: string): MetricsRegistry {
  const registry = newMetricsRegistry({ node_id: nodeId });
  const node = server.node;
  const families: CollectedFamily[] = [
    {
      name: "gameserver_role",
      type: "gauge",
      help: "1 for the node's current role (master, slave or single), 0 for the others",
      read: () =>
        Object.entries(ROLES).map(([wire, role]) => ({
          labels: { role },
          value: node.role === wire ? 1 : 0,
        })),
    },
    {
      name: "gameserver_epoch",
      type: "gauge",
      help: "Cluster epoch the node acts in (0 in single mode)",
      read: () => node.epoch,
    },
    {
      name: "gameserver_up",
      type: "gauge",
      help: "1 while ready for clients (see /readyz), else 0",
      read: () => server.readiness().ready ? 1 : 0,
    },
    {
      name: "gameserver_users",
      type: "gauge",
      help: "Users in the world",
      read: () => node.state.world.size,
    },
    ...byTransport(server),
    {
      name: "gameserver_requests_total",
      type: "counter",
      help: "Client messages received, by transport",
      read: () => map(node.requests.transports(), (t) => [{ transport: t.transport }, t.requests]),
    },
    {
      name: "gameserver_errors_total",
      type: "counter",
      help: "Error replies sent, by error code",
      read: () => map(node.requests.errors(), ([code, n]) => [{ code }, n]),
    },
    {
      name: "gameserver_received_bytes_total",
      type: "counter",
      help: "Bytes of client messages received, by transport",
      read: () =>
        map(node.requests.transports(), (t) => [{ transport: t.transport }, t.bytesReceived]),
    },
    {
      name: "gameserver_sent_bytes_total",
      type: "counter",
      help: "Bytes of replies and notices sent to clients, by transport",
      read: () => map(node.requests.transports(), (t) => [{ transport: t.transport }, t.bytesSent]),
    },
    ...Object.keys(server.counters).filter((k) => !LABELLED.has(k)).map((key) => ({
      name: `gameserver_${snake(key)}_total`,
      type: "counter" as const,
      help: COUNTER_HELP[key] ?? key,
      read: () => server.counters[key] ?? 0,
    })),
    {
      name: "gameserver_ticks_total",
      type: "counter",
      help: "World ticks run (master and single node; a slave applies the master's)",
      read: () => node.tickCount,
    },
    {
      name: "gameserver_load_factor",
      type: "gauge",
      help: "Average tick duration over tick_time, last window (above 1: cannot keep up)",
      read: () => node.ticks.last.loadFactor,
    },
    ...clusterFamilies(server),
    ...journalFamilies(server),
  ];
  for (const family of families) registerCollected(registry, family);
  registerHistogram(registry, {
    name: "gameserver_tick_duration_seconds",
    help: "Duration of each tick (a slave: of each replication update applied)",
    read: () => [{ histogram: node.tickDuration }],
  });
  registerHistogram(registry, {
    name: "gameserver_tick_start_late_seconds",
    help: "How late each tick started against the fixed tick schedule",
    read: () => [{ histogram: node.tickLate }],
  });
  registerHistogram(registry, {
    name: "gameserver_loop_lag_seconds",
    help: "How late each tick's timer fired (event-loop lag)",
    read: () => [{ histogram: node.loopLag }],
  });
  registerHistogram(registry, {
    name: "gameserver_request_duration_seconds",
    help:
      "Time from a client message's receipt to its reply, by op and transport (a write's includes replication and fdatasync)",
    read: function* () {
      for (const t of node.requests.transports()) {
        for (const [op, histogram] of t.durations) {
          yield { labels: { op, transport: t.transport }, histogram };
        }
      }
    },
  });
  return registry;
}

/** Connections, client ids and sessions by transport: one pass over the client table per family. */
function byTransport(server: NodeServer): CollectedFamily[] {
  const count = (field: "connections" | "clientIds" | "sessions") => (): Sample[] => {
    const counts = server.node.clients.countByTransport();
    // A transport that served requests but holds no connection now still shows, at 0.
    for (const t of server.node.requests.transports()) {
      if (!counts.has(t.transport)) {
        counts.set(t.transport, { connections: 0, clientIds: 0, sessions: 0 });
      }
    }
    return [...counts].map(([transport, c]) => ({ labels: { transport }, value: c[field] }));
  };
  return [
    {
      name: "gameserver_connections",
      type: "gauge",
      help: "Client connections known (not yet expired), by transport",
      read: count("connections"),
    },
    {
      name: "gameserver_client_ids",
      type: "gauge",
      help: "Client ids known, logged in or not, by transport",
      read: count("clientIds"),
    },
    {
      name: "gameserver_sessions",
      type: "gauge",
      help: "Client ids logged in as a user, by transport",
      read: count("sessions"),
    },
  ];
}

/** Replication, elections and forwarding (cluster mode; zeros in single mode). */
function clusterFamilies(server: NodeServer): CollectedFamily[] {
  const stats = () => server.cluster?.stats;
  const replica = () => server.cluster?.replicaStats;
  return [
    {
      name: "gameserver_replication_seq",
      type: "gauge",
      help: "Sequence of the last replication update held (published as master, applied as slave)",
      read: () => server.node.lastSeq,
    },
    {
      name: "gameserver_replication_lag_seconds",
      type: "gauge",
      help:
        "Slave: time since the last update from its master was applied (a live slave stays near one tick); 0 otherwise",
      read: () => {
        const s = stats();
        if (!s?.following || s.lastUpdateAt === 0) return 0;
        return Math.max(0, performance.now() - s.lastUpdateAt) / 1000;
      },
    },
    {
      name: "gameserver_replication_live",
      type: "gauge",
      help: "1 while a slave applies its master's updates as they come, else 0",
      read: () => stats()?.following && stats()?.syncState === "live" ? 1 : 0,
    },
    {
      name: "gameserver_replication_updates_published_total",
      type: "counter",
      help: "Replication updates published as master",
      read: () => stats()?.updatesPublished ?? 0,
    },
    {
      name: "gameserver_replication_updates_applied_total",
      type: "counter",
      help: "Replication updates applied as slave",
      read: () => replica()?.applied ?? 0,
    },
    {
      name: "gameserver_replication_published_bytes_total",
      type: "counter",
      help: "Bytes of replication updates published as master",
      read: () => stats()?.bytesPublished ?? 0,
    },
    {
      name: "gameserver_replication_received_bytes_total",
      type: "counter",
      help: "Bytes of replication updates received as slave",
      read: () => stats()?.bytesReceived ?? 0,
    },
    {
      name: "gameserver_snapshots_served_total",
      type: "counter",
      help: "World snapshots sent to slaves as master",
      read: () => stats()?.snapshotsServed ?? 0,
    },
    {
      name: "gameserver_snapshots_applied_total",
      type: "counter",
      help: "Master snapshots restored as slave",
      read: () => replica()?.snapshotsApplied ?? 0,
    },
    {
      name: "gameserver_snapshot_requests_total",
      type: "counter",
      help: "Snapshots asked of the master (start, gap, epoch change, drift, silence)",
      read: () => replica()?.snapshotRequests ?? 0,
    },
    {
      name: "gameserver_replication_drifts_total",
      type: "counter",
      help: "Checksum mismatches found against the master",
      read: () => replica()?.drifts ?? 0,
    },
    {
      name: "gameserver_forwarded_writes_total",
      type: "counter",
      help: "Writes forwarded: sent to the master as slave, or executed for a slave as master",
      read: () => [
        { labels: { side: "sent" }, value: stats()?.forwardedWrites ?? 0 },
        { labels: { side: "executed" }, value: stats()?.forwardedExecuted ?? 0 },
      ],
    },
    {
      name: "gameserver_writes_awaiting_acks",
      type: "gauge",
      help: "Writes applied by this master and waiting until a majority (and its disk) hold them",
      read: () => stats()?.pendingAcks ?? 0,
    },
    {
      name: "gameserver_election_promises_total",
      type: "counter",
      help: "Election rounds answered, by whether the node promised the epoch",
      read: () => [
        { labels: { granted: "true" }, value: stats()?.promisesGranted ?? 0 },
        { labels: { granted: "false" }, value: stats()?.promisesRefused ?? 0 },
      ],
    },
    {
      name: "gameserver_role_changes_total",
      type: "counter",
      help: "Changes between master and slave",
      read: () => stats()?.roleChanges ?? 0,
    },
  ];
}

/** The journal's figures (zeros without a data_dir). */
function journalFamilies(server: NodeServer): CollectedFamily[] {
  const stats = () => server.journal?.stats;
  return [
    {
      name: "gameserver_durable_seq",
      type: "gauge",
      help: "Sequence of the last update fdatasync'd in data_dir",
      read: () => server.journal?.durable.seq ?? 0,
    },
    {
      name: "gameserver_log_records_total",
      type: "counter",
      help: "Log records appended in data_dir",
      read: () => stats()?.records ?? 0,
    },
    {
      name: "gameserver_log_written_bytes_total",
      type: "counter",
      help: "Log bytes written in data_dir",
      read: () => stats()?.logBytes ?? 0,
    },
    {
      name: "gameserver_log_syncs_total",
      type: "counter",
      help: "fdatasync calls on the log (group commits)",
      read: () => stats()?.syncs ?? 0,
    },
    {
      name: "gameserver_log_last_commit_seconds",
      type: "gauge",
      help: "Duration of the last group commit (write + fdatasync)",
      read: () => (stats()?.lastCommitMs ?? 0) / 1000,
    },
    {
      name: "gameserver_disk_snapshots_total",
      type: "counter",
      help: "Snapshots written to data_dir (own and installed from a master)",
      read: () => stats()?.snapshots ?? 0,
    },
  ];
}

function map<T>(items: Iterable<T>, f: (item: T) => [Record<string, string>, number]): Sample[] {
  return Array.from(items, (item) => {
    const [labels, value] = f(item);
    return { labels, value };
  });
}

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase());
}
