/**
 * The web console's server side: the static files of `web/` (play page, cluster dashboard) served
 * from memory, and read-only JSON routes with checked parameters that any origin may read. The
 * routes themselves live with their process: `lib/node/console_routes.ts` (play page, config,
 * density) and `lib/registry/dashboard_routes.ts` (dashboard, events).
 *
 * ```ts
 * import { intParam, jsonRoute } from "./mod.ts";
 * const route = jsonRoute(["n"], (url) => ({ n: intParam(url, "n", { min: 1, max: 9, fallback: 1 }) }));
 * const response = await route(new Request("http://x/?n=12"), {} as Deno.ServeHandlerInfo);
 * console.assert(response.status === 400);
 * ```
 *
 * @module
 */
export { methodNotAllowed, staticRoutes, WEB_DIR } from "./static_assets.ts";
export { BadRequestError, CORS_HEADERS, intParam, jsonRoute } from "./json_route.ts";
