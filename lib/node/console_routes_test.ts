import assert from "node:assert/strict";
import { defaults, NODE_SCHEMA } from "../config/mod.ts";
import { TestPump } from "../../tests/support/transport/test_pump.ts";
import { consoleRoutes } from "./console_routes.ts";
import { NodeServer } from "./node_server.ts";

const info = {} as Deno.ServeHandlerInfo;

Deno.test("consoleRoutes() serve the page, config and density, and refuse bad input", async (t) => {
  const config = defaults(NODE_SCHEMA);
  config.client_port = 0;
  config.data_dir = "";
  config.log_level = "error";
  config.world.width = 1000;
  config.world.height = 500;
  await using pump = new TestPump();
  await using server = await NodeServer.start(config, { pump });
  const world = server.node.state.world;
  for (const [x, y] of [[10, 10], [990, 490], [995, 20]]) {
    world.addUser(world.allocateUserId(), x, y);
  }
  const routes = consoleRoutes(server);
  const get = (path: string, init?: RequestInit) => {
    const url = new URL(path, "http://node.test");
    return routes[url.pathname](new Request(url, init), info);
  };

  await t.step("the play page and its files", async () => {
    const page = await get("/");
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type")!, /text\/html/);
    assert.match(await page.text(), /console\/play\.js/);
    const script = await get("/console/play.js");
    assert.match(script.headers.get("content-type")!, /javascript/);
    const etag = script.headers.get("etag")!;
    await script.body?.cancel();
    assert.equal(
      (await get("/console/play.js", { headers: { "if-none-match": etag } })).status,
      304,
    );
  });

  await t.step("config names the world, the limits and no registry in single mode", async () => {
    const body = await (await get("/console/config")).json();
    assert.equal(body.world.width, 1000);
    assert.equal(body.ws, "/ws");
    assert.deepEqual(body.registries, []);
  });

  await t.step("density counts the users on the grid asked for", async () => {
    const response = await get("/console/density?cols=2&rows=1");
    assert.equal(response.headers.get("access-control-allow-origin"), "*");
    const body = await response.json();
    assert.deepEqual(
      { cols: body.cols, rows: body.rows, users: body.users, counts: body.counts },
      { cols: 2, rows: 1, users: 3, counts: [1, 2] },
    );
  });

  await t.step("bad parameters and methods get a clear error and change nothing", async () => {
    const before = world.checksum();
    for (
      const path of [
        "/console/density?cols=0",
        "/console/density?cols=257",
        "/console/density?cols=1.5",
        "/console/density?cols=",
        "/console/density?cols=1e2",
        "/console/density?rows=2&rows=3",
        "/console/density?x=1",
        "/console/config?debug=1",
      ]
    ) {
      const response = await get(path);
      assert.equal(response.status, 400, path);
      assert.match((await response.json()).error, /must be one integer|Unknown parameter/, path);
    }
    for (const path of ["/console/config", "/", "/console/density"]) {
      const response = await get(path, { method: "POST", body: "{}" });
      assert.equal(response.status, 405, path);
      await response.body?.cancel();
    }
    assert.equal(world.checksum(), before);
    assert.equal(world.size, 3);
  });
});
