/**
 * The records a node's thread and its reader workers exchange through shared rings: a read request
 * (a query with the ids its reply carries) and a reply (the encoded frame with the query's total
 * and the view version that answered it).
 *
 * @module
 */
import type { ErrorCode, RequestLimits, WireFormat } from "../protocol/mod.ts";
import type { WorldViewsShared } from "../world/mod.ts";
import type { SharedRing, SharedRingMemory } from "./shared_ring.ts";

/** A circle query (a, b: centre; c: radius). */
export const READ_CIRCLE = 1;
/** A rectangle query (a, b, c, d: two corners). */
export const READ_RECT = 2;
/** A circle query answered with its total only (benchmarks of the engine alone). */
export const READ_RAW = 3;

/**
 * Many circle queries in one record (c: radius, d: count; the centres follow as x, y float64
 * pairs), answered by one reply whose frame is each query's total (uint32): a tick's queries handed
 * over at once, for the engine benchmark, where one query costs less than one handoff.
 */
export const READ_BATCH = 4;

/**
 * A query as its client sent it: the binary envelope follows the header (where a client id goes
 * otherwise), and the reader decodes and validates it — the node's thread has only peeked at its
 * ids (`peekEnvelope`) to admit it.
 */
export const READ_FRAME = 5;

/** Bytes before a reply's frame: ticket, total, view version and the error (u32 each). */
export const REPLY_HEADER_BYTES = 16;

/**
 * The errors a reader can answer a `READ_FRAME` with, by the number in its reply's header (0: no
 * error, i + 1: `REPLY_ERRORS[i]`): a malformed envelope and an invalid field.
 */
export const REPLY_ERRORS: readonly ErrorCode[] = ["BAD_FRAME", "INVALID_ARGUMENT", "INTERNAL"];
/** Bytes of a request before its client id (or a batch's centres). */
export const REQUEST_HEADER_BYTES = 56;

/** What a reader worker is started with (its one message). */
export interface ReaderSetup {
  views: WorldViewsShared;
  reader: number;
  input: SharedRingMemory;
  output: SharedRingMemory;
  maxResults: number;
  /** The limits `parseRequest` checks a `READ_FRAME`'s fields against. */
  limits: RequestLimits;
}

/** One read request, decoded (reused by the reader for every request). */
export interface ReadRequest {
  ticket: number;
  kind: number;
  format: WireFormat;
  requestId: number;
  /** The reply must come from this view version or a newer one (the client's last write). */
  minVersion: number;
  a: number;
  b: number;
  c: number;
  d: number;
  clientId: string;
  /** A `READ_FRAME`'s envelope (then `clientId` is not sent: the frame holds it). */
  frame?: Uint8Array;
  /** Worker side: where the client id's UTF-8 bytes are in the ring record, and how many. */
  idAt?: number;
  idLength?: number;
}

/** A request with every field zero, for a caller to fill in place and reuse. */
export function emptyReadRequest(): ReadRequest {
  return {
    ticket: 0,
    kind: 0,
    format: "binary",
    requestId: 0,
    minVersion: 0,
    a: 0,
    b: 0,
    c: 0,
    d: 0,
    clientId: "",
  };
}

/** Puts a request into `ring`; false when the ring is full (or the client id too long for it). */
export function writeRequest(ring: SharedRing, r: ReadRequest): boolean {
  if (r.kind === READ_FRAME) return writeFrameRequest(ring, r, r.frame!);
  const id = r.clientId;
  let ascii = id.length <= 1024;
  for (let i = 0; ascii && i < id.length; i++) ascii = id.charCodeAt(i) < 0x80;
  const idBytes = ascii ? undefined : new TextEncoder().encode(id);
  const idLength = idBytes ? idBytes.length : id.length;
  if (REQUEST_HEADER_BYTES + idLength > ring.maxPayload) return false;
  const at = ring.reserve(REQUEST_HEADER_BYTES + idLength);
  if (at < 0) return false;
  const v = ring.view;
  v.setUint32(at, r.ticket, true);
  v.setUint8(at + 4, r.kind);
  v.setUint8(at + 5, r.format === "json" ? 1 : 0);
  v.setUint32(at + 8, r.requestId, true);
  v.setUint32(at + 12, r.minVersion, true);
  v.setFloat64(at + 16, r.a, true);
  v.setFloat64(at + 24, r.b, true);
  v.setFloat64(at + 32, r.c, true);
  v.setFloat64(at + 40, r.d, true);
  v.setUint32(at + 48, idLength, true);
  const bytes = ring.bytes;
  const start = at + REQUEST_HEADER_BYTES;
  if (idBytes) bytes.set(idBytes, start);
  else for (let i = 0; i < idLength; i++) bytes[start + i] = id.charCodeAt(i);
  ring.commit();
  return true;
}

