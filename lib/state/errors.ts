/** State data that cannot be applied: truncated or corrupt bytes, or ops that do not fit the state. */
export class StateError extends Error {
  /** Creates a state error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StateError";
  }
}
