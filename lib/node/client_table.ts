import { LivenessTracker } from "../heartbeat/mod.ts";
import type { WireFormat } from "../protocol/mod.ts";

/** What a node knows about one client (logged in or not). */
export interface ClientEntry {
  /** The client's UUID. */
  readonly clientId: string;
  /** The ZeroMQ routing id of the connection it last spoke on. */
  peer: Uint8Array;
  /** Peer as a string key, to notice a client that moved to another connection. */
  peerKey: string;
  /** The user this client acts as on this connection (0 = not logged in). */
  userId: number;
  /** Format of the client's last request. */
  format: WireFormat;
  /** Start of the current rate-limit window (ms) and requests counted in it. */
  windowStart: number;
  windowCount: number;
}

/** Outcome of {@linkcode ClientTable.admit}. */
export type AdmitResult =
  | { type: "ok"; entry: ClientEntry; moved: boolean; fresh: boolean }
  | { type: "rate_limited"; entry: ClientEntry }
  | { type: "full" };

/** Options of {@linkcode ClientTable}. */
export interface ClientTableOptions {
  idleTimeoutMs: number;
  maxClients: number;
  maxRequestsPerSecond: number;
}

/**
 * The clients a node serves, keyed by client id: connections (logged in or not), their sessions, rate
 * limits and liveness. A session is bound to the connection it logged in on: the same client id
 * arriving on another connection starts unauthenticated and must resume with its session token, so a
 * guessed or leaked client id alone never grants a user. Pure: the caller passes the time.
 */
export class ClientTable {
  readonly #entries = new Map<string, ClientEntry>();
  readonly #liveness: LivenessTracker<string>;
  readonly #options: ClientTableOptions;
  #sessions = 0;

  /** Creates an empty table. */
  constructor(options: ClientTableOptions) {
    this.#options = options;
    this.#liveness = new LivenessTracker({ timeoutMs: options.idleTimeoutMs });
  }

  /** Client connections known, logged in or not. */
  get connections(): number {
    return this.#entries.size;
  }

  /** Clients logged in as a user. */
  get sessions(): number {
    return this.#sessions;
  }

  /** The entry of a client id. */
  get(clientId: string): ClientEntry | undefined {
    return this.#entries.get(clientId);
  }

  /** Every entry (for notices at shutdown). */
  entries(): IterableIterator<ClientEntry> {
    return this.#entries.values();
  }

  /** Records a request from `clientId` on `peer`: liveness, connection change and rate limit. */
  admit(clientId: string, peer: Uint8Array, format: WireFormat, now: number): AdmitResult {
    const peerKey = peerToKey(peer);
    let entry = this.#entries.get(clientId);
    let moved = false;
    let fresh = false;
    if (!entry) {
      if (this.#entries.size >= this.#options.maxClients) return { type: "full" };
      entry = { clientId, peer, peerKey, userId: 0, format, windowStart: now, windowCount: 0 };
      this.#entries.set(clientId, entry);
      fresh = true;
    } else if (entry.peerKey !== peerKey) {
      moved = entry.userId !== 0;
      this.bind(entry, 0);
      entry.peer = peer;
      entry.peerKey = peerKey;
    }
    entry.format = format;
    this.#liveness.touch(clientId, now);
    if (now - entry.windowStart >= 1000) {
      entry.windowStart = now;
      entry.windowCount = 0;
    }
    if (++entry.windowCount > this.#options.maxRequestsPerSecond) {
      return { type: "rate_limited", entry };
    }
    return { type: "ok", entry, moved, fresh };
  }

  /** Binds (userId > 0) or unbinds (0) a client's session. */
  bind(entry: ClientEntry, userId: number): void {
    if (entry.userId === 0 && userId !== 0) this.#sessions++;
    if (entry.userId !== 0 && userId === 0) this.#sessions--;
    entry.userId = userId;
  }

  /** Removes a client (e.g. at logout-and-leave); returns its entry. */
  remove(clientId: string): ClientEntry | undefined {
    const entry = this.#entries.get(clientId);
    if (!entry) return undefined;
    this.bind(entry, 0);
    this.#entries.delete(clientId);
    this.#liveness.remove(clientId);
    return entry;
  }

  /** Removes and returns clients idle past the timeout, looking at no more than `budget`. */
  expireIdle(now: number, budget = 2000): ClientEntry[] {
    const out: ClientEntry[] = [];
    for (const clientId of this.#liveness.expire(now, budget)) {
      const entry = this.#entries.get(clientId);
      if (!entry) continue;
      this.#entries.delete(clientId);
      out.push({ ...entry });
      this.bind(entry, 0);
    }
    return out;
  }
}

/** A routing id as a map key. */
export function peerToKey(peer: Uint8Array): string {
  let s = "";
  for (let i = 0; i < peer.length; i++) s += String.fromCharCode(peer[i]);
  return s;
}
