/**
 * The registry's HTTP routes: `/status` (the sentinel's view as JSON), `/metrics` (Prometheus text),
 * `/healthz`, `/readyz`, and `/discover` for browsers (the node the discovery port would name, with
 * its ZeroMQ endpoint and WebSocket URL; CORS open, so a page served by any node can ask).
 *
 * @module
 */
import type { RouteHandler } from "../http/mod.ts";
import { connectEndpoint } from "../config/mod.ts";
import { metricsResponse } from "../metrics/mod.ts";
import type { RegistryServer } from "./registry_server.ts";
import { registryMetrics } from "./registry_metrics.ts";
import type { NodeAddress } from "./types.ts";

/** The CORS headers of `/discover`: any origin may ask, with GET. */
export const DISCOVER_CORS_HEADERS: Readonly<Record<string, string>> = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, OPTIONS",
  "access-control-allow-headers": "content-type",
  "access-control-max-age": "600",
};

/** What `/discover` answers with a node (status 200). */
export interface DiscoverBody {
  /** The chosen node: id, host, ports, role. */
  node: NodeAddress;
  /** Its ZeroMQ client endpoint. */
  endpoint: string;
  /** Its WebSocket URL (`ws://HOST:HTTP_PORT/ws`), or null when it serves no HTTP. */
  wsUrl: string | null;
}

/** The routes of the registry `server`'s HTTP plane, by path. */
export function registryRoutes(server: RegistryServer): Record<string, RouteHandler> {
  const registry = registryMetrics(server.sentinel, {
    registryId: server.registryId,
    counters: server.counters,
  });
  return {
    "/status": () =>
      Response.json({
        ...server.sentinel.snapshot(),
        counters: {
          ...server.counters,
          discoveries: Object.fromEntries(server.counters.discoveries),
        },
      }),
    "/metrics": () => metricsResponse(registry),
    "/healthz": () => {
      const { ok, reason } = server.health(performance.now());
      return Response.json({ ok, reason }, { status: ok ? 200 : 503 });
    },
    "/readyz": () => {
      const { ready, reason } = server.readiness();
      return Response.json({ ready, reason }, { status: ready ? 200 : 503 });
    },
    "/discover": (request) => {
      if (request.method === "OPTIONS") {
        return new Response(null, { status: 204, headers: DISCOVER_CORS_HEADERS });
      }
      if (request.method !== "GET" && request.method !== "HEAD") {
        return Response.json({ error: "Use GET" }, {
          status: 405,
          headers: { ...DISCOVER_CORS_HEADERS, allow: "GET, OPTIONS" },
        });
      }
      const flag = new URL(request.url).searchParams.get("want_master") ?? "";
      const wantMaster = flag === "1" || flag === "true";
      const result = server.discover(wantMaster, "http");
      if (result.type === "none") {
        return Response.json(
          { error: "NO_NODE_AVAILABLE", reason: result.reason, wantMaster },
          { status: 503, headers: { ...DISCOVER_CORS_HEADERS, "retry-after": "1" } },
        );
      }
      const node = result.node;
      const body: DiscoverBody = {
        node,
        endpoint: connectEndpoint(node.host, node.clientPort),
        wsUrl: node.httpPort > 0 ? wsUrl(node.host, node.httpPort) : null,
      };
      return Response.json(body, { headers: DISCOVER_CORS_HEADERS });
    },
  };
}

function wsUrl(host: string, port: number): string {
  const h = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  return `ws://${h}:${port}/ws`;
}
