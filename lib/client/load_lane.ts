/**
 * One connection the load's simulated clients share, with its queues: clients waiting to log in,
 * and due operations waiting for room in flight.
 *
 * @module
 */
import type { Connection } from "./connection.ts";

/** Options of {@linkcode LoadLane}. */
export interface LoadLaneOptions {
  /** The lane's position: client c uses lane c mod lanes. */
  index: number;
  connection: Connection;
  /** The connection's own client id (pings, status). */
  ownId: string;
  /** Most ops the backlog holds. */
  backlog: number;
  /** New-user logins sent per second at most (default: no limit). */
  loginRate?: number;
}

/**
 * A shared connection, its requests in flight, a FIFO of clients waiting to log in (or resume) and a
 * fixed ring of due ops (schedule item and due time) that allocates nothing per op.
 */
export class LoadLane {
  /** The lane's position: client c uses lane c mod lanes. */
  readonly index: number;
  /** The shared connection. */
  readonly connection: Connection;
  /** The connection's own client id (pings, status). */
  readonly ownId: string;
  /** Requests sent on this lane and not answered yet. */
  inFlight = 0;
  #logins: number[] = [];
  #loginHead = 0;
  readonly #backlogItems: Int32Array;
  readonly #backlogDue: Float64Array;
  #backlogHead = 0;
  #backlogSize = 0;
  readonly #loginRate: number;
  /** Login tokens (a bucket of a tenth of a second's worth) and when it was last refilled. */
  #loginTokens: number;
  #loginTokensAt = -Infinity;

  /** Creates a lane with empty queues. */
  constructor(options: LoadLaneOptions) {
    this.index = options.index;
    this.connection = options.connection;
    this.ownId = options.ownId;
    this.#backlogItems = new Int32Array(options.backlog);
    this.#backlogDue = new Float64Array(options.backlog);
    this.#loginRate = options.loginRate ?? Infinity;
    this.#loginTokens = Math.max(1, this.#loginRate / 10);
  }

  /** Clients waiting to log in. */
  get waitingLogins(): number {
    return this.#logins.length - this.#loginHead;
  }

  /** Queues `client` to log in. */
  queueLogin(client: number): void {
    this.#logins.push(client);
  }

  /** The longest-waiting client of the login queue (check {@linkcode waitingLogins} first). */
  get nextLogin(): number {
    return this.#logins[this.#loginHead];
  }

  /**
   * Takes one new-user login from the lane's budget at `now` (ms): false when the lane sent
   * `loginRate` per second already, so it stays within a node's per-connection bound.
   */
  takeLoginToken(now: number): boolean {
    const full = Math.max(1, this.#loginRate / 10);
    if (this.#loginTokens < full && now > this.#loginTokensAt) {
      this.#loginTokens = Math.min(
        full,
        this.#loginTokens + ((now - this.#loginTokensAt) * this.#loginRate) / 1000,
      );
    }
    this.#loginTokensAt = now;
    if (this.#loginTokens < 1) return false;
    this.#loginTokens -= 1;
    return true;
  }

  /** Takes the longest-waiting client off the login queue (check {@linkcode waitingLogins} first). */
  takeLogin(): number {
    const client = this.#logins[this.#loginHead++];
    if (this.#loginHead === this.#logins.length) {
      this.#logins = [];
      this.#loginHead = 0;
    }
    return client;
  }

  /** Ops waiting for room in flight. */
  get backlogSize(): number {
    return this.#backlogSize;
  }

  /** Queues a due op; false when the backlog is full (the op is not queued). */
  queueOp(item: number, due: number): boolean {
    const capacity = this.#backlogItems.length;
    if (this.#backlogSize >= capacity) return false;
    const at = (this.#backlogHead + this.#backlogSize) % capacity;
    this.#backlogItems[at] = item;
    this.#backlogDue[at] = due;
    this.#backlogSize++;
    return true;
  }

  /** The schedule item of the oldest queued op (check {@linkcode backlogSize} first). */
  get nextItem(): number {
    return this.#backlogItems[this.#backlogHead];
  }

  /** The due time of the oldest queued op, ms. */
  get nextDue(): number {
    return this.#backlogDue[this.#backlogHead];
  }

  /** Drops the oldest queued op (once read through {@linkcode nextItem} and {@linkcode nextDue}). */
  dropNext(): void {
    this.#backlogHead = (this.#backlogHead + 1) % this.#backlogItems.length;
    this.#backlogSize--;
  }
}
