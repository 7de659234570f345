/**
 * The HTTP plane every process serves on its `http_port`: a table of routes by path, a JSON 404 that
 * lists them, and an error in a handler answered with 500 (and logged) instead of ending the
 * process. Nodes and the registry each build their own table.
 *
 * ```ts
 * import { serveRoutes } from "./mod.ts";
 * const http = serveRoutes({ bind: "127.0.0.1", port: 0, name: "example" }, {
 *   "/status": () => Response.json({ ok: true }),
 * });
 * await http.shutdown();
 * ```
 *
 * @module
 */
import { log } from "../log/mod.ts";

const logger = log("http");

/** Answers one request (a WebSocket upgrade included) on one path. */
export type RouteHandler = (request: Request, info: Deno.ServeHandlerInfo) =>
  | Response
  | Promise<Response>;

/** Where {@linkcode serveRoutes} listens. */
export interface HttpOptions {
  /** Interface to bind (`*` = every interface). */
  bind: string;
  /** Port (0 = any free port; the caller decides whether to serve at all). */
  port: number;
  /** The process's name in the log line ("node n1", "registry"). */
  name: string;
  /** Host name clients use (for the log line); default `bind`. */
  host?: string;
}

/** A running HTTP plane. */
export interface HttpPlane {
  /** The bound port. */
  readonly port: number;
  /** Stops accepting requests and waits for those in flight. */
  shutdown(): Promise<void>;
}

/** Serves `routes` on `options.port`; resolves the port once bound (see `port`). */
export function serveRoutes(options: HttpOptions, routes: Record<string, RouteHandler>): HttpPlane {
  const paths = Object.keys(routes).sort();
  const server = Deno.serve({
    hostname: options.bind === "*" ? "0.0.0.0" : options.bind,
    port: options.port,
    onListen: ({ port }) =>
      logger.info("{name} serves HTTP on http://{host}:{port} ({paths})", {
        name: options.name,
        host: options.host ?? options.bind,
        port,
        paths: paths.join(" "),
      }),
  }, async (request, info) => {
    const path = new URL(request.url).pathname;
    const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
    if (!route) {
      return Response.json({ error: `No route ${path}`, routes: paths }, { status: 404 });
    }
    try {
      return await route(request, info);
    } catch (err) {
      logger.error("HTTP {path} failed: {error}", {
        path,
        error: (err as Error)?.stack ?? String(err),
      });
      return Response.json({ error: "Internal error" }, { status: 500 });
    }
  });
  return {
    get port() {
      return (server.addr as Deno.NetAddr).port;
    },
    shutdown: () => server.shutdown(),
  };
}
