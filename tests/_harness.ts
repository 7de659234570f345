/**
 * Test harness for multi-process tests: starts our real entrypoints on free loopback ports, reads their
 * log lines, waits for events with a generous upper bound, and always stops them.
 *
 * @module
 */
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** A free TCP port on 127.0.0.1 (the OS picks; released before use). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Several distinct free ports. */
export function freePorts(count: number): number[] {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(freePort());
  return [...ports];
}

/** Options of {@linkcode Proc}. */
export interface ProcOptions {
  /** Run inside this Linux network namespace (`ip netns exec`; needs root). */
  netns?: string;
  /** Keep stdin open for {@linkcode Proc.send} (default: no stdin). */
  stdin?: boolean;
}

/** A running child process of ours, with its log lines. */
export class Proc implements AsyncDisposable {
  readonly name: string;
  /** Every output line (stdout and stderr, interleaved as read). */
  readonly lines: string[] = [];
  /** The stdout lines alone (e.g. a command's JSON result). */
  readonly stdout: string[] = [];
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array> | undefined;
  readonly #waiters: { re: RegExp; from: number; resolve: (line: string) => void }[] = [];
  readonly status: Promise<Deno.CommandStatus>;
  #exited = false;

  constructor(name: string, entry: string, args: string[], options: ProcOptions = {}) {
    this.name = name;
    // GAMESERVER_TEST_READ_WORKERS=N runs every node with N reader workers (clients.read_workers).
    const readers = Deno.env.get("GAMESERVER_TEST_READ_WORKERS");
    const extra = entry === "main.ts" && readers
      ? ["--set", `clients.read_workers=${readers}`]
      : [];
    const deno = [Deno.execPath(), "run", "-A", `${ROOT}${entry}`, ...args, ...extra];
    // `ip netns exec` execs the command in place: the pid (and so kill, SIGSTOP) is deno's own.
    const argv = options.netns ? ["ip", "netns", "exec", options.netns, ...deno] : deno;
    this.#child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      cwd: ROOT,
      stdin: options.stdin ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    this.status = this.#child.status.then((s) => {
      this.#exited = true;
      return s;
    });
    this.#pipe(this.#child.stdout, true);
    this.#pipe(this.#child.stderr, false);
    this.#stdin = options.stdin ? this.#child.stdin.getWriter() : undefined;
  }

  /** Writes one line to the process's stdin (opened with `stdin: true`). */
  async send(line: string): Promise<void> {
    if (!this.#stdin) throw new Error(`${this.name} was started without stdin`);
    await this.#stdin.write(new TextEncoder().encode(line + "\n"));
  }

  /** The process id. */
  get pid(): number {
    return this.#child.pid;
  }

  /** True once the process has exited. */
  get exited(): boolean {
    return this.#exited;
  }

  async #pipe(stream: ReadableStream<Uint8Array>, stdout: boolean): Promise<void> {
    const decoder = new TextDecoder();
    let buffered = "";
    try {
      for await (const chunk of stream) {
        buffered += decoder.decode(chunk, { stream: true });
        let nl;
        while ((nl = buffered.indexOf("\n")) >= 0) {
          this.#push(buffered.slice(0, nl), stdout);
          buffered = buffered.slice(nl + 1);
        }
      }
    } catch { /* process killed */ }
    if (buffered) this.#push(buffered, stdout);
  }

  #push(line: string, stdout: boolean): void {
    this.lines.push(line);
    if (stdout) this.stdout.push(line);
    if (Deno.env.get("HARNESS_ECHO")) console.error(`[${this.name}] ${line}`);
    for (let i = this.#waiters.length - 1; i >= 0; i--) {
      const w = this.#waiters[i];
      if (w.re.test(line)) {
        this.#waiters.splice(i, 1);
        w.resolve(line);
      }
    }
  }

  /** Index to pass as `from` so a wait only looks at lines printed after now. */
  mark(): number {
    return this.lines.length;
  }

  /** Waits for a log line matching `re` (printed at or after line `from`). */
  waitFor(re: RegExp, timeoutMs = 20_000, from = 0): Promise<string> {
    const seen = this.lines.slice(from).find((l) => re.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    const { promise, resolve, reject } = Promise.withResolvers<string>();
    const waiter = { re, from, resolve };
    this.#waiters.push(waiter);
    const timer = setTimeout(() => {
      const i = this.#waiters.indexOf(waiter);
      if (i >= 0) this.#waiters.splice(i, 1);
      reject(
        new Error(
          `${this.name}: no line matching ${re} within ${timeoutMs} ms; last lines:\n${
            this.lines.slice(-15).join("\n")
          }`,
        ),
      );
    }, timeoutMs);
    this.status.then(() => {
      // Let remaining output drain, then fail fast if the line never came.
      setTimeout(() => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) {
          this.#waiters.splice(i, 1);
          clearTimeout(timer);
          reject(
            new Error(
              `${this.name} exited before printing ${re}; last lines:\n${
                this.lines.slice(-15).join("\n")
              }`,
            ),
          );
        }
      }, 200);
    });
    return promise.finally(() => clearTimeout(timer));
  }

  /** Sends a signal (ignored when already exited). */
  kill(signal: Deno.Signal = "SIGTERM"): void {
    if (this.#exited) return;
    try {
      this.#child.kill(signal);
    } catch { /* already gone */ }
  }

  /** Stops the process (SIGTERM, then SIGKILL after `graceMs`) and waits for it. */
  async stop(graceMs = 5000): Promise<Deno.CommandStatus> {
    await this.#stdin?.close().catch(() => {});
    if (!this.#exited) {
      this.kill("SIGCONT");
      this.kill("SIGTERM");
      const timer = setTimeout(() => this.kill("SIGKILL"), graceMs);
      await this.status;
      clearTimeout(timer);
    }
    return this.status;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** A temporary folder for config files, removed on dispose. */
export class TempDir implements AsyncDisposable {
  readonly path = Deno.makeTempDirSync({ prefix: "gameserver-test-" });

  /** Writes `value` as JSON to `name` in the folder; returns the path. */
  writeJson(name: string, value: unknown): string {
    const path = `${this.path}/${name}`;
    Deno.writeTextFileSync(path, JSON.stringify(value, null, 2));
    return path;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Deno.remove(this.path, { recursive: true }).catch(() => {});
  }
}

/** Polls `check` until it returns a value (not undefined), or throws after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 20_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let lastError: unknown;
  while (performance.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(
    `Timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${lastError}` : ""}`,
  );
}

/** Reader workers every test node runs with (`GAMESERVER_TEST_READ_WORKERS`, default 0). */
export const TEST_READ_WORKERS = Number(Deno.env.get("GAMESERVER_TEST_READ_WORKERS") ?? 0);

/**
 * Reads what another client just wrote. Without reader workers a read sees every write before it:
 * `read` runs once. With them, another client's write shows from the next published tick on (see
 * README, Concurrent reads): `read` is retried until `seen` holds, for up to `timeoutMs`; the last
 * value is returned either way, for the caller to assert on.
 */
export async function readOthersWrite<T>(
  read: () => Promise<T>,
  seen: (value: T) => boolean,
  timeoutMs = 2_000,
): Promise<T> {
  let value = await read();
  const deadline = performance.now() + timeoutMs;
  while (TEST_READ_WORKERS > 0 && !seen(value) && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
    value = await read();
  }
  return value;
}
