/**
 * `./registry` — the registry and sentinel: node directory, liveness, master election, client
 * discovery. `deno task registry` runs it on its defaults; `--gen-keys` prints a CURVE keypair for the
 * cluster plane.
 *
 * @module
 */
import { helpText, parseCommandLine, REGISTRY_SCHEMA } from "./lib/config/mod.ts";
import { log, setupLogging } from "./lib/log/mod.ts";
import { RegistryServer } from "./lib/registry/mod.ts";
import { curveAvailable, generateCurveKeyPair, Pump } from "./lib/transport/mod.ts";
import { exitCodeOf, runUntilSignal } from "./lib/cli/mod.ts";

const COMMAND = {
  name: "registry",
  summary:
    "GameServer registry: cluster membership, liveness, master election and client discovery.",
  usage: ["registry --gen-keys                     print a new CURVE keypair (JSON) and exit"],
  schema: REGISTRY_SCHEMA,
  flags: {
    port: { field: "cluster_port", doc: "Port for nodes" },
    "discovery-port": { field: "discovery_port", doc: "Port for clients" },
    "http-port": { field: "http_port", doc: "HTTP status port (0 = off)" },
    "log-level": { field: "log_level", doc: "debug, info, warning or error" },
  },
  switches: { "gen-keys": "Print a new cluster CURVE keypair as JSON and exit" },
};

if (import.meta.main) {
  let cmd;
  try {
    cmd = await parseCommandLine(COMMAND, Deno.args);
  } catch (err) {
    console.error(`registry: ${(err as Error).message}`);
    Deno.exit(2);
  }
  if (cmd.help) {
    console.log(helpText(COMMAND));
    Deno.exit(0);
  }
  if (cmd.switches.has("gen-keys")) {
    if (!curveAvailable()) {
      console.error("registry: this zeromq build has no CURVE support");
      Deno.exit(1);
    }
    const pair = generateCurveKeyPair();
    console.log(
      JSON.stringify(
        { curve: { public_key: pair.publicKey, secret_key: pair.secretKey } },
        null,
        2,
      ),
    );
    Deno.exit(0);
  }
  const config = cmd.config;
  setupLogging({ level: config.log_level, pretty: config.pretty_log });
  const logger = log("main");
  if (cmd.file) logger.info("Config loaded from {file}", { file: cmd.file });
  try {
    await runUntilSignal(async (signal) => {
      await using pump = new Pump();
      const server = await RegistryServer.start(config, { pump, signal });
      await server.closed;
    });
  } catch (err) {
    logger.fatal("registry stopped: {error}", { error: (err as Error)?.stack ?? String(err) });
    Deno.exit(exitCodeOf(err));
  }
  Deno.exit(0);
}
