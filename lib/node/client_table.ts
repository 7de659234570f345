import { IdleWheel } from "../heartbeat/mod.ts";
import type { WireFormat } from "../protocol/mod.ts";

/** A peer id as a map key (see {@linkcode peerToKey}). */
export type PeerKey = string | number;

/**
 * One client connection (a ZeroMQ peer or a WebSocket): the client ids it carries and what it may
 * still spend.
 * Budgets are token buckets refilled with the time: `work` in work units (a request costs at least
 * 1; it may go negative after an expensive request, and the connection then waits until it is
 * positive again), `newUsers` in logins that create a user.
 */
export interface ConnectionEntry {
  /** The connection's peer id: a ZeroMQ routing id, or a WebSocket's (see `ws_plane.ts`). */
  readonly peer: Uint8Array;
  /** The peer id as a map key. */
  readonly key: PeerKey;
  /** The transport it came over (the `transport` label of metrics); set by the node. */
  transport: string;
  /** Client ids bound to this connection now. */
  readonly clientIds: Set<string>;
  /** True once its transport saw it close ({@linkcode ClientTable.disconnect}): nothing moves here. */
  closed: boolean;
  /** Work units left in the connection's bucket, and when it was last refilled (ms). */
  work: number;
  workAt: number;
  /** New users left in the connection's bucket, and when it was last refilled (ms). */
  newUsers: number;
  newUsersAt: number;
  /** Refusals answered in the current second, and when that second began (ms). */
  refusals: number;
  refusalsAt: number;
  /** When it last sent anything (whole ms): a connection silent for the idle timeout goes. */
  lastSeen: number;
}

/** What {@linkcode ClientTable.countByTransport} counts for one transport. */
export interface TransportCounts {
  /** Connections known (not yet expired). */
  connections: number;
  /** Client ids bound to them. */
  clientIds: number;
  /** Client ids logged in as a user. */
  sessions: number;
}

/** What a node knows about one client id (logged in or not). */
export interface ClientEntry {
  /** The client's UUID. */
  readonly clientId: string;
  /** The connection the client id is bound to: its replies, session and budget live there. */
  connection: ConnectionEntry;
  /** The user this client acts as on its connection (0 = not logged in). */
  userId: number;
  /**
   * The user's resume generation when this client got it: a user lingering after this client went
   * silent expires only if no one resumed it since (elsewhere, its generation moved on).
   */
  generation: number;
  /** Format of the client's last request on its connection (notices use it). */
  format: WireFormat;
  /** A login or resume of this client id is being performed: no second one starts meanwhile. */
  loginInFlight: boolean;
  /** Work units left in the client id's bucket, and when it was last refilled (ms). */
  work: number;
  workAt: number;
  /** The reader worker that answers this client's queries (-1: none chosen yet). */
  readLane: number;
  /** The world view version that holds this client's last write: its reads wait for it. */
  readAfter: number;
  /** When the client id last sent a request of its own (whole ms): silent too long, it goes. */
  lastSeen: number;
}

/** Outcome of {@linkcode ClientTable.admit}. */
export type AdmitResult =
  /** A request of the connection the client id is bound to (`fresh`: the id is new here). */
  | { type: "ok"; entry: ClientEntry; fresh: boolean }
  /**
   * The client id is bound to another connection (logged in there, or logging in): the request is
   * served only as far as no session is involved, and moving the id needs its session token.
   */
  | { type: "foreign"; entry: ClientEntry }
  /** The client id spent its budget (`max_requests_per_second`). */
  | { type: "rate_limited"; entry: ClientEntry }
  /** No room for another client id: on the node (`max_clients`) or the connection. */
  | { type: "full"; scope: "node" | "connection" };

/** Outcome of {@linkcode ClientTable.connect}. */
export type ConnectResult =
  /** The connection may spend on this request. */
  | { type: "ok"; connection: ConnectionEntry }
  /** The connection spent its budget; `answer`: a RATE_LIMITED reply is still due (else a drop). */
  | { type: "rate_limited"; connection: ConnectionEntry; answer: boolean };

