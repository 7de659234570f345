/**
 * The console's static files (`web/`): read once when a process builds its routes, then served
 * from memory with their content type and an ETag, so a page costs no disk read per request.
 *
 * @module
 */
import type { RouteHandler } from "../http/mod.ts";

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  png: "image/png",
};

/** The `web/` folder of this project (beside `lib/`). */
export const WEB_DIR = new URL("../../web/", import.meta.url);

/**
 * Routes serving `files` (route path → file name in `web/`), read now. Throws (naming the file) if
 * one is missing: a process without its pages should not start quietly.
 */
export function staticRoutes(files: Record<string, string>): Record<string, RouteHandler> {
  const routes: Record<string, RouteHandler> = {};
  for (const [path, name] of Object.entries(files)) {
    const body = Deno.readFileSync(new URL(name, WEB_DIR));
    const ext = name.slice(name.lastIndexOf(".") + 1);
    const etag = `"${body.length.toString(16)}-${hash(body).toString(16)}"`;
    const headers = {
      "content-type": TYPES[ext] ?? "application/octet-stream",
      "cache-control": "no-cache",
      etag,
    };
    routes[path] = (request) => {
      if (request.method !== "GET" && request.method !== "HEAD") return methodNotAllowed();
      if (request.headers.get("if-none-match") === etag) {
        return new Response(null, { status: 304, headers });
      }
      return new Response(request.method === "HEAD" ? null : body, { headers });
    };
  }
  return routes;
}

/** 405 with a JSON error, for the console's read-only routes. */
export function methodNotAllowed(): Response {
  return Response.json({ error: "Only GET is allowed here" }, {
    status: 405,
    headers: { allow: "GET, HEAD" },
  });
}

/** FNV-1a over the bytes: a cheap ETag, not a checksum anyone relies on. */
function hash(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}
