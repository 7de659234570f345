/**
 * The World's snapshot format behind `World.snapshot()` and `World.fromSnapshot()`: compact
 * little-endian bytes, a 36-byte header (magic "GSW1", version, flags, width, height, nextUserId,
 * count), 44 bytes per user in pool order (id u32; x, y, vx, vy, money f64) and a CRC-32 of
 * everything before it.
 *
 * @module
 */
import { crc32 } from "../checksum/mod.ts";
import type { WorldRecords, WorldRestorer } from "./_world_internals.ts";
import { InvalidArgumentError, SnapshotError, UserExistsError } from "./errors.ts";

const SNAPSHOT_MAGIC = 0x31575347; // "GSW1" little-endian
const SNAPSHOT_VERSION = 1;
const SNAPSHOT_HEADER = 36;
const SNAPSHOT_RECORD = 44;
const SNAPSHOT_TRAILER = 4;

/** The snapshot bytes of a World's records. */
export function encodeSnapshot(records: WorldRecords): Uint8Array {
  const writer = new WorldSnapshotWriter(records);
  writer.step();
  return writer.bytes;
}

/**
 * Encodes a World's records into snapshot bytes a slice at a time (`step()`), so a large world can
 * be written out across several ticks. It reads `records` as they are at each step: hand it a copy
 * (`World.snapshotWriter()` does) when the world changes meanwhile.
 */
export class WorldSnapshotWriter {
  readonly #records: WorldRecords;
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  /** Next pool position to encode. */
  #p = 0;
  /** Next output offset. */
  #o = SNAPSHOT_HEADER;
  /** CRC-32 of the bytes before #o. */
  #crc: number;
  #done = false;

  /** Starts a snapshot of `records` (writes its header). */
  constructor(records: WorldRecords) {
    this.#records = records;
    const n = records.size;
    this.#bytes = new Uint8Array(SNAPSHOT_HEADER + n * SNAPSHOT_RECORD + SNAPSHOT_TRAILER);
    const view = this.#view = new DataView(this.#bytes.buffer);
    view.setUint32(0, SNAPSHOT_MAGIC, true);
    view.setUint16(4, SNAPSHOT_VERSION, true);
    view.setUint16(6, 0, true);
    view.setFloat64(8, records.world.width, true);
    view.setFloat64(16, records.world.height, true);
    view.setFloat64(24, records.nextUserId, true);
    view.setUint32(32, n, true);
    this.#crc = crc32(this.#bytes, 0, SNAPSHOT_HEADER);
  }

  /** True once every record is encoded and the checksum written. */
  get done(): boolean {
    return this.#done;
  }

  /** Pool positions left to encode (an upper bound on the work left). */
  get remaining(): number {
    return this.#records.poolLength - this.#p;
  }

