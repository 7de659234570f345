/**
 * A node's HTTP routes: `/status` (the node's status reply as JSON, with its counters, connections
 * by transport and registry links), `/metrics` (Prometheus text, see {@linkcode nodeMetrics}),
 * `/healthz` (alive and ticking), `/readyz` (ready for clients) and `/ws` (the WebSocket client
 * port). Served by {@linkcode serveRoutes} on `http_port`.
 *
 * @module
 */
import type { RouteHandler } from "../http/mod.ts";
import { metricsResponse } from "../metrics/mod.ts";
import type { NodeServer } from "./node_server.ts";
import { consoleRoutes } from "./console_routes.ts";
import { nodeMetrics } from "./node_metrics.ts";

/** The routes of `server`'s HTTP plane, by path. */
export function nodeRoutes(server: NodeServer): Record<string, RouteHandler> {
  const node = server.node;
  const registry = nodeMetrics(server, server.nodeId);
  return {
    ...consoleRoutes(server),
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
    "/metrics": () => metricsResponse(registry),
    "/healthz": () => {
      const { ok, reason } = server.health(performance.now());
      return Response.json({ ok, reason, nodeId: server.nodeId }, { status: ok ? 200 : 503 });
    },
    "/readyz": () => {
      const { ready, reason } = server.readiness();
      return Response.json(
        { ready, reason, nodeId: server.nodeId, role: node.role, epoch: node.epoch },
        { status: ready ? 200 : 503 },
      );
    },
  };
}
