/**
 * Read-only JSON routes for the console: GET only, query parameters checked (a bad one is a 400
 * naming it, and changes nothing), answers readable from any origin (the dashboard, served by the
 * registry, reads the nodes' routes; the play page reads the registry's).
 *
 * @module
 */
import type { RouteHandler } from "../http/mod.ts";
import { methodNotAllowed } from "./static_assets.ts";

/** A query parameter that is not what the route takes; answered with 400. */
export class BadRequestError extends Error {
  /** Creates the error with a message for the client. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "BadRequestError";
  }
}

/** Headers that let a page from another origin read the answer. */
export const CORS_HEADERS = {
  "access-control-allow-origin": "*",
  "cache-control": "no-store",
};

/** A GET route answering `produce(url)` as JSON; parameters named in `params` only. */
export function jsonRoute(
  params: readonly string[],
  produce: (url: URL) => unknown,
): RouteHandler {
  return (request) => {
    if (request.method === "OPTIONS") {
      return new Response(null, {
        status: 204,
        headers: { ...CORS_HEADERS, "access-control-allow-methods": "GET" },
      });
    }
    if (request.method !== "GET" && request.method !== "HEAD") return methodNotAllowed();
    const url = new URL(request.url);
    try {
      for (const name of url.searchParams.keys()) {
        if (!params.includes(name)) {
          throw new BadRequestError(
            `Unknown parameter ${JSON.stringify(name)}; this route takes ${
              params.length ? params.join(", ") : "none"
            }`,
          );
        }
      }
      return Response.json(produce(url), { headers: CORS_HEADERS });
    } catch (err) {
      if (!(err instanceof BadRequestError)) throw err;
      return Response.json({ error: err.message }, { status: 400, headers: CORS_HEADERS });
    }
  };
}

/**
 * The integer parameter `name` of `url` in [min, max], or `fallback` when absent. Throws
 * {@linkcode BadRequestError} for anything else (given twice, empty, not a plain integer).
 */
export function intParam(
  url: URL,
  name: string,
  range: { min: number; max: number; fallback: number },
): number {
  const values = url.searchParams.getAll(name);
  if (values.length === 0) return range.fallback;
  const text = values[0];
  const value = Number(text);
  if (
    values.length > 1 || !/^-?\d{1,16}$/.test(text) || !Number.isSafeInteger(value) ||
    value < range.min || value > range.max
  ) {
    throw new BadRequestError(
      `${name} must be one integer from ${range.min} to ${range.max}, got ${
        values.map((v) => JSON.stringify(v)).join(", ")
      }`,
    );
  }
  return value;
}
