/**
 * `./gameserver` — a game node. Single mode by default (no registry): `deno task start`.
 * Cluster mode: `./gameserver --config=configs/master.json` (or slave1.json, slave2.json).
 *
 * @module
 */
import { NODE_SCHEMA } from "./lib/config/mod.ts";
import { NodeServer } from "./lib/node/mod.ts";
import { parseOrExit, runProgram } from "./lib/cli/mod.ts";

const COMMAND = {
  name: "gameserver",
  summary:
    "GameServer node: an authoritative 2D world served over ZeroMQ (single or cluster mode).",
  schema: NODE_SCHEMA,
  flags: {
    mode: { field: "mode", doc: "single or cluster" },
    role: { field: "role", doc: "master or slave (cluster mode)" },
    "node-id": { field: "node_id", doc: "Unique node name" },
    port: { field: "client_port", doc: "Client port" },
    "cluster-port": { field: "cluster_port", doc: "Cluster port" },
    "publish-port": { field: "publish_port", doc: "Publish port" },
    "http-port": { field: "http_port", doc: "HTTP port: metrics, health, status (0 = off)" },
    registry: { field: "registry", doc: "Registry endpoints, comma-separated" },
    "log-level": { field: "log_level", doc: "debug, info, warning or error" },
    "data-dir": { field: "data_dir", doc: "Where the world is persisted (empty: nowhere)" },
  },
};

if (import.meta.main) {
  const cmd = await parseOrExit(COMMAND, Deno.args);
  await runProgram("gameserver", cmd, async (signal) => {
    const server = await NodeServer.start(cmd.config, { signal });
    await server.closed;
    if (server.failure) throw server.failure;
  });
}
