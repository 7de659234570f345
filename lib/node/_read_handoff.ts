/**
 * A node's side of handing queries to its reader workers: which reader answers a client's reads,
 * the reads in flight and where each answer goes, and the look at a binary frame
 * (`peekEnvelope`) that lets a query go to its reader undecoded.
 *
 * @module
 */
import {
  type EnvelopePeek,
  type ErrorCode,
  peekEnvelope,
  QUERY_CIRCLE_FIELD,
  QUERY_RECT_FIELD,
  type WireFormat,
} from "../protocol/mod.ts";
import type { ClientEntry } from "./client_table.ts";
import { emptyReadRequest, type ReadRequest, type ReadWorkers } from "./read_workers.ts";

/** Largest query frame handed to a reader as it is (a larger one is decoded on the node's thread). */
const MAX_HANDED_FRAME = 4096;

/** Who a read is for: the client's entry (its reader, its last write) and the ids its reply carries. */
export interface ReadOrigin {
  readonly entry: ClientEntry;
  readonly format: WireFormat;
  readonly clientId: string;
  readonly requestId: number;
}

/** Gets each read's answer (`error`: the frame is an error reply) with what it was handed for. */
export type ReadAnswerFn<T> = (
  origin: T,
  total: number,
  frame: Uint8Array,
  error: ErrorCode | undefined,
) => void;

/** Hands queries to reader workers and each answer back to where its query came from. */
export class ReadHandoff<T extends ReadOrigin> {
  /** The readers (their views are what the node's state publishes into). */
  readonly readers: ReadWorkers;
  /** Reads in flight, by ticket. */
  readonly #reads = new Map<number, T>();
  #nextTicket = 1;
  #nextLane = 0;
  /** Reused for every read (the readers copy it). */
  readonly #read: ReadRequest = emptyReadRequest();
  /** Reused for every frame peeked at. */
  readonly #peek: EnvelopePeek = { clientId: "", requestId: 0, field: 0 };

  /** Takes over `readers`' replies: each goes to `answer` with its origin. */
  constructor(readers: ReadWorkers, answer: ReadAnswerFn<T>) {
    this.readers = readers;
    readers.onReply = (ticket, total, _version, frame, error) => {
      const origin = this.#reads.get(ticket);
      if (origin === undefined) return;
      this.#reads.delete(ticket);
      answer(origin, total, frame, error);
    };
  }

  /**
   * The client id, request id and op of a binary frame that plainly holds a query (see
   * `peekEnvelope`): such a frame goes to a reader undecoded. Undefined for anything else.
   * The result is reused by the next call.
   */
  peekQuery(frame: Uint8Array): EnvelopePeek | undefined {
    const p = this.#peek;
    if (frame.length > MAX_HANDED_FRAME || !peekEnvelope(frame, p)) return undefined;
    return p.field === QUERY_CIRCLE_FIELD || p.field === QUERY_RECT_FIELD ? p : undefined;
  }

  /**
   * Hands a query to the client's reader (always the same one, so its replies keep their order),
   * to be answered from the first view that holds the client's last write: a decoded query (`kind`
   * with its numbers) or, as `READ_FRAME`, its `frame`.
   */
  submit(
    origin: T,
    kind: number,
    numbers: { a: number; b: number; c: number; d: number },
    frame?: Uint8Array,
  ): void {
    const readers = this.readers;
    const entry = origin.entry;
    if (entry.readLane < 0) entry.readLane = this.#nextLane++ % readers.count;
    const ticket = this.#nextTicket++;
    this.#reads.set(ticket, origin);
    const read = this.#read;
    read.ticket = ticket;
    read.kind = kind;
    read.format = origin.format;
    read.clientId = origin.clientId;
    read.requestId = origin.requestId;
    read.minVersion = entry.readAfter;
    read.a = numbers.a;
    read.b = numbers.b;
    read.c = numbers.c;
    read.d = numbers.d;
    read.frame = frame;
    readers.submit(entry.readLane, read);
  }
}
