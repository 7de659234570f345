/**
 * `./registry` — the registry and sentinel: node directory, liveness, master election, client
 * discovery. `deno task registry` runs it on its defaults; `--gen-keys` prints a CURVE keypair for the
 * cluster plane.
 *
 * @module
 */
import { REGISTRY_SCHEMA } from "./lib/config/mod.ts";
import { RegistryServer } from "./lib/registry/mod.ts";
import { curveAvailable, generateCurveKeyPair, Pump } from "./lib/transport/mod.ts";
import { parseOrExit, runProgram } from "./lib/cli/mod.ts";

const COMMAND = {
  name: "registry",
  summary:
    "GameServer registry: cluster membership, liveness, master election and client discovery.",
  usage: ["registry --gen-keys                     print a new CURVE keypair (JSON) and exit"],
  schema: REGISTRY_SCHEMA,
  flags: {
    port: { field: "cluster_port", doc: "Port for nodes" },
    "discovery-port": { field: "discovery_port", doc: "Port for clients" },
    "http-port": {
      field: "http_port",
      doc: "HTTP port: discovery, metrics, health, status (0 = off)",
    },
    "log-level": { field: "log_level", doc: "debug, info, warning or error" },
  },
  switches: { "gen-keys": "Print a new cluster CURVE keypair as JSON and exit" },
};

if (import.meta.main) {
  const cmd = await parseOrExit(COMMAND, Deno.args);
  if (cmd.switches.has("gen-keys")) {
    if (!curveAvailable()) {
      console.error("registry: this zeromq build has no CURVE support");
      Deno.exit(1);
    }
    const pair = generateCurveKeyPair();
    const curve = { public_key: pair.publicKey, secret_key: pair.secretKey };
    console.log(JSON.stringify({ curve }, null, 2));
    Deno.exit(0);
  }
  await runProgram("registry", cmd, async (signal) => {
    await using pump = new Pump();
    const server = await RegistryServer.start(cmd.config, { pump, signal });
    await server.closed;
  });
}