/** Puts a `READ_FRAME` request into `ring`, the envelope's bytes after the header. */
function writeFrameRequest(ring: SharedRing, r: ReadRequest, frame: Uint8Array): boolean {
  if (REQUEST_HEADER_BYTES + frame.length > ring.maxPayload) return false;
  const at = ring.reserve(REQUEST_HEADER_BYTES + frame.length);
  if (at < 0) return false;
  const v = ring.view;
  v.setUint32(at, r.ticket, true);
  v.setUint8(at + 4, READ_FRAME);
  v.setUint8(at + 5, 0);
  v.setUint32(at + 8, r.requestId, true);
  v.setUint32(at + 12, r.minVersion, true);
  v.setUint32(at + 48, frame.length, true);
  ring.bytes.set(frame, at + REQUEST_HEADER_BYTES);
  ring.commit();
  return true;
}

/**
 * Puts `count` circle queries of `radius` centred at (xy[2i], xy[2i + 1]) into `ring` as one batch
 * record; false when the ring has no room for it now.
 */
export function writeBatch(
  ring: SharedRing,
  ticket: number,
  batch: { radius: number; xy: Float64Array; count: number },
): boolean {
  const at = ring.reserve(REQUEST_HEADER_BYTES + 16 * batch.count);
  if (at < 0) return false;
  const v = ring.view;
  v.setUint32(at, ticket, true);
  v.setUint8(at + 4, READ_BATCH);
  v.setUint32(at + 12, 0, true);
  v.setFloat64(at + 32, batch.radius, true);
  v.setFloat64(at + 40, batch.count, true);
  v.setUint32(at + 48, 0, true);
  new Float64Array(ring.memory.data, at + REQUEST_HEADER_BYTES, 2 * batch.count).set(
    batch.xy.subarray(0, 2 * batch.count),
  );
  ring.commit();
  return true;
}

/** Reads the request at payload offset `at` of `ring` into `r`. */
export function readRequest(ring: SharedRing, at: number, r: ReadRequest): void {
  const v = ring.view;
  r.ticket = v.getUint32(at, true);
  r.kind = v.getUint8(at + 4);
  r.format = v.getUint8(at + 5) === 1 ? "json" : "binary";
  r.requestId = v.getUint32(at + 8, true);
  r.minVersion = v.getUint32(at + 12, true);
  r.a = v.getFloat64(at + 16, true);
  r.b = v.getFloat64(at + 24, true);
  r.c = v.getFloat64(at + 32, true);
  r.d = v.getFloat64(at + 40, true);
  r.idAt = at + REQUEST_HEADER_BYTES;
  r.idLength = v.getUint32(at + 48, true);
  // The client id stays bytes: a binary reply copies them (see readClientId for a string).
  r.clientId = "";
}

/** The client id of the request `readRequest()` read last from `ring`, as a string. */
export function readClientId(ring: SharedRing, r: ReadRequest): string {
  const start = r.idAt ?? 0;
  const end = start + (r.idLength ?? 0);
  const bytes = ring.bytes;
  let ascii = true;
  for (let i = start; i < end && ascii; i++) ascii = bytes[i] < 0x80;
  if (!ascii) return new TextDecoder().decode(bytes.slice(start, end)); // no shared memory there
  let id = "";
  for (let i = start; i < end; i++) id += String.fromCharCode(bytes[i]);
  return id;
}
