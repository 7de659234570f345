import { type SnapshotSpace, World, type WorldOptions, type WorldViews } from "../world/mod.ts";
import { decodeOps, type Op, OpLogWriter } from "./op_log.ts";
import { StateError } from "./errors.ts";
import { bytesToHex } from "./_hex.ts";
import {
  type Credential,
  CREDENTIAL_BYTES,
  CredentialsWriter,
  encodeCredentials,
} from "./credentials_writer.ts";
import { StateSnapshotWriter } from "./state_snapshot_writer.ts";

/** Result of a login or resume. */
export type LoginResult =
  | { ok: true; userId: number; token: string; resumed: boolean; generation: number }
  | { ok: false; reason: "world_full" | "session_invalid" };

const TOKEN_BYTES = 16;

/**
 * The replicated state of a node: the world plus each user's session credential. Every write goes
 * through here as an {@linkcode Op}: the master applies it and records it in the op log, then
 * {@linkcode GameState.step}s; a slave replays each of the master's updates with
 * {@linkcode GameState.applyUpdate} (the same ops, then the same step), so both run the same code in
 * the same order and stay bit-identical. Pure: ids, positions, tokens and time come from the caller.
 *
 * A `GameState` is a replication target as it is (`applyUpdate`, `restore`, `checksum`): the slave and
 * the replication bench drive it through the same path.
 */
export class GameState {
  /** The world engine. */
  world: World;
  readonly #options: WorldOptions;
  readonly #tickSeconds: number;
  readonly #credentials = new Map<number, Credential>();
  readonly #log = new OpLogWriter();
  /** The snapshot being encoded a slice at a time, told before each credential changes. */
  #writer: CredentialsWriter | undefined;
  /** Where each tick's world is published for reader threads, if anywhere. */
  #views: WorldViews | undefined;

  /** Creates an empty state whose world advances `tickSeconds` per step (default 0.02). */
  constructor(options: WorldOptions, tickSeconds = 0.02) {
    if (!(tickSeconds > 0) || !Number.isFinite(tickSeconds)) {
      throw new RangeError(`tickSeconds must be a positive number, got ${tickSeconds}`);
    }
    this.#options = options;
    this.#tickSeconds = tickSeconds;
    this.world = new World(options);
  }

