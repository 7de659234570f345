/**
 * A node's HTTP routes: `/status` (the node's status reply as JSON, with its counters, connections
 * by transport and registry links), `/metrics` (Prometheus text) and `/ws` (the WebSocket client
 * port). Served by {@linkcode serveRoutes} on `http_port`.
 *
 * @module
 */
import type { RouteHandler } from "../http/mod.ts";
import { DELAY_EDGES_MS } from "../metrics/mod.ts";
import type { NodeServer } from "./node_server.ts";

/** The routes of `server`'s HTTP plane, by path. */
export function nodeRoutes(server: NodeServer): Record<string, RouteHandler> {
  const node = server.node;
  return {
    "/ws": (request) =>
      server.ws?.handle(request) ??
        Response.json({ error: "No WebSocket port" }, { status: 404 }),
    "/status": () => {
      const status = node.statusReply(performance.now());
      return Response.json({
        ...status,
        counters: server.counters,
        transports: server.transports,
        registries: server.cluster?.registries.map((l) => ({
          endpoint: l.endpoint,
          healthy: l.healthy,
        })),
      });
    },
    "/metrics": () => {
      const status = node.statusReply(performance.now());
      const l = status.load;
      const lines = [
        `gameserver_connections ${l.connections}`,
        `gameserver_sessions ${l.sessions}`,
        `gameserver_users ${l.users}`,
        `gameserver_tick_avg_ms ${l.tickAvgMs}`,
        `gameserver_tick_p99_ms ${l.tickP99Ms}`,
        `gameserver_load_factor ${l.loadFactor}`,
        `gameserver_last_seq ${l.lastSeq}`,
        `gameserver_epoch ${status.epoch}`,
        ...Object.entries(server.counters).map(([k, v]) =>
          `gameserver_${k.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase())}_total ${v}`
        ),
        ...histogramLines("gameserver_tick_start_late_ms", node.tickLate.counts()),
        ...histogramLines("gameserver_loop_lag_ms", node.loopLag.counts()),
        ...journalLines(server),
      ];
      return new Response(lines.join("\n") + "\n", { headers: { "content-type": "text/plain" } });
    },
  };
}

/** The journal's figures as metric lines (none without a data_dir). */
function journalLines(server: NodeServer): string[] {
  const journal = server.journal;
  if (!journal) return [];
  const s = journal.stats;
  return [
    `gameserver_durable_epoch ${journal.durable.epoch}`,
    `gameserver_durable_seq ${journal.durable.seq}`,
    `gameserver_log_records_total ${s.records}`,
    `gameserver_log_bytes_total ${s.logBytes}`,
    `gameserver_log_syncs_total ${s.syncs}`,
    `gameserver_log_last_commit_ms ${s.lastCommitMs}`,
    `gameserver_snapshots_total ${s.snapshots}`,
  ];
}

/** Prometheus text lines of a cumulative histogram from per-bucket counts (DELAY_EDGES_MS). */
function histogramLines(name: string, counts: number[]): string[] {
  const lines: string[] = [];
  let cumulative = 0;
  counts.forEach((n, i) => {
    cumulative += n;
    const le = i < DELAY_EDGES_MS.length ? String(DELAY_EDGES_MS[i]) : "+Inf";
    lines.push(`${name}_bucket{le="${le}"} ${cumulative}`);
  });
  lines.push(`${name}_count ${cumulative}`);
  return lines;
}