/** Options of {@linkcode ClientTable}. */
export interface ClientTableOptions {
  /** A client id (and a connection without any) silent this long is dropped. */
  idleTimeoutMs: number;
  /** Most client ids tracked at once. */
  maxClients: number;
  /** Work units per second per client id (bucket of one second's worth). */
  maxRequestsPerSecond: number;
  /** Most client ids one connection carries at once. Default: no limit. */
  maxIdsPerConnection?: number;
  /**
   * Work units per second per connection, over all its client ids (bucket of a tenth of a second's
   * worth, so one connection's burst stalls nobody long). Default: no limit.
   */
  maxRequestsPerConnection?: number;
  /** New users per second per connection (bucket of one second's worth). Default: no limit. */
  maxNewUsersPerConnection?: number;
}

/**
 * The clients a node serves: connections (ZeroMQ peers, WebSockets) and the client ids each
 * carries, their sessions, budgets and liveness. A client id is bound to one connection at a time. While it has a
 * session or a login in flight, a request under that id from another connection is `foreign`: it is
 * not the client's, so it touches neither session nor budget nor liveness of the id, and only a resume
 * with the session token moves the id ({@linkcode ClientTable.move}). A guessed or leaked client id
 * alone never grants a user, nor a reply meant for its owner. Pure: the caller passes the time.
 */
export class ClientTable {
  readonly #entries = new Map<string, ClientEntry>();
  readonly #connections = new Map<PeerKey, ConnectionEntry>();
  /** Client ids and connections by the time they were last heard from. */
  readonly #idleIds: IdleWheel<ClientEntry>;
  readonly #idleConnections: IdleWheel<ConnectionEntry>;
  readonly #options: Required<ClientTableOptions>;
  #sessions = 0;

