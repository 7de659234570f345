/**
 * `client load`: the command line of the load generator and its entry point. Parses the flags, runs
 * one {@linkcode LoadDriver} until the duration ends or the signal aborts, then prints the report
 * table and, as the last stdout line, one JSON line `{"load":{…}}`. Exit codes: 0 it ran, 1 no node
 * answered, 2 bad flags.
 *
 * @module
 */
import { type CommandSpec, ConfigError, helpText, parseCommandLine } from "../config/mod.ts";
import { log, setupLogging } from "../log/mod.ts";
import { LoadDriver } from "./load_driver.ts";
import { connectionCount } from "./load_schedule.ts";
import { transportOf } from "./client_transport.ts";
import { LOAD_SCHEMA, type LoadConfig } from "./load_settings.ts";
import { formatReport } from "./load_stats.ts";

/** The command line of `client load`. */
export const LOAD_COMMAND: CommandSpec<typeof LOAD_SCHEMA> = {
  name: "client load",
  summary:
    "Load generator: simulated clients log in, then change velocity, query circles and cast AOEs at " +
    "per-client rates, sharing a few connections. Progress on stderr every second; a report table " +
    'and, as the last stdout line, {"load":{…}}. Exit 0 when it ran, 1 when no node answered, 2 for ' +
    "bad flags.",
  usage: [
    "client load --node=tcp://127.0.0.1:7000 --clients=1000 --duration=30",
    "client load --registry=tcp://127.0.0.1:7101 --clients=5000 --connections=20 --rate-scale=2",
    "client load --ws=ws://127.0.0.1:8080/ws --clients=500 --duration=30",
    "client load --registry=tcp://127.0.0.1:7101 --transport=ws --clients=500",
  ],
  schema: LOAD_SCHEMA,
  flags: {
    clients: { field: "load.clients", doc: "Simulated clients" },
    connections: { field: "load.connections", doc: "Shared connections (0 = auto)" },
    "clients-per-connection": {
      field: "load.clients_per_connection",
      doc: "Most clients over one connection (more connections if needed)",
    },
    "login-rate": {
      field: "load.login_rate",
      doc: "New-user logins per second per connection",
    },
    duration: { field: "load.duration_s", doc: "Seconds of load (0 = until Ctrl-C)" },
    warmup: { field: "load.warmup_s", doc: "Seconds left out of the statistics" },
    "query-rate": { field: "load.query_rate", doc: "Queries per client per second" },
    "aoe-rate": { field: "load.aoe_rate", doc: "AOEs per client per second" },
    "velocity-every": {
      field: "load.velocity_interval_s",
      doc: "Seconds between velocity changes",
    },
    "rate-scale": { field: "load.rate_scale", doc: "Multiplies every rate" },
    radius: { field: "load.radius", doc: "Query and AOE radius, m" },
    speed: { field: "load.speed", doc: "Speed of velocity changes, m/s" },
    "max-in-flight": { field: "load.max_in_flight", doc: "Requests in flight per connection" },
    "poll-ms": { field: "load.poll_ms", doc: "Timer-mode pump: pause between polls, ms" },
    keepalive: { field: "load.keepalive_s", doc: "Ping after this many idle seconds" },
    logout: { field: "load.logout", doc: "Log clients out at the end (true/false)" },
    progress: { field: "load.progress", doc: "Progress line every second (true/false)" },
    node: { field: "node", doc: "Node endpoint, tcp://HOST:PORT" },
    ws: { field: "ws", doc: "Node WebSocket URL, ws://HOST:HTTP_PORT/ws (one socket per client)" },
    transport: { field: "transport", doc: "zmq or ws (ws with --registry: the nodes' HTTP ports)" },
    "zmq-engine": {
      field: "zmq_engine",
      doc:
        "zmtp (default), epoll (raw sockets in one epoll set: far less CPU and GC for thousands of connections) or libzmq",
    },
    registry: { field: "registry", doc: "Registry discovery endpoints, comma-separated" },
    format: { field: "format", doc: "binary or json" },
    "log-level": { field: "log_level", doc: "debug, info, warning or error" },
  },
};

