import type { ErrorCode } from "./_gen/gameserver_proto.ts";

/** A message that cannot be accepted, with the stable code its error reply carries. */
export class ProtocolError extends Error {
  /** The stable error code sent to the peer. */
  readonly code: ErrorCode;

  /** Creates an error with a wire `code` and a human `message`. */
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProtocolError";
    this.code = code;
  }
}