  /** Creates an empty table. */
  constructor(options: ClientTableOptions) {
    this.#options = {
      maxIdsPerConnection: Infinity,
      maxRequestsPerConnection: Infinity,
      maxNewUsersPerConnection: Infinity,
      ...options,
    };
    this.#idleIds = new IdleWheel({ timeoutMs: options.idleTimeoutMs });
    this.#idleConnections = new IdleWheel({ timeoutMs: options.idleTimeoutMs });
  }

  /** Client ids known, logged in or not. */
  get connections(): number {
    return this.#entries.size;
  }

  /** Connections (ZeroMQ peers and WebSockets) known. */
  get peers(): number {
    return this.#connections.size;
  }

  /** Clients logged in as a user. */
  get sessions(): number {
    return this.#sessions;
  }

  /** The entry of a client id. */
  get(clientId: string): ClientEntry | undefined {
    return this.#entries.get(clientId);
  }

  /** The entry of a connection, by routing id. */
  connection(peer: Uint8Array): ConnectionEntry | undefined {
    return this.#connections.get(peerToKey(peer));
  }

  /** Every entry (for notices at shutdown). */
  entries(): IterableIterator<ClientEntry> {
    return this.#entries.values();
  }

  /**
   * Connections, client ids and sessions (logged-in client ids) by transport: a pass over every
   * connection and client id, for a metrics scrape, never for the request path.
   */
  countByTransport(): Map<string, TransportCounts> {
    const counts = new Map<string, TransportCounts>();
    const of = (transport: string) => {
      let c = counts.get(transport);
      if (!c) counts.set(transport, c = { connections: 0, clientIds: 0, sessions: 0 });
      return c;
    };
    for (const connection of this.#connections.values()) of(connection.transport).connections++;
    for (const entry of this.#entries.values()) {
      const c = of(entry.connection.transport);
      c.clientIds++;
      if (entry.userId !== 0) c.sessions++;
    }
    return counts;
  }

  /**
   * Records a message from `peer` before it is even decoded: the connection's liveness, and one work
   * unit from its bucket. Beyond the bucket, the refusals of one second up to the same budget are
   * answered (`answer`), the rest dropped, so a flood costs the node little more than reading it.
   */
  connect(peer: Uint8Array, now: number): ConnectResult {
    const key = peerToKey(peer);
    let connection = this.#connections.get(key);
    const o = this.#options;
    if (!connection) {
      connection = {
        peer,
        key,
        transport: "zmq",
        clientIds: new Set(),
        closed: false,
        work: capacity(o.maxRequestsPerConnection, 0.1),
        workAt: now,
        newUsers: capacity(o.maxNewUsersPerConnection, 1),
        newUsersAt: now,
        refusals: 0,
        refusalsAt: now,
        lastSeen: 0,
      };
      this.#connections.set(key, connection);
      this.#idleConnections.add(connection, now);
    }
    connection.lastSeen = Math.floor(now);
    connection.work = refill(
      connection.work,
      connection.workAt,
      now,
      o.maxRequestsPerConnection,
      0.1,
    );
    connection.workAt = now;
    if (connection.work < 1) {
      if (now - connection.refusalsAt >= 1000) {
        connection.refusalsAt = now;
        connection.refusals = 0;
      }
      const answer = ++connection.refusals <= o.maxRequestsPerConnection;
      return { type: "rate_limited", connection, answer };
    }
    connection.work -= 1;
    return { type: "ok", connection };
  }

  /**
   * Records a request under `clientId` from `connection` (see {@linkcode connect}): creates or moves
   * the entry when it is free to, checks the client id's bucket, and counts the request as traffic.
   */
  admit(
    clientId: string,
    connection: ConnectionEntry,
    format: WireFormat,
    now: number,
  ): AdmitResult {
    const o = this.#options;
    let entry = this.#entries.get(clientId);
    let fresh = false;
    if (!entry) {
      if (connection.clientIds.size >= o.maxIdsPerConnection) {
        return { type: "full", scope: "connection" };
      }
      if (this.#entries.size >= o.maxClients) return { type: "full", scope: "node" };
      entry = {
        clientId,
        connection,
        userId: 0,
        generation: 0,
        format,
        loginInFlight: false,
        work: capacity(o.maxRequestsPerSecond, 1),
        workAt: now,
        readLane: -1,
        readAfter: 0,
        lastSeen: 0,
      };
      connection.clientIds.add(clientId);
      this.#entries.set(clientId, entry);
      this.#idleIds.add(entry, now);
      fresh = true;
    } else if (entry.connection !== connection) {
      // An id without a session carries nothing to steal: it follows whoever uses it.
      if (entry.userId !== 0 || entry.loginInFlight) return { type: "foreign", entry };
      if (!this.hasRoom(connection)) return { type: "full", scope: "connection" };
      this.#rebind(entry, connection);
    }
    entry.format = format;
    entry.lastSeen = Math.floor(now);
    entry.work = refill(entry.work, entry.workAt, now, o.maxRequestsPerSecond, 1);
    entry.workAt = now;
    if (entry.work < 1) return { type: "rate_limited", entry };
    entry.work -= 1;
    return { type: "ok", entry, fresh };
  }

  /**
   * Charges `units` of work beyond the unit every request costs: to the connection, and to the
   * client id when the request was its own. Budgets may go negative (paid back with time).
   */
  charge(connection: ConnectionEntry, entry: ClientEntry | undefined, units: number): void {
    if (!(units > 0)) return;
    connection.work -= units;
    if (entry) entry.work -= units;
  }

  /** Takes one new user from the connection's bucket; false when it is empty. */
  takeNewUser(connection: ConnectionEntry, now: number): boolean {
    const rate = this.#options.maxNewUsersPerConnection;
    connection.newUsers = refill(connection.newUsers, connection.newUsersAt, now, rate, 1);
    connection.newUsersAt = now;
    if (connection.newUsers < 1) return false;
    connection.newUsers -= 1;
    return true;
  }

  /** True when `connection` may take one more client id. */
  hasRoom(connection: ConnectionEntry): boolean {
    return connection.clientIds.size < this.#options.maxIdsPerConnection;
  }

  /** Moves a client id to `connection` (a resume with its session token from there succeeded). */
  move(entry: ClientEntry, connection: ConnectionEntry, now: number): void {
    if (entry.connection !== connection) this.#rebind(entry, connection);
    entry.lastSeen = Math.floor(now);
  }

  #rebind(entry: ClientEntry, connection: ConnectionEntry): void {
    entry.connection.clientIds.delete(entry.clientId);
    connection.clientIds.add(entry.clientId);
    entry.connection = connection;
  }

  /** Binds (userId > 0, at its resume `generation`) or unbinds (0) a client's session. */
  bind(entry: ClientEntry, userId: number, generation = 0): void {
    if (entry.userId === 0 && userId !== 0) this.#sessions++;
    if (entry.userId !== 0 && userId === 0) this.#sessions--;
    entry.userId = userId;
    entry.generation = userId === 0 ? 0 : generation;
  }

  /** True while `entry` is the table's entry for its client id (not removed or replaced). */
  holds(entry: ClientEntry): boolean {
    return this.#entries.get(entry.clientId) === entry;
  }

  /** Removes a client (e.g. at logout-and-leave); returns its entry. */
  remove(clientId: string): ClientEntry | undefined {
    const entry = this.#entries.get(clientId);
    if (!entry) return undefined;
    this.bind(entry, 0);
    this.#entries.delete(clientId);
    entry.connection.clientIds.delete(clientId);
    return entry;
  }

  /**
   * Forgets a connection its transport saw close (a WebSocket; ZeroMQ tells no routing id when a
   * peer goes) with every client id bound to it, and returns those entries as they were, so that
   * their users may linger for a resume. The connection is marked `closed`.
   */
  disconnect(peer: Uint8Array): ClientEntry[] {
    const key = peerToKey(peer);
    const connection = this.#connections.get(key);
    if (!connection) return [];
    this.#connections.delete(key);
    connection.closed = true;
    const out: ClientEntry[] = [];
    for (const clientId of connection.clientIds) {
      const entry = this.#entries.get(clientId);
      if (!entry) continue;
      this.#entries.delete(clientId);
      out.push({ ...entry });
      this.bind(entry, 0);
    }
    connection.clientIds.clear();
    return out;
  }

  /**
   * Removes and returns clients idle past the timeout, looking at no more than `budget`; forgets
   * connections silent that long that carry no client id.
   */
  expireIdle(now: number, budget = 2000): ClientEntry[] {
    const out: ClientEntry[] = [];
    for (const entry of this.#idleIds.expire(now, this.#holdsEntry, budget)) {
      this.#entries.delete(entry.clientId);
      entry.connection.clientIds.delete(entry.clientId);
      out.push({ ...entry });
      this.bind(entry, 0);
    }
    for (const connection of this.#idleConnections.expire(now, this.#holdsConnection, budget)) {
      // Its client ids expire on their own clock; the connection goes once it carries none.
      if (connection.clientIds.size > 0) this.#idleConnections.add(connection, now);
      else this.#connections.delete(connection.key);
    }
    return out;
  }

  readonly #holdsEntry = (entry: ClientEntry) => this.holds(entry);
  readonly #holdsConnection = (c: ConnectionEntry) => this.#connections.get(c.key) === c;
}

