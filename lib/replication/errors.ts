/** Replication data that cannot be applied: truncated or corrupt bytes, or ops that do not fit the state. */
export class ReplicationError extends Error {
  /** Creates a replication error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ReplicationError";
  }
}
