/**
 * The registry's web console routes: the cluster dashboard at `/` with its script and style, and
 * `/events` (the recent cluster events, {@linkcode ClusterEvents}) as JSON readable from any
 * origin. The dashboard reads the registry's `/status` for the nodes, and each node's
 * `/console/node` and `/console/density`.
 *
 * @module
 */
import type { RouteHandler } from "../http/mod.ts";
import { intParam, jsonRoute, staticRoutes } from "../web/mod.ts";
import type { ClusterEvents } from "./cluster_events.ts";

/** What the dashboard routes read. */
export interface DashboardSource {
  /** The registry's id (`host:cluster_port`). */
  registryId: string;
  /** Wall-clock time (ms) the registry started: a change tells the dashboard it restarted. */
  startedAt: number;
  /** The event ring. */
  events: ClusterEvents;
}

/** The dashboard routes, by path. */
export function dashboardRoutes(source: DashboardSource): Record<string, RouteHandler> {
  return {
    ...staticRoutes({
      "/": "dashboard.html",
      "/console/dashboard.js": "dashboard.js",
      "/console/console.css": "console.css",
    }),
    "/events": jsonRoute(["since"], (url) => {
      const since = intParam(url, "since", {
        min: 0,
        max: Number.MAX_SAFE_INTEGER,
        fallback: 0,
      });
      return {
        registryId: source.registryId,
        startedAt: source.startedAt,
        next: source.events.nextId,
        events: source.events.since(since),
      };
    }),
  };
}