/** A bucket's size: `seconds` of `rate`, at least one unit (Infinity when unlimited). */
function capacity(rate: number, seconds: number): number {
  return Math.max(1, rate * seconds);
}

/** `tokens` refilled at `rate` per second from `at` to `now`, up to the bucket's capacity. */
function refill(tokens: number, at: number, now: number, rate: number, seconds: number): number {
  const full = capacity(rate, seconds);
  if (tokens >= full) return full;
  const elapsed = now - at;
  return elapsed > 0 ? Math.min(full, tokens + (elapsed * rate) / 1000) : tokens;
}

/**
 * A peer id as a map key: a ZeroMQ routing id (a 0 byte, then a 32-bit number) as that number — a
 * small integer hashes and compares without touching memory — any other id as a string.
 */
export function peerToKey(peer: Uint8Array): PeerKey {
  if (peer.length === 5 && peer[0] === 0) {
    return (peer[1] * 0x1000000) + ((peer[2] << 16) | (peer[3] << 8) | peer[4]);
  }
  // A WebSocket's 256-byte id in one native call.
  if (peer.length > 16) return String.fromCharCode.apply(null, peer as unknown as number[]);
  let s = "";
  for (let i = 0; i < peer.length; i++) s += String.fromCharCode(peer[i]);
  return s;
}
