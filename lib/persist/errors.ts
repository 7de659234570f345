/**
 * The node's data folder cannot be used (locked by another process, belongs to another node, cannot
 * be read or written at start); the process exits with code 2 so an operator decides.
 */
export class PersistError extends Error {
  /** The documented exit code of a node whose data folder needs an operator. */
  readonly exitCode = 2;

  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PersistError";
  }
}

/**
 * Writing or syncing the journal failed while the node ran (disk full, I/O error): nothing more can
 * be acknowledged truthfully, so the node stops with exit code 1.
 */
export class JournalError extends Error {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "JournalError";
  }
}
