/**
 * Starting and stopping the helper child processes (echo server and client) of this folder.
 *
 * @module
 */

/** A running child with its stdout split into lines. */
export interface ChildHandle {
  /** The process. */
  readonly child: Deno.ChildProcess;
  /** Resolves with the next stdout line matching `prefix` (rest of the line), or rejects at `timeoutMs`. */
  nextLine(prefix: string, timeoutMs: number): Promise<string>;
  /** Every stdout line so far. */
  readonly lines: string[];
  /** Kills the child (SIGKILL unless it already exited) and waits for it; idempotent. */
  stop(): Promise<Deno.CommandStatus>;
}

/** Starts `deno run -A <script in this folder> ...args` with stdin piped (closing it ends the child). */
export function startChild(script: string, args: string[]): ChildHandle {
  const command = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(script, import.meta.url).pathname, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  });
  const child = command.spawn();
  const lines: string[] = [];
  const waiters: { prefix: string; resolve: (rest: string) => void }[] = [];
  let ended = false;
  const pumpLines = (async () => {
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of child.stdout) {
      buffered += decoder.decode(chunk, { stream: true });
      let newline;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        lines.push(line);
        for (let i = 0; i < waiters.length; i++) {
          if (line.startsWith(waiters[i].prefix)) {
            waiters[i].resolve(line.slice(waiters[i].prefix.length).trim());
            waiters.splice(i, 1);
            break;
          }
        }
      }
    }
    ended = true;
  })();
  let stopped: Promise<Deno.CommandStatus> | undefined;
  return {
    child,
    lines,
    nextLine(prefix, timeoutMs) {
      const seen = lines.find((line) => line.startsWith(prefix));
      if (seen !== undefined) {
        lines.splice(lines.indexOf(seen), 1);
        return Promise.resolve(seen.slice(prefix.length).trim());
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          const i = waiters.indexOf(waiter);
          if (i >= 0) waiters.splice(i, 1);
          reject(new Error(`No "${prefix}" line from ${script} within ${timeoutMs} ms`));
        }, ended ? 0 : timeoutMs);
        const waiter = {
          prefix,
          resolve: (rest: string) => {
            clearTimeout(timer);
            resolve(rest);
          },
        };
        waiters.push(waiter);
      });
    },
    stop() {
      stopped ??= (async () => {
        try {
          child.kill("SIGKILL");
        } catch { /* already exited */ }
        try {
          await child.stdin.close();
        } catch { /* already closed */ }
        const status = await child.status;
        await pumpLines;
        return status;
      })();
      return stopped;
    },
  };
}

/** Starts the echo server child on a free port and returns it with its port. */
export async function startEchoServer(
  args: string[] = [],
): Promise<{ server: ChildHandle; port: number }> {
  const server = startChild("./echo_server.ts", args);
  try {
    const port = Number(await server.nextLine("READY", 20_000));
    return { server, port };
  } catch (error) {
    await server.stop();
    throw error;
  }
}
