/**
 * A node's web console routes: the play page at `/` with its script and style, `/console/config`
 * (what the page needs: world bounds, limits, the registries' HTTP URLs for finding another node),
 * `/console/node` (the node's figures for the cluster dashboard) and `/console/density` (a coarse
 * grid of user counts for the dashboard's heat map). The JSON routes are readable from any origin.
 *
 * @module
 */
import type { RouteHandler } from "../http/mod.ts";
import { intParam, jsonRoute, staticRoutes } from "../web/mod.ts";
import type { NodeServer } from "./node_server.ts";

/** Largest density grid side a client may ask for. */
export const MAX_DENSITY_CELLS = 256;
/** How long a density grid or transport count is reused before it is counted again. */
const REUSE_MS = 500;

/** The console routes of `server`, by path. */
export function consoleRoutes(server: NodeServer): Record<string, RouteHandler> {
  const config = server.config;
  const registries = config.mode === "cluster" && config.registry_http_port > 0
    ? config.registry.map((endpoint) =>
      `http://${new URL(endpoint.replace(/^tcp:/, "http:")).hostname}:${config.registry_http_port}`
    )
    : [];
  const density = densityCounter(server);
  const transports = reused(() => {
    // Connections by transport ("zmq", "ws"): a pass over the client table, hence reused.
    const counts: Record<string, number> = { zmq: 0, ws: 0 };
    for (const [name, c] of server.node.clients.countByTransport()) counts[name] = c.connections;
    return counts;
  });
  return {
    ...staticRoutes({
      "/": "play.html",
      "/console/play.js": "play.js",
      "/console/console.css": "console.css",
    }),
    "/console/config": jsonRoute([], () => ({
      nodeId: config.node_id,
      mode: config.mode,
      ws: "/ws",
      registries,
      world: {
        width: config.world.width,
        height: config.world.height,
        maxSpeed: config.world.max_speed,
        maxAoeRadius: config.world.max_aoe_radius,
        maxAoeAmount: config.world.max_aoe_amount,
        maxQueryResults: config.world.max_query_results,
        tickMs: config.world.tick_time * 1000,
      },
      clients: {
        maxRequestsPerSecond: config.clients.max_requests_per_second,
        idleTimeoutMs: config.clients.idle_timeout_ms,
      },
    })),
    "/console/node": jsonRoute([], () => ({
      ...server.node.statusReply(performance.now()),
      transports: transports(),
    })),
    "/console/density": jsonRoute(["cols", "rows"], (url) => {
      const cols = intParam(url, "cols", { min: 1, max: MAX_DENSITY_CELLS, fallback: 64 });
      const rows = intParam(url, "rows", { min: 1, max: MAX_DENSITY_CELLS, fallback: 64 });
      return density(cols, rows);
    }),
  };
}

/** `compute()`, called again only once its last answer is REUSE_MS old. */
function reused<T>(compute: () => T): () => T {
  let last: { at: number; value: T } | undefined;
  return () => {
    const now = performance.now();
    if (!last || now - last.at >= REUSE_MS) last = { at: now, value: compute() };
    return last.value;
  };
}

/** Counts the world into a grid at most once per REUSE_MS for each shape. */
function densityCounter(server: NodeServer) {
  let last: { key: string; at: number; body: unknown } | undefined;
  return (cols: number, rows: number) => {
    const now = performance.now();
    const key = `${cols}x${rows}`;
    if (last && last.key === key && now - last.at < REUSE_MS) return last.body;
    const world = server.node.state.world;
    const counts = new Uint32Array(cols * rows);
    const users = world.density(cols, rows, counts);
    let max = 0;
    for (const n of counts) max = Math.max(max, n);
    const body = {
      nodeId: server.config.node_id,
      width: world.width,
      height: world.height,
      cols,
      rows,
      users,
      max,
      counts: Array.from(counts),
    };
    last = { key, at: now, body };
    return body;
  };
}
