import assert from "node:assert/strict";
import { CLIENT_SCHEMA, ConfigError, defaults } from "../config/mod.ts";
import { isWebSocketUrl, nodeEndpoint, transportOf } from "./client_transport.ts";

Deno.test("transportOf() picks WebSocket for a ws URL or transport ws with a registry", () => {
  const config = defaults(CLIENT_SCHEMA);
  assert.equal(transportOf(config), "zmq");
  assert.equal(transportOf({ ...config, ws: "ws://127.0.0.1:8080/ws" }), "ws");
  assert.equal(transportOf({ ...config, transport: "ws", registry: ["tcp://r:7101"] }), "ws");
  assert.throws(() => transportOf({ ...config, transport: "ws" }), ConfigError);
});

Deno.test("nodeEndpoint() is the client port over ZeroMQ, /ws on the HTTP port over WebSocket", () => {
  const node = { nodeId: "n1", host: "10.0.0.5", clientPort: 7000, httpPort: 8080 };
  assert.equal(nodeEndpoint(node, "zmq"), "tcp://10.0.0.5:7000");
  assert.equal(nodeEndpoint(node, "ws"), "ws://10.0.0.5:8080/ws");
  assert.equal(nodeEndpoint({ ...node, host: "::1" }, "ws"), "ws://[::1]:8080/ws");
  assert.equal(nodeEndpoint({ ...node, httpPort: 0 }, "ws"), undefined);
  assert.ok(isWebSocketUrl("wss://example.com/ws") && !isWebSocketUrl("tcp://h:1"));
});
