/** Thrown when a cluster node cannot register in time or is refused; the process exits with code 3. */
export class RegistrationError extends Error {
  /** The documented exit code of a node that could not join its cluster. */
  readonly exitCode = 3;

  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RegistrationError";
  }
}

/** The node's state file (its durable promise) cannot be read or written; the process exits with code 2. */
export class StateFileError extends Error {
  /** The documented exit code of a node whose state file needs an operator. */
  readonly exitCode = 2;

  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StateFileError";
  }
}
