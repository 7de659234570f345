import type { ClientSession, Outcome } from "./client_session.ts";

/** A console or one-shot command, parsed and checked. */
export type Command =
  | { name: "login" }
  | { name: "logout" }
  | { name: "velocity"; dx: number; dy: number; speed: number }
  | { name: "query"; x1: number; y1: number; x2: number; y2: number }
  | { name: "query_circle"; x: number; y: number; radius: number }
  | { name: "aoe"; radius: number; amount: number }
  | { name: "whoami" }
  | { name: "status" }
  | { name: "ping" }
  | { name: "help" }
  | { name: "quit" };

/** The console's help text. */
export const COMMAND_HELP = [
  "login                          log in as a new user (a reconnect resumes it automatically)",
  "logout                         log out",
  "velocity <dx> <dy> <speed>     move along (dx, dy) at speed m/s (speed 0 stops)",
  "query <x1> <y1> <x2> <y2>      users inside the rectangle (no login needed)",
  "query --circle <x> <y> <r>     users within r metres of (x, y)",
  "aoe <radius> <amount>          add amount to the money of every other user within radius",
  "whoami                         client id, user id and node",
  "status                         the node's role, load and tick figures",
  "ping                           round trip to the node",
  "help                           this list",
  "quit                           leave (also Ctrl-D)",
].join("\n");

/** Parses one command line; returns an error message for bad input. */
export function parseCommand(words: string[]): Command | { error: string } {
  const [name, ...args] = words;
  const nums = (count: number, usage: string): number[] | { error: string } => {
    if (args.length !== count) return { error: `usage: ${usage}` };
    const values = args.map(Number);
    const bad = args.find((a, i) => a.trim() === "" || !Number.isFinite(values[i]));
    return bad === undefined ? values : { error: `"${bad}" is not a number (usage: ${usage})` };
  };
  switch (name) {
    case "login":
    case "logout":
    case "whoami":
    case "status":
    case "ping":
    case "help":
      return args.length === 0 ? { name } : { error: `${name} takes no arguments` };
    case "quit":
    case "exit":
      return { name: "quit" };
    case "velocity": {
      const v = nums(3, "velocity <dx> <dy> <speed>");
      if ("error" in v) return v;
      if (v[2] < 0) return { error: "speed must be 0 or more" };
      return { name: "velocity", dx: v[0], dy: v[1], speed: v[2] };
    }
    case "query": {
      if (args[0] === "--circle") {
        args.shift();
        const v = nums(3, "query --circle <x> <y> <r>");
        if ("error" in v) return v;
        return { name: "query_circle", x: v[0], y: v[1], radius: v[2] };
      }
      const v = nums(4, "query <x1> <y1> <x2> <y2>");
      if ("error" in v) return v;
      return { name: "query", x1: v[0], y1: v[1], x2: v[2], y2: v[3] };
    }
    case "aoe": {
      const v = nums(2, "aoe <radius> <amount>");
      if ("error" in v) return v;
      return { name: "aoe", radius: v[0], amount: v[1] };
    }
    case undefined:
      return { error: "empty command" };
    default:
      return { error: `unknown command "${name}" (try help)` };
  }
}

/** The velocity vector of a `velocity` command: (dx, dy) scaled to `speed`. */
export function velocityOf(dx: number, dy: number, speed: number): { vx: number; vy: number } {
  const len = Math.hypot(dx, dy);
  if (len === 0 || speed === 0) return { vx: 0, vy: 0 };
  return { vx: (dx / len) * speed, vy: (dy / len) * speed };
}

/** Runs a command that talks to the node; the outcome is what the console or JSON output shows. */
export function runCommand(session: ClientSession, command: Command): Promise<Outcome<unknown>> {
  switch (command.name) {
    case "login":
      return session.login();
    case "logout":
      return session.logout();
    case "velocity": {
      const { vx, vy } = velocityOf(command.dx, command.dy, command.speed);
      return session.setVelocity(vx, vy);
    }
    case "query":
      return session.queryRect(command.x1, command.y1, command.x2, command.y2);
    case "query_circle":
      return session.queryCircle(command.x, command.y, command.radius);
    case "aoe":
      return session.aoe(command.radius, command.amount);
    case "status":
      return session.status();
    case "ping":
      return session.ping();
    case "whoami":
      return Promise.resolve({
        ok: true,
        ms: 0,
        value: {
          clientId: session.clientId,
          userId: session.userId,
          nodeId: session.connection.nodeId,
          endpoint: session.connection.endpoint,
        },
      });
    default:
      return Promise.resolve({ ok: true, ms: 0, value: COMMAND_HELP });
  }
}

/** Commands that need a logged-in user. */
export function needsLogin(command: Command): boolean {
  return command.name === "velocity" || command.name === "aoe" || command.name === "logout";
}
