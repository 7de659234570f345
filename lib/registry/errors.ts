/** Sentinel options that cannot be used; the message names the option and the problem. */
export class SentinelOptionsError extends Error {
  /** Creates an options error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SentinelOptionsError";
  }
}
