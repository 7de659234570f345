/**
 * A coarse density grid of the users, behind `World.density()`: one pass over the pool, no
 * allocation. For dashboards (a heat map), not for the tick.
 *
 * @module
 */
import type { WorldRecords } from "./_world_internals.ts";
import { InvalidArgumentError } from "./errors.ts";

/**
 * Counts the users of `records` in a `cols` × `rows` grid over the world into `out` (row-major,
 * row 0 at y = 0; zeroed first) and returns the total. Throws InvalidArgumentError unless `cols`
 * and `rows` are positive integers and `out` holds `cols * rows` counts.
 */
export function worldDensity(
  records: WorldRecords,
  grid: { cols: number; rows: number },
  out: Uint32Array,
): number {
  const { cols, rows } = grid;
  if (!Number.isInteger(cols) || !Number.isInteger(rows) || cols < 1 || rows < 1) {
    throw new InvalidArgumentError(`density() needs positive integer cols and rows`);
  }
  if (out.length < cols * rows) {
    throw new InvalidArgumentError(`density() needs room for ${cols * rows} counts`);
  }
  out.fill(0, 0, cols * rows);
  const sx = cols / records.world.width;
  const sy = rows / records.world.height;
  const lastCol = cols - 1;
  const lastRow = rows - 1;
  const { ids, pos } = records;
  let total = 0;
  for (let p = 0; p < records.poolLength; p++) {
    if (ids[p] === 0) continue;
    // A user on the far edge (x = width) belongs to the last column.
    const c = Math.min(lastCol, Math.floor(pos[2 * p] * sx));
    const r = Math.min(lastRow, Math.floor(pos[2 * p + 1] * sy));
    out[r * cols + c]++;
    total++;
  }
  return total;
}
