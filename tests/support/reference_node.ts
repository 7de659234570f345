/**
 * A reference for the fuzz test: classifies every client frame locally (the same decoding and
 * `parseRequest` the node uses) and applies the accepted ones to a world of its own, so that each
 * reply and each checksum of the real node can be compared with what should have happened.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { NodeConfig } from "../../lib/config/mod.ts";
import { requestLimits, worldOptionsOf } from "../../lib/node/mod.ts";
import {
  decodeEnvelope,
  detectFormat,
  type Envelope,
  type ErrorCode,
  parseRequest,
  ProtocolError,
  type Request,
  type RequestLimits,
  type WireFormat,
} from "../../lib/protocol/mod.ts";
import { GameState } from "../../lib/state/mod.ts";
import { World } from "../../lib/world/mod.ts";
import type { KnownCredential } from "./fuzz_frames.ts";

/** How the reference classifies one client message before any session or world is involved. */
export type Classification =
  | { kind: "rejected"; code: ErrorCode; clientId: string; requestId: number }
  | { kind: "accepted"; request: Request; clientId: string; requestId: number };

/** The node's world checksum right before and right after it handled one message. */
export interface Checksums {
  before: number;
  after: number;
}

/** What the reference saw, by outcome. */
export interface ReferenceCounts {
  /** Rejected by decoding or validation (BAD_FRAME, INVALID_ARGUMENT, ...). */
  rejected: number;
  /** Valid, but refused for the session (NOT_LOGGED_IN, ALREADY_LOGGED_IN, SESSION_INVALID, ...). */
  refused: number;
  /** Writes applied (login, resume, logout, set_velocity, aoe). */
  writes: number;
  /** Of which resumes with a genuine token. */
  resumes: number;
  /** Reads answered (queries, ping, status). */
  reads: number;
}

/** How a message came: its format when the transport says (WebSocket text or binary). */
export interface MessageKind {
  /** Default: detected from the bytes, as over ZeroMQ. */
  format?: WireFormat;
}

/** Classifies one message as the node's request handling would, with the node's limits. */
export function classify(
  frames: Uint8Array[],
  config: NodeConfig,
  limits: RequestLimits,
  kind: MessageKind = {},
): Classification {
  const rejected = (code: ErrorCode, clientId = "", requestId = 0): Classification => ({
    kind: "rejected",
    code,
    clientId,
    requestId,
  });
  if (frames.length !== 1) return rejected("BAD_FRAME");
  const frame = frames[0];
  const format = kind.format ?? detectFormat(frame);
  if (frame.length > config.clients.max_frame_bytes) return rejected("FRAME_TOO_LARGE");
  let envelope: Envelope;
  try {
    envelope = decodeEnvelope(frame, format);
  } catch (err) {
    return rejected(err instanceof ProtocolError ? err.code : "BAD_FRAME");
  }
  const clientId = typeof envelope.clientId === "string" ? envelope.clientId : "";
  const requestId = envelope.requestId ?? 0;
  try {
    return { kind: "accepted", request: parseRequest(envelope, limits), clientId, requestId };
  } catch (err) {
    return rejected(err instanceof ProtocolError ? err.code : "INTERNAL", clientId, requestId);
  }
}

/**
 * The reference: a `GameState` of its own, the client table as the node should hold it (which
 * connection each client id last spoke on, which user it is bound to), and the credentials learnt
 * from login replies. Random parts of a reply (a new user's position and token) are taken from the
 * reply; everything else is predicted and compared.
 */
export class ReferenceNode {
  /** The reference world and sessions. */
  readonly state: GameState;
  /** Credentials seen in login replies. */
  readonly known: KnownCredential[] = [];
  /** What the reference saw, by outcome. */
  readonly counts: ReferenceCounts = { rejected: 0, refused: 0, writes: 0, resumes: 0, reads: 0 };
  readonly #config: NodeConfig;
  readonly #limits: RequestLimits;
  readonly #clients = new Map<string, { lane: number; userId: number }>();
  readonly #out: Uint32Array;
  /** With reader workers: the world as the last tick left it (what they answer from), and ticks. */
  #view: World | undefined;
  #ticks = 0;
  /** Per client id: the tick count when it last changed the world (its reads wait for the next). */
  readonly #changedAt = new Map<string, number>();
  /** Queries no view seen so far answers; each must match one of the next ticks' views. */
  readonly #pending: { query: Request; reply: Envelope; what: string; from: number }[] = [];

