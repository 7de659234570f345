/**
 * `./client` — talks to a game node: an interactive console (no command), a one-shot command that
 * prints JSON (`client.ts query 0 0 100 100`), or the load generator (`client.ts load`).
 *
 * @module
 */
import { CLIENT_SCHEMA, helpText, parseCommandLine } from "./lib/config/mod.ts";
import { setupLogging } from "./lib/log/mod.ts";
import {
  COMMAND_HELP,
  loadCommandArgs,
  runConsole,
  runLoad,
  runOneShot,
  transportOf,
} from "./lib/client/mod.ts";
import { exitCodeOf, runUntilSignal } from "./lib/cli/mod.ts";

const COMMAND = {
  name: "client",
  summary: "GameServer client: console, one-shot commands (JSON on stdout) and load generator.",
  usage: [
    "client [flags]                         interactive console",
    "client [flags] <command> [args…]       one command, JSON result on stdout (exit 1 on error)",
    "client load [flags]                    load generator (see `client load --help`)",
    "",
    "Commands:",
    ...COMMAND_HELP.split("\n").map((l) => `  ${l}`),
  ],
  schema: CLIENT_SCHEMA,
  flags: {
    node: { field: "node", doc: "Node endpoint, tcp://HOST:PORT" },
    ws: { field: "ws", doc: "Node WebSocket URL, ws://HOST:HTTP_PORT/ws (instead of --node)" },
    transport: { field: "transport", doc: "zmq or ws (ws with --registry: the node's HTTP port)" },
    "zmq-engine": {
      field: "zmq_engine",
      doc:
        "zmtp (default: ZMTP in TypeScript on Deno TCP), epoll (raw sockets: thousands of connections) or libzmq",
    },
    registry: { field: "registry", doc: "Registry discovery endpoints, comma-separated" },
    format: { field: "format", doc: "binary or json" },
    "log-level": { field: "log_level", doc: "debug, info, warning or error" },
  },
};

if (import.meta.main) {
  const loadArgs = loadCommandArgs(Deno.args, Object.keys(COMMAND.flags));
  Deno.exit(loadArgs ? await load(loadArgs) : await client(Deno.args));
}

/** `client load …`: the load generator parses its own flags (those before the word too). */
async function load(args: string[]): Promise<number> {
  try {
    return await runUntilSignalCode((signal) => runLoad(args, signal));
  } catch (err) {
    console.error(`client load: ${(err as Error)?.message ?? err}`);
    return exitCodeOf(err);
  }
}

/** The console (no command) or one command with its JSON result. */
async function client(argv: string[]): Promise<number> {
  // "query --circle" is a command word, not a flag: take the command words before parsing flags.
  const args = [...argv];
  const circle = args.indexOf("--circle");
  if (circle >= 0) args.splice(circle, 1);
  let cmd;
  try {
    cmd = await parseCommandLine(COMMAND, args);
  } catch (err) {
    console.error(`client: ${(err as Error).message}`);
    return 2;
  }
  if (cmd.help) {
    console.log(helpText(COMMAND));
    return 0;
  }
  try {
    transportOf(cmd.config);
  } catch (err) {
    console.error(`client: ${(err as Error).message}`);
    return 2;
  }
  const words = [...cmd.positionals];
  if (circle >= 0 && words[0] === "query") words.splice(1, 0, "--circle");
  try {
    setupLogging({
      level: words.length ? "warning" : cmd.config.log_level,
      pretty: cmd.config.pretty_log,
    });
    return words.length === 0
      ? await runUntilSignalCode(() => runConsole(cmd.config))
      : await runOneShot(cmd.config, words);
  } catch (err) {
    console.error(`client: ${(err as Error)?.stack ?? err}`);
    return exitCodeOf(err);
  }
}

async function runUntilSignalCode(main: (signal: AbortSignal) => Promise<number>): Promise<number> {
  let code = 0;
  await runUntilSignal(async (signal) => {
    code = await main(signal);
  });
  return code;
}
