import { Pump } from "../transport/mod.ts";
import type { ClientConfig } from "../config/mod.ts";
import { log } from "../log/mod.ts";
import type { UserState } from "../protocol/mod.ts";
import { ClientSession, type Outcome } from "./client_session.ts";
import { type Command, COMMAND_HELP, needsLogin, parseCommand, runCommand } from "./commands.ts";
import { Connection, type ConnectionEvent } from "./connection.ts";
import { LineEditor } from "./line_editor.ts";

const logger = log("client");

/** Logs a connection event the way every client mode does. */
export function logConnectionEvent(event: ConnectionEvent): void {
  switch (event.type) {
    case "connecting":
      logger.info("Connecting to {endpoint}{node} (attempt {attempt})", {
        endpoint: event.endpoint,
        node: event.nodeId ? ` (node ${event.nodeId})` : "",
        attempt: event.attempt + 1,
      });
      break;
    case "connected":
      logger.info("{what} node {nodeId} ({role}) at {endpoint}", {
        what: event.reconnect ? "Reconnected to" : "Connected to",
        nodeId: event.nodeId,
        role: event.role.replace("ROLE_", "").toLowerCase(),
        endpoint: event.endpoint,
      });
      break;
    case "lost":
      logger.warn("Lost node at {endpoint}: {reason}; reconnecting", event);
      break;
    case "discovery_failed":
      logger.warn("Discovery failed: {reason}; retrying in {retryInMs} ms", event);
      break;
    case "notice":
      logger.info("Notice from node: {message}", event);
      break;
  }
}

/** Opens a connection and one session whose user is resumed after every reconnect. */
export async function openSession(
  pump: Pump,
  config: ClientConfig,
  options: { quiet?: boolean; readyTimeoutMs?: number } = {},
): Promise<ClientSession> {
  const clientId = crypto.randomUUID();
  const connection = new Connection({
    pump,
    config,
    clientId,
    onEvent: (event) => {
      if (!options.quiet) logConnectionEvent(event);
      if (event.type === "connected" && event.reconnect && session.userId) {
        const userId = session.userId;
        session.resume().then((out) => {
          if (!out) return;
          if (out.ok) {
            logger.info("Resumed user {userId} on node {nodeId}", { userId, nodeId: event.nodeId });
          } else {logger.warn("Could not resume user {userId}: {code} {message}", {
              userId,
              code: out.error.code,
              message: out.error.message,
            });}
        });
      }
    },
  });
  // Declared after the connection; its events only fire after start(), below.
  const session: ClientSession = new ClientSession(connection, clientId);
  connection.start();
  try {
    await connection.ready(options.readyTimeoutMs ?? config.server_timeout_ms * 3);
  } catch (err) {
    connection.close();
    throw err;
  }
  return session;
}

/** Runs one command and prints its outcome as JSON on stdout; returns the exit code. */
export async function runOneShot(config: ClientConfig, words: string[]): Promise<number> {
  const command = parseCommand(words);
  if ("error" in command) {
    console.error(`client: ${command.error}`);
    return 2;
  }
  if (command.name === "help") {
    console.log(COMMAND_HELP);
    return 0;
  }
  await using pump = new Pump();
  let session: ClientSession;
  try {
    session = await openSession(pump, config, { quiet: true });
  } catch (err) {
    console.log(
      JSON.stringify({
        ok: false,
        error: { code: "UNAVAILABLE", message: (err as Error).message },
      }),
    );
    return 1;
  }
  try {
    const outputs: Record<string, unknown> = {};
    if (needsLogin(command)) {
      // A one-shot write acts as a fresh user: log in first and show it.
      const login = await session.login();
      outputs.login = login.ok ? login.value : { error: errorJson(login) };
      if (!login.ok) {
        console.log(JSON.stringify({ ok: false, ...outputs }));
        return 1;
      }
    }
    const out = await runCommand(session, command);
    const result = out.ok
      ? { ok: true, result: out.value, ms: round(out.ms), ...outputs }
      : { ok: false, error: errorJson(out), ms: round(out.ms), ...outputs };
    console.log(JSON.stringify(result));
    return out.ok ? 0 : 1;
  } finally {
    session.connection.close();
  }
}

