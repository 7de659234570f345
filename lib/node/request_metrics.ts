import type { ErrorCode } from "../protocol/mod.ts";
import { DelayHistogram } from "../metrics/mod.ts";

/**
 * The client transport a request came over, as the `transport` label of its metrics: `zmq` for the
 * ZeroMQ client port. Whoever hands frames to {@linkcode GameNode.handleFrame} names it.
 */
export type Transport = string;

/** The ZeroMQ client port's transport label. */
export const ZMQ_TRANSPORT: Transport = "zmq";

/**
 * The op label of a message answered before any op ran: a bad frame, an invalid request, or one
 * refused at the door (rate limit, client table full).
 */
export const UNPARSED_OP = "none";

/** What a node counts per transport. */
export interface TransportFigures {
  /** The label value. */
  readonly transport: Transport;
  /** Messages received. */
  requests: number;
  /** Bytes of the messages received and of the replies sent (counted by the transport's owner). */
  bytesReceived: number;
  bytesSent: number;
  /** Time from receipt to reply, by op (ms buckets). */
  readonly durations: Map<string, DelayHistogram>;
}

/**
 * Request figures of a node, kept as plain counts on the request path (a map lookup and a bucket
 * scan per reply, no allocation once an op has been seen) and read by `/metrics` when scraped.
 */
export class RequestMetrics {
  readonly #transports = new Map<Transport, TransportFigures>();
  readonly #errors = new Map<ErrorCode, number>();

  /** The figures of `transport` (created on first use). */
  of(transport: Transport): TransportFigures {
    let figures = this.#transports.get(transport);
    if (!figures) {
      figures = { transport, requests: 0, bytesReceived: 0, bytesSent: 0, durations: new Map() };
      this.#transports.set(transport, figures);
    }
    return figures;
  }

  /** Counts one reply to an `op` request that took `ms` from receipt. */
  answered(figures: TransportFigures, op: string, ms: number): void {
    let histogram = figures.durations.get(op);
    if (!histogram) {
      histogram = new DelayHistogram();
      figures.durations.set(op, histogram);
    }
    histogram.record(ms);
  }

  /** Counts one error reply. */
  error(code: ErrorCode): void {
    this.#errors.set(code, (this.#errors.get(code) ?? 0) + 1);
  }

  /** Every transport seen. */
  transports(): IterableIterator<TransportFigures> {
    return this.#transports.values();
  }

  /** Error replies by code since the start. */
  errors(): IterableIterator<[ErrorCode, number]> {
    return this.#errors.entries();
  }
}
