/**
 * The argument checks of addUser() and setVelocity() that read only a World's public limits, also
 * applied to every record fromSnapshot() restores. Not re-exported from mod.ts.
 *
 * @module
 */
import { InvalidArgumentError, OutOfBoundsError } from "./errors.ts";

/** Relative slack on the speed assertion, so a caller that checks with Math.hypot never disagrees. */
const SPEED_SLACK = 1 + 1e-9;

/** The limits the checks read: a World's public fields. */
export interface WorldLimits {
  /** World width in metres. */
  readonly width: number;
  /** World height in metres. */
  readonly height: number;
  /** Largest accepted speed in m/s. */
  readonly maxSpeed: number;
}

/** Throws InvalidArgumentError or OutOfBoundsError unless (x, y) lies in the world. */
export function checkPosition(x: number, y: number, world: WorldLimits): void {
  if (!Number.isFinite(x) || !Number.isFinite(y)) {
    throw new InvalidArgumentError(`Position must be finite, got (${x}, ${y})`);
  }
  if (x < 0 || x > world.width || y < 0 || y > world.height) {
    throw new OutOfBoundsError(
      `Position (${x}, ${y}) is outside the world [0, ${world.width}] × [0, ${world.height}]`,
    );
  }
}

/** Throws InvalidArgumentError for a non-finite velocity or a speed above maxSpeed. */
export function checkVelocity(vx: number, vy: number, world: WorldLimits): void {
  if (!Number.isFinite(vx) || !Number.isFinite(vy)) {
    throw new InvalidArgumentError(`Velocity must be finite, got (${vx}, ${vy})`);
  }
  const maxSpeed = world.maxSpeed;
  if (vx * vx + vy * vy > maxSpeed * maxSpeed * SPEED_SLACK) {
    throw new InvalidArgumentError(
      `Speed ${Math.hypot(vx, vy)} m/s exceeds maxSpeed ${maxSpeed} m/s`,
    );
  }
}