/** The interactive console. */
export async function runConsole(config: ClientConfig): Promise<number> {
  await using pump = new Pump();
  let session: ClientSession;
  try {
    session = await openSession(pump, config);
  } catch (err) {
    logger.error("Could not reach a node: {message}", { message: (err as Error).message });
    return 1;
  }
  const home = Deno.env.get("HOME");
  using editor = new LineEditor("gameserver> ", home ? `${home}/.gameserver_history` : undefined);
  editor.write(`Connected. Type help for commands, quit to leave.\n`);
  try {
    while (true) {
      const line = await editor.read();
      if (line === undefined) break;
      const words = line.trim().split(/\s+/).filter(Boolean);
      if (words.length === 0) continue;
      const command = parseCommand(words);
      if ("error" in command) {
        editor.write(`error: ${command.error}\n`);
        continue;
      }
      if (command.name === "quit") break;
      const out = await runCommand(session, command);
      editor.write(render(command, out) + "\n");
    }
  } finally {
    session.connection.close();
  }
  return 0;
}

function render(command: Command, out: Outcome<unknown>): string {
  if (!out.ok) return `error ${out.error.code}: ${out.error.message}`;
  const ms = `(${round(out.ms)} ms)`;
  const v = out.value as Record<string, unknown>;
  switch (command.name) {
    case "login": {
      const u = v.user as UserState | undefined;
      return `${v.resumed ? "resumed" : "logged in as"} user ${v.userId} at ${pos(u)}, money ${
        u?.money ?? 0
      } ${ms}`;
    }
    case "logout":
      return `logged out user ${v} ${ms}`;
    case "velocity":
      return `velocity set: ${vel(v.user as UserState)} ${ms}`;
    case "query":
    case "query_circle": {
      const users = (v.users ?? []) as UserState[];
      const rows = users.slice(0, 50).map((u) =>
        `  ${String(u.id).padStart(8)}  ${pos(u).padEnd(22)} v=${vel(u).padEnd(18)} money ${
          u.money ?? 0
        }`
      );
      const more = users.length > 50 ? [`  … ${users.length - 50} more`] : [];
      const total = Number(v.total ?? users.length);
      return [
        `${total} user(s)${v.truncated ? ` (showing ${users.length})` : ""} ${ms}`,
        ...rows,
        ...more,
      ].join("\n");
    }
    case "aoe":
      return `aoe hit ${v.total ?? 0} user(s)${
        (v.userIds as number[] | undefined)?.length
          ? `: ${(v.userIds as number[]).slice(0, 20).join(", ")}`
          : ""
      } ${ms}`;
    case "ping":
      return `pong from ${v.nodeId} (${String(v.role).replace("ROLE_", "").toLowerCase()}) ${ms}`;
    case "status": {
      const load = (v.load ?? {}) as Record<string, number>;
      return [
        `node ${v.nodeId} role ${String(v.role).replace("ROLE_", "").toLowerCase()} epoch ${
          v.epoch ?? 0
        }${v.masterId ? ` master ${v.masterId}` : ""}`,
        `  connections ${load.connections ?? 0}, sessions ${load.sessions ?? 0}, users ${
          load.users ?? 0
        }`,
        `  tick avg ${round(load.tickAvgMs ?? 0)} ms, p99 ${
          round(load.tickP99Ms ?? 0)
        } ms, load factor ${round(load.loadFactor ?? 0)}, seq ${load.lastSeq ?? 0}, tick ${
          v.tick ?? 0
        }, up ${round(Number(v.uptimeS ?? 0))} s`,
      ].join("\n");
    }
    case "whoami":
      return `client ${v.clientId}, user ${
        v.userId || "(not logged in)"
      }, node ${v.nodeId} at ${v.endpoint}`;
    default:
      return String(out.value);
  }
}

function pos(u?: UserState | null): string {
  return `(${round(u?.x ?? 0)}, ${round(u?.y ?? 0)})`;
}

function vel(u?: UserState | null): string {
  return `(${round(u?.vx ?? 0)}, ${round(u?.vy ?? 0)})`;
}

function errorJson(out: Outcome<unknown>) {
  return out.ok ? undefined : { code: out.error.code, message: out.error.message };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
