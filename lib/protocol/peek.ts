/**
 * A look at a binary envelope without decoding it: its client id, request id and which request it
 * carries — what a node's thread needs to admit a query it hands, frame and all, to a reader
 * worker, which decodes and validates the rest. No objects are built but the client id string.
 *
 * @module
 */

/** Envelope field number of `query_rect`. */
export const QUERY_RECT_FIELD = 13;
/** Envelope field number of `query_circle`. */
export const QUERY_CIRCLE_FIELD = 14;

/** What {@linkcode peekEnvelope} found (reused by the caller: filled in place). */
export interface EnvelopePeek {
  clientId: string;
  requestId: number;
  /** The field number of the envelope's `msg` (e.g. {@linkcode QUERY_CIRCLE_FIELD}); 0 if none. */
  field: number;
}

/** The field numbers of the envelope's `msg` oneof (see `proto/gameserver.proto`). */
function isMsgField(f: number): boolean {
  return (f >= 10 && f <= 18) || (f >= 40 && f <= 48) || f === 60;
}

/**
 * Reads `frame`'s client id, request id and `msg` field number into `out`. True only when the
 * frame is plainly well formed where it looks — every field's tag and length in bounds, the client
 * id a canonical UUID in ASCII, the request id a varint of at most 5 bytes, at most one kind of
 * `msg` — and then agrees with `decodeEnvelope` + `parseRequest` on all three. False means
 * "decode it the usual way", which also gives the error; nested messages are not looked into.
 */
export function peekEnvelope(frame: Uint8Array, out: EnvelopePeek): boolean {
  const n = frame.length;
  let i = 0;
  let idStart = -1;
  let idEnd = -1;
  let requestId = 0;
  let field = 0;
  while (i < n) {
    const tag = readUint32(frame, i);
    if (tag < 0) return false;
    i = varintEnd;
    const f = tag >>> 3;
    const wire = tag & 7;
    if (f === 0) return false;
    if (wire === 0) {
      if (f === 1 || isMsgField(f)) return false;
      if (f === 2) {
        // The request id's varint must end within 5 bytes (protobufjs skips past longer ones).
        requestId = readUint32(frame, i);
        if (requestId < 0) return false;
        i = varintEnd;
      } else {
        // Another field's varint, skipped: at most 10 bytes.
        let k = 0;
        for (; k < 10 && i < n && frame[i] >= 0x80; k++) i++;
        if (k === 10 || i >= n) return false;
        i++;
      }
    } else if (wire === 2) {
      const length = readUint32(frame, i);
      if (length < 0) return false;
      i = varintEnd;
      if (length > n - i) return false;
      if (f === 1) {
        idStart = i;
        idEnd = i + length;
      } else if (isMsgField(f)) {
        if (field !== 0 && field !== f) return false;
        field = f;
      } else if (f === 2) return false;
      i += length;
    } else if (wire === 1 || wire === 5) {
      if (f === 1 || f === 2 || isMsgField(f)) return false;
      i += wire === 1 ? 8 : 4;
      if (i > n) return false;
    } else {
      return false; // groups and invalid wire types: the decoder decides
    }
  }
  if (!isUuidAt(frame, idStart, idEnd)) return false;
  let id = "";
  for (let k = idStart; k < idEnd; k++) id += String.fromCharCode(frame[k]);
  out.clientId = id;
  out.requestId = requestId;
  out.field = field;
  return true;
}

/** Where the varint {@linkcode readUint32} read last ended. */
let varintEnd = 0;

/**
 * The varint at `at` of `bytes` as protobufjs reads a tag or a length (at most 5 bytes, the low 32
 * bits), its end in `varintEnd`; -1 when it runs past the end or longer.
 */
function readUint32(bytes: Uint8Array, at: number): number {
  let value = 0;
  for (let shift = 0; shift <= 28; shift += 7) {
    if (at >= bytes.length) return -1;
    const b = bytes[at++];
    value = (value | ((b & 0x7f) << shift)) >>> 0;
    if (b < 0x80) {
      varintEnd = at;
      return value;
    }
  }
  return -1;
}

/** True when `bytes[start, end)` is a UUID in its 8-4-4-4-12 hex form (either case), as `isUuid`. */
function isUuidAt(bytes: Uint8Array, start: number, end: number): boolean {
  if (start < 0 || end - start !== 36) return false;
  for (let k = 0; k < 36; k++) {
    const b = bytes[start + k];
    if (k === 8 || k === 13 || k === 18 || k === 23) {
      if (b !== 0x2d) return false;
    } else if (
      !((b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x66) || (b >= 0x41 && b <= 0x46))
    ) {
      return false;
    }
  }
  return true;
}
