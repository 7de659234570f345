/**
 * Headless Chromium for browser tests, driven over the DevTools protocol on Deno's own WebSocket
 * (no npm package, nothing downloaded): launch, open a page, evaluate expressions, wait for page
 * state, press keys, click, take screenshots; always stopped.
 *
 * Tests find Chromium with {@linkcode findChromium}; when it is missing they are skipped unless
 * `GAMESERVER_TEST_BROWSER=required` (what `.ci/run` sets), which makes them fail instead.
 *
 * @module
 */

/** Where Debian and others put Chromium; `CHROMIUM` overrides. */
const CANDIDATES = [
  "/usr/bin/chromium",
  "/usr/bin/chromium-browser",
  "/usr/bin/google-chrome",
  "/usr/bin/google-chrome-stable",
];

/** The Chromium executable, or undefined when none is installed. */
export function findChromium(): string | undefined {
  const given = Deno.env.get("CHROMIUM");
  for (const path of given ? [given] : CANDIDATES) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch { /* not here */ }
  }
  return undefined;
}

/** True when browser tests must run (and fail without Chromium) rather than be skipped. */
export function browserRequired(): boolean {
  return Deno.env.get("GAMESERVER_TEST_BROWSER") === "required";
}

/** Chromium is missing while the tests are required to run. */
export class BrowserMissingError extends Error {
  /** Creates the error. */
  constructor() {
    super(
      "Chromium is missing and GAMESERVER_TEST_BROWSER=required: install it (apt-get install -y chromium) or set CHROMIUM",
    );
    this.name = "BrowserMissingError";
  }
}

interface Pending {
  resolve: (value: Record<string, unknown>) => void;
  reject: (error: Error) => void;
  method: string;
}

/** A running headless Chromium with a DevTools connection. */
export class Browser implements AsyncDisposable {
  readonly #child: Deno.ChildProcess;
  readonly #socket: WebSocket;
  readonly #profile: string;
  readonly #pending = new Map<number, Pending>();
  readonly #listeners = new Set<(method: string, params: unknown, session?: string) => void>();
  #nextId = 1;
  #closed = false;

  private constructor(child: Deno.ChildProcess, socket: WebSocket, profile: string) {
    this.#child = child;
    this.#socket = socket;
    this.#profile = profile;
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.id !== undefined) {
        const waiter = this.#pending.get(message.id);
        if (!waiter) return;
        this.#pending.delete(message.id);
        if (message.error) {
          waiter.reject(new Error(`${waiter.method}: ${message.error.message}`));
        } else waiter.resolve(message.result ?? {});
      } else {
        for (const l of this.#listeners) l(message.method, message.params, message.sessionId);
      }
    };
    socket.onclose = () => {
      for (const w of this.#pending.values()) w.reject(new Error("Browser connection closed"));
      this.#pending.clear();
    };
  }

