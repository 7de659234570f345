/**
 * The world engine: users with a position, a velocity and money in a rectangle of metres, a
 * uniform grid for range queries and area effects, and a fixed-step mover. Pure (no I/O, clock or
 * randomness) and deterministic: replicas that make the same calls in the same order reach
 * bit-identical state, which `checksum()` confirms and `snapshot()` / `World.fromSnapshot()` carry.
 * The checksum is order-independent, so a world restored from a snapshot (whose internal layout
 * differs) still agrees with its master; query and aoe results are sets in an unspecified order.
 *
 * ```ts
 * import { World } from "./mod.ts";
 *
 * const world = new World({ width: 1000, height: 1000, maxUsers: 10_000, maxSpeed: 10 });
 * const id = world.allocateUserId();
 * world.addUser(id, 100, 100);
 * world.setVelocity(id, 5, 0);
 * world.step(0.02); // one 20 ms tick
 * const out = new Uint32Array(64);
 * const total = world.queryCircle(100, 100, 50, out); // ids in out[0..min(total, 64))
 * const copy = World.fromSnapshot(world.snapshot(), world);
 * console.assert(copy.checksum() === world.checksum() && total === 1);
 * ```
 *
 * @module
 */
export { MAX_USER_ID, World } from "./world.ts";
export {
  MAX_VIEW_READERS,
  WorldViewReader,
  WorldViews,
  type WorldViewsShared,
} from "./world_view.ts";
export { SnapshotSpace, WorldSnapshotWriter } from "./world_snapshot.ts";
export { DEFAULT_CELL_SIZE, MAX_WORLD_USERS, type WorldOptions } from "./world_options.ts";
export type { UserRecord, WorldStats } from "./types.ts";
export {
  InvalidArgumentError,
  InvariantError,
  OutOfBoundsError,
  SnapshotError,
  UserExistsError,
  WorldError,
  WorldFullError,
} from "./errors.ts";
