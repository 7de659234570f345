/**
 * The sizes behind `World.stats()`, for metrics and the benchmark.
 *
 * @module
 */
import type { WorldLayout } from "./_world_internals.ts";
import type { WorldStats } from "./types.ts";

/** Sizes of the structures of `layout` (allocates a small object; not for the hot path). */
export function worldStats(layout: WorldLayout): WorldStats {
  const grid = layout.grid;
  const bytes = layout.ids.byteLength + layout.pos.byteLength + layout.vel.byteLength +
    layout.money.byteLength +
    layout.pendingBucket.byteLength + layout.movingPos.byteLength + layout.moving.byteLength +
    layout.pending.byteLength + layout.blocks.byteLength +
    layout.blockClass.byteLength + layout.alloc.byteLength + layout.index.byteLength;
  let inBlocks = 0;
  for (let b = 0; b < grid.bucketCount; b++) {
    if (layout.blocks[2 * b] >= 0) inBlocks += 2 ** layout.blockClass[b];
  }
  return {
    users: layout.size,
    moving: layout.movingCount,
    poolLength: layout.ids.length,
    poolInBlocks: inBlocks,
    poolGrowths: layout.poolGrowths,
    cellSize: grid.cellSize,
    cols: grid.cols,
    rows: grid.rows,
    buckets: grid.bucketCount,
    hashed: grid.hashed,
    bytes,
  };
}
