/**
 * `./gameserver` — a game node. Single mode by default (no registry): `deno task start`.
 * Cluster mode: `./gameserver --config=configs/master.json` (or slave1.json, slave2.json).
 *
 * @module
 */
import { ConfigError, helpText, NODE_SCHEMA, parseCommandLine } from "./lib/config/mod.ts";
import { log, setupLogging } from "./lib/log/mod.ts";
import { NodeServer } from "./lib/node/mod.ts";
import { exitCodeOf, runUntilSignal } from "./lib/cli/mod.ts";

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
    "http-port": { field: "http_port", doc: "HTTP status port (0 = off)" },
    registry: { field: "registry", doc: "Registry endpoints, comma-separated" },
    "log-level": { field: "log_level", doc: "debug, info, warning or error" },
  },
};

if (import.meta.main) {
  let cmd;
  try {
    cmd = await parseCommandLine(COMMAND, Deno.args);
  } catch (err) {
    console.error(`gameserver: ${(err as Error).message}`);
    Deno.exit(2);
  }
  if (cmd.help) {
    console.log(helpText(COMMAND));
    Deno.exit(0);
  }
  const config = cmd.config;
  setupLogging({ level: config.log_level, pretty: config.pretty_log });
  const logger = log("main");
  if (cmd.file) logger.info("Config loaded from {file}", { file: cmd.file });
  try {
    await runUntilSignal(async (signal) => {
      const server = await NodeServer.start(config, { signal });
      await server.closed;
    });
  } catch (err) {
    const code = exitCodeOf(err);
    logger.fatal("gameserver stopped: {error}", {
      error: err instanceof ConfigError ? err.message : (err as Error)?.stack ?? String(err),
    });
    Deno.exit(code);
  }
  Deno.exit(0);
}
