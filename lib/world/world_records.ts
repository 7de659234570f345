/**
 * The walk over a World's records behind `World.forEachUser()`.
 *
 * @module
 */
import type { WorldRecords } from "./_world_internals.ts";
import type { World } from "./world.ts";

/** What forEachUser() calls for each user. */
export type UserVisitor = Parameters<World["forEachUser"]>[0];

/** Calls `fn` for every user of `records` in pool order (repeatable). */
export function forEachRecord(records: WorldRecords, fn: UserVisitor): void {
  const { ids, pos, vel, money } = records;
  const end = records.poolLength;
  for (let p = 0; p < end; p++) {
    const id = ids[p];
    if (id !== 0) fn(id, pos[2 * p], pos[2 * p + 1], vel[2 * p], vel[2 * p + 1], money[p]);
  }
}