  /** Advances the world by one tick (the master's step; a slave's comes with each update). */
  step(): void {
    this.world.step(this.#tickSeconds);
    // A view a reader still holds is skipped: the next tick publishes.
    if (this.#views !== undefined) this.world.publishTo(this.#views);
  }

  /**
   * Publishes the world into `views` now and after every step and restore from now on: reader
   * threads then answer queries against whole ticks (see `lib/node/read_workers.ts`).
   */
  attachViews(views: WorldViews): void {
    this.#views = views;
    this.world.publishTo(views);
  }

  /**
   * Applies one replication update: the master's ops for the tick, then its step. Throws
   * {@linkcode StateError} when the ops do not fit the state.
   */
  applyUpdate(ops: Uint8Array): void {
    this.applyOps(ops);
    this.step();
  }

  /** Ops applied since the last `drainOps()`. */
  get pendingOps(): number {
    return this.#log.count;
  }

  /** Logs in a new user at (x, y) with the given token (32 hex chars). */
  login(x: number, y: number, token: string): LoginResult {
    if (this.world.size >= this.#options.maxUsers) return { ok: false, reason: "world_full" };
    const userId = this.world.nextUserId;
    this.#apply({ type: "login", userId, x, y, token });
    return { ok: true, userId, token, resumed: false, generation: 0 };
  }

  /** Resumes `userId` when `token` matches its credential. */
  resume(userId: number, token: string): LoginResult {
    const credential = this.#credentials.get(userId);
    if (!credential || !this.world.has(userId) || !timingSafeEqual(credential.token, token)) {
      return { ok: false, reason: "session_invalid" };
    }
    this.#apply({ type: "resume", userId });
    return { ok: true, userId, token, resumed: true, generation: credential.generation };
  }

  /** The current resume generation of a user (undefined when unknown). */
  generation(userId: number): number | undefined {
    return this.#credentials.get(userId)?.generation;
  }

  /** Removes a user; false when unknown. */
  logout(userId: number): boolean {
    if (!this.world.has(userId)) return false;
    this.#apply({ type: "logout", userId });
    return true;
  }

  /** Removes a user whose client went away, unless it was resumed since (`generation` moved on). */
  expire(userId: number, generation: number): boolean {
    if (this.#credentials.get(userId)?.generation !== generation) return false;
    this.#apply({ type: "expire", userId, generation });
    return true;
  }

  /** Sets a user's velocity; false when unknown. */
  setVelocity(userId: number, vx: number, vy: number): boolean {
    if (!this.world.has(userId)) return false;
    this.#apply({ type: "set_velocity", userId, vx, vy });
    return true;
  }

  /** Applies an aoe from `userId`; returns users affected (ids in `out`), or -1 when unknown. */
  aoe(userId: number, radius: number, amount: number, out: Uint32Array): number {
    if (!this.world.has(userId)) return -1;
    // Apply first: an aoe the world rejects (throws) must not reach the replicas' log.
    const total = this.world.aoe(userId, radius, amount, out);
    this.#log.write({ type: "aoe", userId, radius, amount });
    return total;
  }

  /** The encoded ops applied since the last call (the body of one replication update). */
  drainOps(): Uint8Array {
    return this.#log.drain();
  }

  /** Replays a master's op log; throws {@linkcode StateError} when it does not fit the state. */
  applyOps(bytes: Uint8Array): number {
    const ops = decodeOps(bytes);
    for (const op of ops) this.#apply(op);
    // A replica records nothing: it never publishes.
    this.#log.drain();
    return ops.length;
  }

  /**
   * A checksum of the whole replicated state, or with `parts` > 1 of the users and sessions whose
   * user id % parts === part (see `World.checksum()`).
   */
  checksum(part = 0, parts = 1): number {
    // The world validates part and parts.
    let h = this.world.checksum(part, parts) >>> 0;
    // Credentials are summed (order-independent, like the world's checksum): id, generation and the
    // token's first 8 hex digits each go into a mixed word.
    let sum = 0;
    for (const [userId, c] of this.#credentials) {
      if (parts > 1 && userId % parts !== part) continue;
      let x = Math.imul(userId ^ 0x85ebca6b, 0xc2b2ae35) ^ c.generation;
      x = Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) ^ parseInt(c.token.slice(0, 8), 16);
      x = Math.imul(x ^ (x >>> 13), 0x297a2d39);
      sum = (sum + (x ^ (x >>> 16))) >>> 0;
    }
    h = Math.imul(h ^ this.#credentials.size, 0x9e3779b1) >>> 0;
    return (h ^ sum) >>> 0;
  }

  /** Binary snapshot of the credentials (the world has its own snapshot). */
  credentialsSnapshot(): Uint8Array {
    return encodeCredentials(this.#credentials);
  }

  /**
   * A snapshot of the whole state as it is now (world and credentials, the bytes `restore()`
   * reads), encoded a slice at a time by the writer's `step()` while this state goes on changing:
   * the call costs one copy of the world's records (into `space` when it has room, see
   * `World.snapshotWriter()`); nothing else is done until `step()`. One writer at a time: a new call
   * abandons the previous one, and `restore()` cancels it.
   */
  snapshotWriter(space?: SnapshotSpace): StateSnapshotWriter {
    this.#writer?.cancel();
    this.#writer = new CredentialsWriter(this.#credentials);
    return new StateSnapshotWriter(this.world.snapshotWriter(space), this.#writer);
  }

  /** Replaces the whole state with a snapshot; throws {@linkcode StateError} when corrupt. */
  restore(world: Uint8Array, credentials: Uint8Array): void {
    let next: World;
    try {
      next = World.fromSnapshot(world, this.#options);
    } catch (err) {
      throw new StateError(`Bad world snapshot: ${(err as Error).message}`, { cause: err });
    }
    const v = new DataView(credentials.buffer, credentials.byteOffset, credentials.byteLength);
    if (credentials.length < 4) throw new StateError("Credentials snapshot truncated");
    const count = v.getUint32(0, true);
    if (credentials.length !== 4 + count * CREDENTIAL_BYTES) {
      throw new StateError("Credentials snapshot has the wrong length");
    }
    const map = new Map<number, Credential>();
    for (let i = 0, p = 4; i < count; i++, p += CREDENTIAL_BYTES) {
      map.set(v.getUint32(p, true), {
        generation: v.getUint32(p + 4, true),
        token: bytesToHex(credentials, p + 8, p + 8 + TOKEN_BYTES),
        written: 0,
      });
    }
    this.#writer?.cancel();
    this.#writer = undefined;
    this.world = next;
    if (this.#views !== undefined) this.world.publishTo(this.#views);
    this.#credentials.clear();
    for (const [k, c] of map) this.#credentials.set(k, c);
    this.#log.drain();
  }

  #apply(op: Op): void {
    const world = this.world;
    const writer = this.#writer;
    if (writer !== undefined) {
      if (writer.done || writer.cancelled) this.#writer = undefined;
      else if (op.type !== "set_velocity" && op.type !== "aoe") {
        writer.preserve(op.userId, this.#credentials.get(op.userId));
      }
    }
    switch (op.type) {
      case "login": {
        if (world.nextUserId !== op.userId) {
          throw new StateError(
            `Login of user ${op.userId} but next id is ${world.nextUserId}`,
          );
        }
        // addUser() raises nextUserId past the id itself, and only once the user is in: a position
        // it rejects leaves the world (and its id sequence) as it was.
        world.addUser(op.userId, op.x, op.y);
        this.#credentials.set(op.userId, { token: op.token, generation: 0, written: 0 });
        break;
      }
      case "resume": {
        const c = this.#credentials.get(op.userId);
        if (!c) throw new StateError(`Resume of unknown user ${op.userId}`);
        c.generation = (c.generation + 1) >>> 0;
        break;
      }
      case "logout":
      case "expire":
        world.removeUser(op.userId);
        this.#credentials.delete(op.userId);
        break;
      case "set_velocity":
        world.setVelocity(op.userId, op.vx, op.vy);
        break;
      case "aoe":
        world.aoe(op.userId, op.radius, op.amount, SCRATCH);
        break;
    }
    this.#log.write(op);
  }
}

const SCRATCH = new Uint32Array(0);

/** A fresh random session token (32 hex chars). */
export function newToken(): string {
  return bytesToHex(crypto.getRandomValues(new Uint8Array(TOKEN_BYTES)));
}

function timingSafeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
