/**
 * A World's options: their shape, defaults and validation.
 *
 * @module
 */
import { InvalidArgumentError } from "./errors.ts";

/** Default grid cell edge in metres, measured best for 50 m queries (see bench/world_bench.ts). */
export const DEFAULT_CELL_SIZE = 50;
/** Largest `maxUsers` a world accepts (positions are int32). */
export const MAX_WORLD_USERS = 1 << 28;

/** How a World is shaped. */
export interface WorldOptions {
  /** World width in metres: x lies in [0, width]. */
  width: number;
  /** World height in metres: y lies in [0, height]. */
  height: number;
  /** Grid cell edge in metres; default DEFAULT_CELL_SIZE (suited to a 50 m query radius). */
  cellSize?: number;
  /** Most users the world holds; its arrays grow on demand up to what that needs. */
  maxUsers: number;
  /** Largest speed in m/s that setVelocity() accepts (callers validate; the world asserts). */
  maxSpeed: number;
  /** Money of a newly added user; default 0. */
  initialMoney?: number;
}

/** `options` with its defaults filled in; throws InvalidArgumentError for a bad option. */
export function resolveWorldOptions(options: WorldOptions): Required<WorldOptions> {
  const { width, height, maxUsers, maxSpeed } = options;
  const cellSize = options.cellSize ?? DEFAULT_CELL_SIZE;
  const initialMoney = options.initialMoney ?? 0;
  if (!(width > 0) || !Number.isFinite(width)) {
    throw new InvalidArgumentError(`width must be a positive finite number, got ${width}`);
  }
  if (!(height > 0) || !Number.isFinite(height)) {
    throw new InvalidArgumentError(`height must be a positive finite number, got ${height}`);
  }
  if (!Number.isInteger(maxUsers) || maxUsers < 1 || maxUsers > MAX_WORLD_USERS) {
    throw new InvalidArgumentError(
      `maxUsers must be an integer in [1, ${MAX_WORLD_USERS}], got ${maxUsers}`,
    );
  }
  if (!(maxSpeed >= 0) || !Number.isFinite(maxSpeed)) {
    throw new InvalidArgumentError(`maxSpeed must be a finite number >= 0, got ${maxSpeed}`);
  }
  if (!Number.isFinite(initialMoney)) {
    throw new InvalidArgumentError(`initialMoney must be finite, got ${initialMoney}`);
  }
  return { width, height, cellSize, maxUsers, maxSpeed, initialMoney };
}
