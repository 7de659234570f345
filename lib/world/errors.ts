/** Base class of every error the world throws; catch this to handle them all. */
export class WorldError extends Error {
  /** Creates a world error with a human `message` and an optional `cause`. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WorldError";
  }
}

/** An argument is not a valid number, id or size (NaN, negative radius, speed above maxSpeed…). */
export class InvalidArgumentError extends WorldError {
  /** Creates the error with a message naming the argument. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "InvalidArgumentError";
  }
}

/** A position lies outside the world rectangle [0, width] × [0, height]. */
export class OutOfBoundsError extends WorldError {
  /** Creates the error with a message giving the position and the bounds. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "OutOfBoundsError";
  }
}

/** `addUser()` was called with an id that is already in the world. */
export class UserExistsError extends WorldError {
  /** The id that is already taken. */
  readonly userId: number;

  /** Creates the error for `userId`. */
  constructor(userId: number, options?: ErrorOptions) {
    super(`User ${userId} already exists`, options);
    this.name = "UserExistsError";
    this.userId = userId;
  }
}

/** The world already holds `maxUsers` users, or the id space is exhausted. */
export class WorldFullError extends WorldError {
  /** Creates the error with a message giving the capacity. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WorldFullError";
  }
}

/** A snapshot is truncated, corrupt, or does not fit the world options it is restored with. */
export class SnapshotError extends WorldError {
  /** Creates the error with a message saying what is wrong with the bytes. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SnapshotError";
  }
}

/** `checkInvariants()` found internal structures that disagree (a bug, never an input error). */
export class InvariantError extends WorldError {
  /** Creates the error with a message naming the broken invariant. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "InvariantError";
  }
}
