import type { ErrorCode } from "../protocol/mod.ts";

/** A request that failed: an error reply from the server, a timeout, or a lost connection. */
export class RequestError extends Error {
  /** The server's error code, or TIMEOUT / UNAVAILABLE for local failures. */
  readonly code: ErrorCode;

  /** Creates the error. */
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RequestError";
    this.code = code;
  }
}

/** The registry could not name a node (none answered, or it knows no live node). */
export class DiscoveryError extends Error {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DiscoveryError";
  }
}