const logger = log("client", "load");

/**
 * The arguments for `client load` when `args`, a whole client command line, names the load command
 * (its first word is `load`): every argument but that word, flags before it included, since `load`
 * has flags of its own. `undefined` for any other command line. `valueFlags` are the client flags
 * that take a value, so `--node tcp://… load` finds the word too.
 */
export function loadCommandArgs(
  args: readonly string[],
  valueFlags: readonly string[],
): string[] | undefined {
  // --config and --set take a value on every command line (see parseCommandLine).
  const takesValue = new Set(["config", "set", ...valueFlags]);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") i++; // what follows is a word even if it starts with "-"
    else if (arg.startsWith("-") && arg !== "-") {
      if (arg.startsWith("--") && !arg.includes("=") && takesValue.has(arg.slice(2))) i++;
      continue;
    }
    return args[i] === "load" ? args.filter((_, j) => j !== i) : undefined;
  }
  return undefined;
}

/** Parses the load command line; throws {@linkcode ConfigError} for bad flags. */
export async function parseLoadArgs(
  args: string[],
): Promise<{ help: true } | { help: false; config: LoadConfig }> {
  const cmd = await parseCommandLine(LOAD_COMMAND, args);
  if (cmd.help) return { help: true };
  if (cmd.positionals.length > 0) {
    throw new ConfigError(`Unexpected argument "${cmd.positionals[0]}" (see --help)`);
  }
  const load = cmd.config.load;
  transportOf(cmd.config);
  if (load.duration_s > 0 && load.warmup_s >= load.duration_s) {
    throw new ConfigError(
      `flag --warmup (${load.warmup_s} s) must be shorter than --duration (${load.duration_s} s)`,
    );
  }
  return { help: false, config: cmd.config };
}

/**
 * `client load [flags]`: parses `args` (the words after `load`), runs the load until the duration
 * ends or `signal` aborts, prints the report and returns the exit code (0 ran, 1 no node, 2 bad flags).
 */
export async function runLoad(args: string[], signal: AbortSignal): Promise<number> {
  let parsed;
  try {
    parsed = await parseLoadArgs(args);
  } catch (err) {
    console.error(`client load: ${(err as Error).message}`);
    return 2;
  }
  if (parsed.help) {
    console.log(helpText(LOAD_COMMAND));
    return 0;
  }
  const config = parsed.config;
  setupLogging({ level: config.log_level, pretty: config.pretty_log });
  const { load, ...clientConfig } = config;
  const ws = transportOf(clientConfig) === "ws";
  const connections = ws
    ? load.clients
    : connectionCount(load.clients, load.connections, load.clients_per_connection);
  if (!ws && load.connections > 0 && connections > load.connections) {
    logger.warn(
      "{clients} clients over {asked} connections would put more than {most} on one (a node refuses client ids beyond clients.max_ids_per_connection): using {connections}",
      {
        clients: load.clients,
        asked: load.connections,
        most: load.clients_per_connection,
        connections,
      },
    );
  }
  logger.info(
    "Load: {clients} clients over {connections} {kind} against {target}",
    {
      clients: load.clients,
      connections,
      kind: ws ? "WebSocket(s)" : "connection(s)",
      target: config.registry.length ? config.registry.join(",") : config.ws || config.node,
    },
  );
  await using driver = new LoadDriver({ config: clientConfig, load, signal });
  const report = await driver.run();
  if (!report) {
    logger.error("No node answered at {target}", {
      target: config.registry.length ? config.registry.join(",") : config.ws || config.node,
    });
    return 1;
  }
  console.log(formatReport(report));
  console.log(JSON.stringify({ load: report }));
  return 0;
}
