import assert from "node:assert/strict";
import { ClusterEvents } from "./cluster_events.ts";
import { dashboardRoutes } from "./dashboard_routes.ts";

const info = {} as Deno.ServeHandlerInfo;

Deno.test("dashboardRoutes() serve the dashboard and events after a cursor, and refuse bad input", async () => {
  const events = new ClusterEvents(5);
  const routes = dashboardRoutes({ registryId: "r:1", startedAt: 5, events });
  const get = (path: string, init?: RequestInit) => {
    const url = new URL(path, "http://registry.test");
    return routes[url.pathname](new Request(url, init), info);
  };
  const page = await get("/");
  assert.match(await page.text(), /console\/dashboard\.js/);
  const all = await (await get("/events")).json();
  assert.deepEqual(
    { registryId: all.registryId, startedAt: all.startedAt, next: all.next, n: all.events.length },
    { registryId: "r:1", startedAt: 5, next: 2, n: 1 },
  );
  assert.equal(all.events[0].kind, "registry_started");
  assert.deepEqual((await (await get("/events?since=1")).json()).events, []);
  for (
    const path of [
      "/events?since=-1",
      "/events?since=x",
      "/events?since=1&since=2",
      "/events?all=1",
    ]
  ) {
    const response = await get(path);
    assert.equal(response.status, 400, path);
    assert.ok((await response.json()).error, path);
  }
  const post = await get("/events", { method: "DELETE" });
  assert.equal(post.status, 405);
  await post.body?.cancel();
  assert.equal(events.since().length, 1, "nothing changed");
});