  /** The snapshot bytes; throws until `done`. */
  get bytes(): Uint8Array {
    if (!this.#done) throw new Error("WorldSnapshotWriter: the snapshot is not finished");
    return this.#bytes;
  }

  /** Encodes up to `positions` more pool positions; returns `done`. */
  step(positions = Number.POSITIVE_INFINITY): boolean {
    if (this.#done) return true;
    const { ids, pos, vel, money } = this.#records;
    const view = this.#view;
    const end = Math.min(this.#records.poolLength, this.#p + positions);
    const start = this.#o;
    let o = start;
    for (let p = this.#p; p < end; p++) {
      const id = ids[p];
      if (id === 0) continue;
      view.setUint32(o, id, true);
      view.setFloat64(o + 4, pos[2 * p], true);
      view.setFloat64(o + 12, pos[2 * p + 1], true);
      view.setFloat64(o + 20, vel[2 * p], true);
      view.setFloat64(o + 28, vel[2 * p + 1], true);
      view.setFloat64(o + 36, money[p], true);
      o += SNAPSHOT_RECORD;
    }
    this.#p = end;
    this.#o = o;
    this.#crc = crc32(this.#bytes, start, o, this.#crc);
    if (end < this.#records.poolLength) return false;
    if (o !== this.#bytes.length - SNAPSHOT_TRAILER) {
      throw new Error(`WorldSnapshotWriter: ${this.#records.size} users but the pool held others`);
    }
    view.setUint32(o, this.#crc, true);
    this.#done = true;
    return true;
  }
}

/**
 * Reusable room for the copy of a World's records that `World.snapshotWriter()` takes. Fresh memory
 * costs a page fault per 4 KiB page on first touch (on this project's VMs ~60 ms for the 17 MB of
 * 250,000 users, against ~2 ms to copy into memory already touched), so the room is touched ahead
 * of a snapshot a slice at a time (`prepare()`) and reused by every later one. One writer at a time
 * may use it: it reads the copy until it is done.
 */
export class SnapshotSpace {
  #ids = new Uint32Array(0);
  #pos = new Float64Array(0);
  #vel = new Float64Array(0);
  #money = new Float64Array(0);
  /** Positions touched so far (ready to copy into). */
  #ready = 0;

  /** Pool positions a copy fits in now. */
  get capacity(): number {
    return this.#ready;
  }

  /**
   * Grows the room to hold `positions` records (a quarter more, for the pool's growth), touching at
   * most `step` positions of new memory per call; true once it is ready.
   */
  prepare(positions: number, step = Number.POSITIVE_INFINITY): boolean {
    if (this.#ready >= positions) return true;
    if (this.#ids.length < positions) {
      const length = Math.ceil(positions * 1.25);
      this.#ids = new Uint32Array(length);
      this.#pos = new Float64Array(2 * length);
      this.#vel = new Float64Array(2 * length);
      this.#money = new Float64Array(length);
      this.#ready = 0;
    }
    const end = Math.min(this.#ids.length, this.#ready + step);
    this.#ids.fill(0, this.#ready, end);
    this.#pos.fill(0, 2 * this.#ready, 2 * end);
    this.#vel.fill(0, 2 * this.#ready, 2 * end);
    this.#money.fill(0, this.#ready, end);
    this.#ready = end;
    return this.#ready >= positions;
  }

  /** Copies `records` into the room (which must hold them) and returns the copy's view. */
  copy(records: WorldRecords): WorldRecords {
    const n = records.poolLength;
    if (n > this.#ready) throw new Error(`SnapshotSpace holds ${this.#ready} positions, not ${n}`);
    this.#ids.set(records.ids.subarray(0, n));
    this.#pos.set(records.pos.subarray(0, 2 * n));
    this.#vel.set(records.vel.subarray(0, 2 * n));
    this.#money.set(records.money.subarray(0, n));
    return {
      world: records.world,
      size: records.size,
      nextUserId: records.nextUserId,
      poolLength: n,
      ids: this.#ids,
      pos: this.#pos,
      vel: this.#vel,
      money: this.#money,
    };
  }
}

/**
 * A writer of `records` as they are now: it copies them (44 bytes per pool position) into `space`
 * when that has room, else into fresh memory, so the world may change while the writer works.
 */
export function startSnapshotWriter(
  records: WorldRecords,
  space?: SnapshotSpace,
): WorldSnapshotWriter {
  const n = records.poolLength;
  if (space && space.capacity >= n) return new WorldSnapshotWriter(space.copy(records));
  return new WorldSnapshotWriter({
    world: records.world,
    size: records.size,
    nextUserId: records.nextUserId,
    poolLength: n,
    ids: records.ids.slice(0, n),
    pos: records.pos.slice(0, 2 * n),
    vel: records.vel.slice(0, 2 * n),
    money: records.money.slice(0, n),
  });
}

/**
 * Fills an empty World, through `target`, from snapshot bytes. Throws SnapshotError for truncated
 * or corrupt bytes, or a snapshot that does not fit the world (other dimensions, more users than
 * maxUsers, a speed above maxSpeed…); the caller then drops the partly filled world.
 */
export function decodeSnapshot(bytes: Uint8Array, target: WorldRestorer): void {
  const world = target.world;
  if (!(bytes instanceof Uint8Array)) throw new SnapshotError("Snapshot must be a Uint8Array");
  const minimum = SNAPSHOT_HEADER + SNAPSHOT_TRAILER;
  if (bytes.length < minimum) {
    throw new SnapshotError(`Snapshot is truncated: ${bytes.length} bytes, need ${minimum}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== SNAPSHOT_MAGIC) {
    throw new SnapshotError("Snapshot has a bad magic number");
  }
  const version = view.getUint16(4, true);
  if (version !== SNAPSHOT_VERSION) {
    throw new SnapshotError(`Snapshot version ${version} is not supported`);
  }
  const count = view.getUint32(32, true);
  const expected = SNAPSHOT_HEADER + count * SNAPSHOT_RECORD + SNAPSHOT_TRAILER;
  if (bytes.length !== expected) {
    throw new SnapshotError(
      `Snapshot of ${count} users must be ${expected} bytes, got ${bytes.length}`,
    );
  }
  const end = expected - SNAPSHOT_TRAILER;
  if (view.getUint32(end, true) !== crc32(bytes, 0, end)) {
    throw new SnapshotError("Snapshot checksum mismatch: the bytes are corrupt");
  }
  if (view.getUint16(6, true) !== 0) throw new SnapshotError("Snapshot has unknown flags");
  const width = view.getFloat64(8, true);
  const height = view.getFloat64(16, true);
  if (width !== world.width || height !== world.height) {
    throw new SnapshotError(
      `Snapshot is of a ${width} × ${height} world, options say ${world.width} × ${world.height}`,
    );
  }
  const nextUserId = view.getFloat64(24, true);
  if (!Number.isInteger(nextUserId) || nextUserId < 1 || nextUserId > target.maxUserId + 1) {
    throw new SnapshotError(`Snapshot has an invalid nextUserId ${nextUserId}`);
  }
  if (count > world.maxUsers) {
    throw new SnapshotError(
      `Snapshot holds ${count} users, more than maxUsers ${world.maxUsers}`,
    );
  }
  let o = SNAPSHOT_HEADER;
  for (let i = 0; i < count; i++, o += SNAPSHOT_RECORD) {
    const id = view.getUint32(o, true);
    const x = view.getFloat64(o + 4, true);
    const y = view.getFloat64(o + 12, true);
    const vx = view.getFloat64(o + 20, true);
    const vy = view.getFloat64(o + 28, true);
    const money = view.getFloat64(o + 36, true);
    try {
      target.checkId(id);
      if (id >= nextUserId) {
        throw new InvalidArgumentError(`id ${id} is not below nextUserId ${nextUserId}`);
      }
      target.checkPosition(x, y);
      target.checkVelocity(vx, vy);
      if (!Number.isFinite(money)) throw new InvalidArgumentError(`money ${money} is not finite`);
      if (world.has(id)) throw new UserExistsError(id);
    } catch (error) {
      throw new SnapshotError(
        `Snapshot user ${i} is invalid: ${(error as Error).message}`,
        { cause: error },
      );
    }
    target.insert(id, x, y, vx, vy, money);
  }
  target.setNextUserId(nextUserId);
}