  /**
   * Starts Chromium headless (throws {@linkcode BrowserMissingError} when it is not installed)
   * and connects to it.
   */
  static async launch(options: { width?: number; height?: number } = {}): Promise<Browser> {
    const executable = findChromium();
    if (!executable) throw new BrowserMissingError();
    const profile = Deno.makeTempDirSync({ prefix: "gameserver-chromium-" });
    const child = new Deno.Command(executable, {
      args: [
        "--headless=new",
        "--remote-debugging-port=0",
        `--user-data-dir=${profile}`,
        // Root in a container has no usable sandbox; the pages are our own.
        "--no-sandbox",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-background-timer-throttling",
        "--disable-renderer-backgrounding",
        "--disable-backgrounding-occluded-windows",
        "--disable-dev-shm-usage",
        `--window-size=${options.width ?? 1280},${options.height ?? 800}`,
        "about:blank",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    try {
      const url = await devToolsUrl(child.stderr, 30_000);
      const socket = new WebSocket(url);
      await new Promise<void>((resolve, reject) => {
        socket.onopen = () => resolve();
        socket.onerror = () => reject(new Error(`Cannot connect to Chromium at ${url}`));
      });
      return new Browser(child, socket, profile);
    } catch (err) {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
      Deno.removeSync(profile, { recursive: true });
      throw err;
    }
  }

  /** Sends a DevTools command (to a page when `session` is given) and returns its result. */
  send(
    method: string,
    params: Record<string, unknown> = {},
    session?: string,
  ): Promise<Record<string, unknown>> {
    const id = this.#nextId++;
    const { promise, resolve, reject } = Promise.withResolvers<Record<string, unknown>>();
    this.#pending.set(id, { resolve, reject, method });
    this.#socket.send(JSON.stringify({ id, method, params, sessionId: session }));
    return promise;
  }

  /** Listens to DevTools events; returns a function that stops listening. */
  on(listener: (method: string, params: unknown, session?: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Opens a new tab at `url` and waits until its document has loaded. */
  async open(url: string): Promise<Page> {
    const { targetId } = await this.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await this.send("Target.attachToTarget", { targetId, flatten: true });
    const page = new Page(this, String(targetId), String(sessionId));
    await page.send("Page.enable");
    await page.send("Runtime.enable");
    await page.goto(url);
    return page;
  }

  /** Stops Chromium and removes its profile. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await Promise.race([this.send("Browser.close"), delay(2000)]);
    } catch { /* it may be gone already */ }
    this.#socket.close();
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 5000);
    await this.#child.status;
    clearTimeout(timer);
    await this.#child.stderr.cancel().catch(() => {});
    await Deno.remove(this.#profile, { recursive: true }).catch(() => {});
  }

  /** Same as {@linkcode close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** One tab. */
export class Page {
  readonly #browser: Browser;
  /** The tab's target id. */
  readonly targetId: string;
  readonly #session: string;
  /** Console messages and uncaught errors of the page, for failure messages. */
  readonly console: string[] = [];

  /** A tab attached as `session` (see {@linkcode Browser.open}). */
  constructor(browser: Browser, targetId: string, session: string) {
    this.#browser = browser;
    this.targetId = targetId;
    this.#session = session;
    browser.on((method, params, s) => {
      if (s !== session) return;
      if (method === "Runtime.consoleAPICalled") {
        const p = params as { type: string; args: RemoteObject[] };
        this.console.push(`${p.type}: ${p.args.map((a) => a.value ?? a.description).join(" ")}`);
      } else if (method === "Runtime.exceptionThrown") {
        const p = params as { exceptionDetails?: ExceptionDetails };
        this.console.push(`exception: ${describe(p.exceptionDetails)}`);
      }
    });
  }

  /** Sends a DevTools command to this tab. */
  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    return this.#browser.send(method, params, this.#session);
  }

  /** Navigates to `url` and waits until the document has loaded. */
  async goto(url: string): Promise<void> {
    const result = await this.send("Page.navigate", { url });
    if (result.errorText) throw new Error(`Cannot open ${url}: ${result.errorText}`);
    await this.waitFor(`${url} loaded`, `document.readyState === "complete"`, 15_000);
  }

  /** The value of `expression` in the page (awaited when it is a promise). */
  async evaluate<T = unknown>(expression: string): Promise<T> {
    const result = await this.send("Runtime.evaluate", {
      expression,
      returnByValue: true,
      awaitPromise: true,
    });
    const details = result.exceptionDetails as ExceptionDetails | undefined;
    if (details) {
      throw new Error(
        `${expression}: ${describe(details)}`,
      );
    }
    return (result.result as { value: T }).value;
  }

  /** Polls `expression` until it is truthy and returns it; throws after `timeoutMs`. */
  async waitFor<T = unknown>(what: string, expression: string, timeoutMs = 20_000): Promise<T> {
    const deadline = performance.now() + timeoutMs;
    let last: unknown;
    while (performance.now() < deadline) {
      try {
        const value = await this.evaluate<T>(expression);
        if (value) return value;
        last = value;
      } catch (err) {
        last = err;
      }
      await delay(50);
    }
    throw new Error(
      `Timed out after ${timeoutMs} ms waiting for ${what} (${expression} was ${last}); page console:\n${
        this.console.slice(-20).join("\n")
      }`,
    );
  }

  /** Presses (`down`), releases (`up`) or taps (`tap`) the key with DOM `code` and `key`. */
  async key(code: string, key: string, action: "down" | "up" | "tap" = "tap"): Promise<void> {
    const keyCode = key === " " ? 32 : key.length === 1 ? key.toUpperCase().charCodeAt(0) : 0;
    const base = { code, key, windowsVirtualKeyCode: keyCode, nativeVirtualKeyCode: keyCode };
    if (action !== "up") {
      await this.send("Input.dispatchKeyEvent", {
        type: "keyDown",
        ...base,
        text: key.length === 1 ? key : undefined,
      });
    }
    if (action !== "down") await this.send("Input.dispatchKeyEvent", { type: "keyUp", ...base });
  }

  /** Clicks at (x, y) CSS pixels. */
  async click(x: number, y: number): Promise<void> {
    for (const type of ["mousePressed", "mouseReleased"]) {
      await this.send("Input.dispatchMouseEvent", { type, x, y, button: "left", clickCount: 1 });
    }
  }

  /** Saves a PNG of the tab to `path`. */
  async screenshot(path: string): Promise<void> {
    const { data } = await this.send("Page.captureScreenshot", { format: "png" });
    const bytes = Uint8Array.from(atob(String(data)), (c) => c.charCodeAt(0));
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")) || ".", { recursive: true });
    await Deno.writeFile(path, bytes);
  }
}

/** A DevTools `Runtime.RemoteObject`, the fields we read. */
interface RemoteObject {
  value?: unknown;
  description?: string;
}

/** A DevTools `Runtime.ExceptionDetails`, the fields we read. */
interface ExceptionDetails {
  text?: string;
  exception?: RemoteObject;
}

function describe(details: ExceptionDetails | undefined): string {
  return details?.exception?.description ?? details?.text ?? "exception";
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Reads Chromium's stderr until it names its DevTools WebSocket URL (keeps draining after). */
async function devToolsUrl(stderr: ReadableStream<Uint8Array>, timeoutMs: number): Promise<string> {
  const reader = stderr.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const timer = setTimeout(() => reader.cancel().catch(() => {}), timeoutMs);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      const match = text.match(/DevTools listening on (ws:\/\/\S+)/);
      if (match) {
        // Keep reading so Chromium never blocks on a full pipe.
        (async () => {
          try {
            while (!(await reader.read()).done) { /* drain */ }
          } catch { /* closed */ }
        })();
        return match[1];
      }
    }
  } finally {
    clearTimeout(timer);
  }
  throw new Error(`Chromium did not start its DevTools server:\n${text.slice(-2000)}`);
}