  /**
   * A reference for a node with `config`. With `clients.read_workers` > 0, a query's reply must be
   * the answer of the world as some tick left it: the last tick before the query, or one after it
   * (never before the client's own last write), while the reply was on its way.
   */
  constructor(config: NodeConfig) {
    this.#config = config;
    this.#limits = requestLimits(config);
    const w = config.world;
    this.state = new GameState(worldOptionsOf(config), w.tick_time);
    this.#out = new Uint32Array(w.max_query_results);
    if (config.clients.read_workers > 0) this.#view = this.#copyWorld();
  }

  /** The node ran a world tick. */
  tick(): void {
    this.state.step();
    if (this.#view === undefined) return;
    this.#ticks++;
    this.#view = this.#copyWorld();
    for (let i = this.#pending.length - 1; i >= 0; i--) {
      const p = this.#pending[i];
      if (p.from <= this.#ticks && this.#answers(this.#view, p.query, p.reply)) {
        this.#pending.splice(i, 1);
      }
    }
  }

  /** Asserts that every query checked so far matched a view (call once its reply's ticks are in). */
  settle(): void {
    const p = this.#pending[0];
    assert.equal(p, undefined, `no tick's world gives the reply ${p?.what}`);
  }

  #copyWorld(): World {
    return World.fromSnapshot(this.state.world.snapshot(), worldOptionsOf(this.#config));
  }

  /** True when `world` gives `reply` to `query`: the same total and users (as a set), same state. */
  #answers(world: World, query: Request, reply: Envelope): boolean {
    const total = query.op === "query_rect"
      ? world.queryRect(query.x1, query.y1, query.x2, query.y2, this.#out)
      : query.op === "query_circle"
      ? world.queryCircle(query.x, query.y, query.radius, this.#out)
      : -1;
    if ((reply.queryReply?.total ?? 0) !== total) return false;
    const users = reply.queryReply?.users ?? [];
    if (users.length !== Math.min(total, this.#out.length)) return false;
    const expected = new Set(this.#out.subarray(0, users.length));
    for (const u of users) {
      const id = u.id ?? 0;
      const record = world.getUser(id);
      if (!expected.has(id) || !record) return false;
      if ((u.x ?? 0) !== record.x || (u.y ?? 0) !== record.y) return false;
      if ((u.vx ?? 0) !== record.vx || (u.vy ?? 0) !== record.vy) return false;
      if ((u.money ?? 0) !== record.money) return false;
    }
    return true;
  }

  /**
   * Checks the node's `reply` to the message `frames` sent on connection `lane`, and the node's
   * checksums around its handling of it (and the message's format, when its transport said it);
   * then applies the message to the reference. Throws an
   * assertion error naming the message when anything differs.
   */
  check(
    frames: Uint8Array[],
    lane: number,
    reply: Envelope,
    node: Checksums & MessageKind,
  ): void {
    const seen = this.classifyFrames(frames, node);
    const what = `${describe(frames)} → ${JSON.stringify(reply)}`;
    assert.equal(reply.requestId ?? 0, seen.requestId, `request id not echoed: ${what}`);
    assert.equal(reply.clientId ?? "", seen.clientId, `client id not echoed: ${what}`);
    assert.equal(node.before, this.state.checksum(), `node and reference differed before ${what}`);
    if (seen.kind === "rejected") {
      this.counts.rejected++;
      assert.equal(reply.error?.code, seen.code, `wrong error code: ${what}`);
      assert.ok(reply.error?.message, `error without a message: ${what}`);
      assert.equal(node.after, node.before, `a rejected frame changed the world: ${what}`);
      return;
    }
    const refusal = this.#apply(seen.request, seen.clientId, lane, reply, what);
    if (refusal !== undefined) {
      this.counts.refused++;
      assert.equal(reply.error?.code, refusal, `wrong refusal: ${what}`);
      assert.equal(node.after, node.before, `a refused request changed the world: ${what}`);
    } else {
      assert.equal(reply.error, undefined, `unexpected error: ${what}`);
    }
    assert.equal(node.after, this.state.checksum(), `node and reference differ after ${what}`);
    if (node.after !== node.before) this.#changedAt.set(seen.clientId, this.#ticks);
  }

  /** {@linkcode classify} with this node's config. */
  classifyFrames(frames: Uint8Array[], kind: MessageKind = {}): Classification {
    return classify(frames, this.#config, this.#limits, kind);
  }

  /** Applies an accepted request; returns the error code the node must refuse it with, if any. */
  #apply(
    request: Request,
    clientId: string,
    lane: number,
    reply: Envelope,
    what: string,
  ): ErrorCode | undefined {
    let client = this.#clients.get(clientId);
    if (!client) this.#clients.set(clientId, client = { lane, userId: 0 });
    // A client id with a session belongs to its connection; one without follows whoever uses it.
    const own = client.lane === lane || client.userId === 0;
    if (own) client.lane = lane;
    const state = this.state;
    switch (request.op) {
      case "ping":
        this.counts.reads++;
        assert.ok(reply.pong, `no pong: ${what}`);
        return;
      case "status":
        this.counts.reads++;
        assert.ok(reply.statusReply, `no status: ${what}`);
        if (request.withChecksum) {
          assert.equal(reply.statusReply.checksum ?? 0, state.checksum(), `checksum: ${what}`);
        }
        return;
      case "query_rect":
      case "query_circle": {
        this.counts.reads++;
        if (this.#view !== undefined) {
          // From the last tick's world, unless this client changed the world since.
          const from = this.#changedAt.get(clientId) === this.#ticks
            ? this.#ticks + 1
            : this.#ticks;
          if (from > this.#ticks || !this.#answers(this.#view, request, reply)) {
            this.#pending.push({ query: request, reply, what, from });
          }
          return;
        }
        const total = request.op === "query_rect"
          ? state.world.queryRect(request.x1, request.y1, request.x2, request.y2, this.#out)
          : state.world.queryCircle(request.x, request.y, request.radius, this.#out);
        assert.equal(reply.queryReply?.total ?? 0, total, `query total: ${what}`);
        const ids = (reply.queryReply?.users ?? []).map((u) => u.id);
        assert.deepEqual(ids, [...this.#out.subarray(0, Math.min(total, this.#out.length))]);
        return;
      }
      case "discover":
        return "UNKNOWN_OPERATION";
      case "login":
        return this.#login(request, client, own, lane, reply, what);
    }
    if (!own || client.userId === 0) return "NOT_LOGGED_IN";
    const userId = client.userId;
    if (!state.world.has(userId)) {
      // Logged out through another client that resumed the same user.
      client.userId = 0;
      return "SESSION_INVALID";
    }
    this.counts.writes++;
    switch (request.op) {
      case "logout":
        state.logout(userId);
        client.userId = 0;
        assert.equal(reply.logoutReply?.userId, userId, `logout: ${what}`);
        return;
      case "set_velocity": {
        state.setVelocity(userId, request.vx, request.vy);
        const user = reply.setVelocityReply?.user;
        assert.ok(user?.id === userId && (user.vx ?? 0) === request.vx, `velocity: ${what}`);
        assert.ok((user.vy ?? 0) === request.vy, `velocity: ${what}`);
        return;
      }
      case "aoe": {
        const total = state.aoe(userId, request.radius, request.amount, this.#out);
        assert.equal(reply.aoeReply?.total ?? 0, total, `aoe total: ${what}`);
        const ids = [...this.#out.subarray(0, Math.min(total, this.#out.length))];
        assert.deepEqual(reply.aoeReply?.userIds ?? [], ids, `aoe users: ${what}`);
        return;
      }
    }
  }

  #login(
    request: Extract<Request, { op: "login" }>,
    client: { lane: number; userId: number },
    own: boolean,
    lane: number,
    reply: Envelope,
    what: string,
  ): ErrorCode | undefined {
    // Logged in here, or a new login under an id logged in on another connection.
    if (own ? client.userId !== 0 : request.userId === 0) return "ALREADY_LOGGED_IN";
    const login = reply.loginReply;
    if (request.userId !== 0) {
      const resumed = this.state.resume(request.userId, request.sessionToken);
      if (!resumed.ok) return "SESSION_INVALID";
      assert.ok(login?.userId === request.userId && login.resumed === true, `resume: ${what}`);
      this.counts.writes++;
      this.counts.resumes++;
      // Only a resume with the session token moves a client id to another connection.
      client.lane = lane;
      client.userId = request.userId;
      return;
    }
    // A new user: where it spawns and its token are the node's random choice; take them as given.
    assert.ok(login?.user && login.sessionToken, `login: ${what}`);
    const result = this.state.login(login.user.x ?? 0, login.user.y ?? 0, login.sessionToken);
    assert.ok(result.ok && login.userId === result.userId, `login id: ${what}`);
    assert.ok(!login.resumed, `a new login marked resumed: ${what}`);
    this.counts.writes++;
    client.userId = result.userId;
    this.known.push({ userId: result.userId, token: login.sessionToken });
    return;
  }
}

/** A short description of a message for assertion messages. */
function describe(frames: Uint8Array[]): string {
  const text = (f: Uint8Array) => {
    const head = f.subarray(0, 120);
    return f[0] === 0x7b ? new TextDecoder().decode(head) : `0x${toHex(head)}`;
  };
  return `${frames.length} frame(s) [${frames.map((f) => `${f.length} B ${text(f)}`).join(", ")}]`;
}

function toHex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
