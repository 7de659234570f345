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
/** How long a density grid is reused before it is counted again. */
const DENSITY_REUSE_MS = 500;

/** The console routes of `server`, by path. */
export function consoleRoutes(server: NodeServer): Record<string, RouteHandler> {
  const config = server.config;
  const registries = config.mode === "cluster" && config.registry_http_port > 0
    ? config.registry.map((endpoint) =>
      `http://${new URL(endpoint.replace(/^tcp:/, "http:")).hostname}:${config.registry_http_port}`
    )
    : [];
  const density = densityCounter(server);
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
    "/console/node": jsonRoute([], () => {
      const status = server.node.statusReply(performance.now());
      return {
        ...status,
        transports: { zmq: status.load.connections },
      };
    }),
    "/console/density": jsonRoute(["cols", "rows"], (url) => {
      const cols = intParam(url, "cols", { min: 1, max: MAX_DENSITY_CELLS, fallback: 64 });
      const rows = intParam(url, "rows", { min: 1, max: MAX_DENSITY_CELLS, fallback: 64 });
      return density(cols, rows);
    }),
  };
}

/** Counts the world into a grid at most once per DENSITY_REUSE_MS for each shape. */
function densityCounter(server: NodeServer) {
  let last: { key: string; at: number; body: unknown } | undefined;
  return (cols: number, rows: number) => {
    const now = performance.now();
    const key = `${cols}x${rows}`;
    if (last && last.key === key && now - last.at < DENSITY_REUSE_MS) return last.body;
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
