/**
 * Errors thrown by the transport. Expected outcomes of sending (a full queue, an unknown peer)
 * are not errors: `send()` returns `false` and the drop is counted.
 *
 * @module
 */

/** Base class of every error thrown by `lib/transport/`. */
export class TransportError extends Error {
  /** Creates the error; `cause` is the underlying zeromq error, if any. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TransportError";
  }
}

/** Binding a socket to an endpoint failed (address in use, bad endpoint, …). */
export class BindError extends TransportError {
  /** The endpoint that could not be bound. */
  readonly endpoint: string;

  /** Creates the error for `endpoint`. */
  constructor(endpoint: string, options?: ErrorOptions) {
    super(`Cannot bind ${endpoint}: ${causeText(options)}`, options);
    this.name = "BindError";
    this.endpoint = endpoint;
  }
}

/** Connecting a socket to an endpoint failed (malformed endpoint, unsupported transport, …). */
export class ConnectError extends TransportError {
  /** The endpoint that could not be connected. */
  readonly endpoint: string;

  /** Creates the error for `endpoint`. */
  constructor(endpoint: string, options?: ErrorOptions) {
    super(`Cannot connect to ${endpoint}: ${causeText(options)}`, options);
    this.name = "ConnectError";
    this.endpoint = endpoint;
  }
}

/** CURVE is not available in this zeromq build, or a key is malformed. */
export class CurveError extends TransportError {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CurveError";
  }
}

/** A socket or pump option is out of range. */
export class InvalidOptionError extends TransportError {
  /** Creates the error naming the option. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "InvalidOptionError";
  }
}

/** The pump was disposed; it cannot own new sockets. */
export class PumpClosedError extends TransportError {
  /** Creates the error. */
  constructor() {
    super("The transport pump is closed");
    this.name = "PumpClosedError";
  }
}

/** A message handler threw; reported to `onError`, the pump keeps running. */
export class HandlerError extends TransportError {
  /** Kind of socket whose handler threw (`router`, `dealer`, `subscriber`). */
  readonly socketKind: string;

  /** Creates the error wrapping what the handler threw. */
  constructor(socketKind: string, options?: ErrorOptions) {
    super(`The ${socketKind} message handler threw: ${causeText(options)}`, options);
    this.name = "HandlerError";
    this.socketKind = socketKind;
  }
}

/** Receiving from a readable socket failed unexpectedly; reported to `onError`. */
export class ReceiveError extends TransportError {
  /** Creates the error. */
  constructor(socketKind: string, options?: ErrorOptions) {
    super(`Receiving on a ${socketKind} socket failed: ${causeText(options)}`, options);
    this.name = "ReceiveError";
  }
}

function causeText(options?: ErrorOptions): string {
  const cause = options?.cause;
  return cause instanceof Error ? cause.message : String(cause ?? "unknown cause");
}
