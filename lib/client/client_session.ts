import type { Envelope, LoginReply, QueryReply, UserState, WriteAck } from "../protocol/mod.ts";
import type { Connection } from "./connection.ts";
import { RequestError } from "./errors.ts";

/**
 * Result of a session operation: the reply body (with, for an acknowledged cluster write, who
 * acknowledged it), or the error the server (or timeout) gave.
 */
export type Outcome<T> = { ok: true; value: T; ms: number; writeAck?: WriteAck } | {
  ok: false;
  error: RequestError;
  ms: number;
};

/**
 * One client (one client id) on a {@linkcode Connection}: its user id and session token, the typed
 * operations, and resuming its user after the connection moved to another node.
 */
export class ClientSession {
  /** This client's UUID. */
  readonly clientId: string;
  readonly #connection: Connection;
  #userId = 0;
  #token = "";

  /** Creates a session (a fresh client id unless one is given). */
  constructor(connection: Connection, clientId: string = crypto.randomUUID()) {
    this.#connection = connection;
    this.clientId = clientId;
  }

  /** The logged-in user's id (0 when not logged in). */
  get userId(): number {
    return this.#userId;
  }

  /** The connection this session uses. */
  get connection(): Connection {
    return this.#connection;
  }

  /** Logs in as a new user. */
  async login(): Promise<Outcome<LoginReply>> {
    const out = await this.#call({ login: {} }, "loginReply");
    if (out.ok) this.#remember(out.value);
    return out;
  }

  /** Takes the user back after a reconnect (no-op without a user); false when the user is gone. */
  async resume(): Promise<Outcome<LoginReply> | undefined> {
    if (this.#userId === 0) return undefined;
    const out = await this.#call(
      { login: { userId: this.#userId, sessionToken: this.#token } },
      "loginReply",
    );
    if (out.ok) this.#remember(out.value);
    else if (out.error.code === "SESSION_INVALID") this.#forget();
    return out;
  }

  /** Logs out. */
  async logout(): Promise<Outcome<number>> {
    const out = await this.#call({ logout: {} }, "logoutReply");
    if (out.ok) {
      this.#forget();
      return { ok: true, value: out.value.userId ?? 0, ms: out.ms };
    }
    return out;
  }

  /** Sets the velocity (m/s). */
  setVelocity(vx: number, vy: number): Promise<Outcome<{ user?: UserState | null }>> {
    return this.#call({ setVelocity: { vx, vy } }, "setVelocityReply");
  }

  /** Users inside a rectangle. */
  queryRect(x1: number, y1: number, x2: number, y2: number): Promise<Outcome<QueryReply>> {
    return this.#call({ queryRect: { x1, y1, x2, y2 } }, "queryReply");
  }

  /** Users inside a circle. */
  queryCircle(x: number, y: number, radius: number): Promise<Outcome<QueryReply>> {
    return this.#call({ queryCircle: { x, y, radius } }, "queryReply");
  }

  /** Applies `amount` to every other user within `radius`. */
  aoe(
    radius: number,
    amount: number,
  ): Promise<Outcome<{ userIds?: number[] | null; total?: number | null }>> {
    return this.#call({ aoe: { radius, amount } }, "aoeReply");
  }

  /** Round trip to the node. */
  ping(): Promise<Outcome<NonNullable<Envelope["pong"]>>> {
    return this.#call({ ping: { clientTimeMs: Date.now() } }, "pong");
  }

  /** The node's status. */
  status(withChecksum = false): Promise<Outcome<NonNullable<Envelope["statusReply"]>>> {
    return this.#call({ status: { withChecksum } }, "statusReply");
  }

  #remember(reply: LoginReply): void {
    this.#userId = reply.userId ?? 0;
    this.#token = reply.sessionToken ?? "";
  }

  #forget(): void {
    this.#userId = 0;
    this.#token = "";
  }

  async #call<K extends keyof Envelope>(
    body: Envelope,
    key: K,
  ): Promise<Outcome<NonNullable<Envelope[K]>>> {
    const out = await this.#callOnce(body, key);
    // The node does not know this client's user on this connection (a reconnect moved it, or an
    // earlier resume failed while the cluster was changing masters): resume, then retry once.
    if (!out.ok && out.error.code === "NOT_LOGGED_IN" && key !== "loginReply" && this.#userId) {
      const resumed = await this.resume();
      if (resumed?.ok) return this.#callOnce(body, key);
    }
    return out;
  }

  async #callOnce<K extends keyof Envelope>(
    body: Envelope,
    key: K,
  ): Promise<Outcome<NonNullable<Envelope[K]>>> {
    const start = performance.now();
    try {
      const reply = await this.#connection.request(this.clientId, body);
      const ms = performance.now() - start;
      if (reply.error) {
        // The user is gone for good (a NOT_LOGGED_IN right after a reconnect is fixed by resume()).
        if (reply.error.code === "SESSION_INVALID" && key !== "loginReply") this.#forget();
        return {
          ok: false,
          error: new RequestError(reply.error.code ?? "INTERNAL", reply.error.message ?? ""),
          ms,
        };
      }
      const value = reply[key];
      if (value === undefined || value === null) {
        return {
          ok: false,
          error: new RequestError("INTERNAL", `Expected ${String(key)}, got ${reply.msg}`),
          ms,
        };
      }
      const writeAck = reply.writeAck ?? undefined;
      return writeAck
        ? { ok: true, value: value as NonNullable<Envelope[K]>, ms, writeAck }
        : { ok: true, value: value as NonNullable<Envelope[K]>, ms };
    } catch (err) {
      const error = err instanceof RequestError ? err : new RequestError("INTERNAL", String(err));
      return { ok: false, error, ms: performance.now() - start };
    }
  }
}
