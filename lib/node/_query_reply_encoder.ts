/**
 * The binary (protobuf) reply envelope of a query, written straight into a buffer without building
 * message objects: a reader worker's replies then make no garbage (its collector pauses showed in
 * the tick's tail). The bytes are exactly `encodeEnvelope()`'s, which writes every field set,
 * zeros included, in field order — `_query_reply_encoder_test.ts` holds the two together.
 *
 * @module
 */

/** Users of a reply in a world view's arrays, by pool position. */
export interface ReplyUsers {
  ids: Uint32Array;
  pos: Float64Array;
  vel: Float64Array;
  money: Float64Array;
  /** Pool positions of the users listed, in `positions[0..count)`. */
  positions: Uint32Array;
  count: number;
  /** Users matched in all (≥ count). */
  total: number;
}

/** Bytes of a varint. */
function varintLength(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

function writeVarint(bytes: Uint8Array, at: number, v: number): number {
  while (v >= 0x80) {
    bytes[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  bytes[at++] = v;
  return at;
}

/** Bytes of one UserState message (its fields, without its own tag and length). */
function userLength(id: number): number {
  return 1 + varintLength(id) + 5 * 9;
}

/** Bytes of the QueryReply message. */
function queryReplyLength(users: ReplyUsers): number {
  let n = 2 + 1 + varintLength(users.total); // truncated, total
  for (let i = 0; i < users.count; i++) {
    const len = userLength(users.ids[users.positions[i]]);
    n += 1 + varintLength(len) + len;
  }
  return n;
}

/** Bytes `writeQueryReply()` writes for a client id of `idLength` bytes. */
export function queryReplySize(idLength: number, requestId: number, users: ReplyUsers): number {
  const body = queryReplyLength(users);
  return 1 + varintLength(idLength) + idLength + 1 + varintLength(requestId) + 2 +
    varintLength(body) + body;
}

/**
 * Writes the envelope { clientId (its UTF-8 bytes `id`), requestId, queryReply } at `at` of
 * `bytes`/`view` (room for `queryReplySize()` bytes); returns the offset after it.
 */
export function writeQueryReply(
  target: { bytes: Uint8Array; view: DataView; at: number },
  id: Uint8Array,
  requestId: number,
  users: ReplyUsers,
): number {
  const { bytes, view } = target;
  let at = target.at;
  bytes[at++] = 0x0a; // 1: client_id
  at = writeVarint(bytes, at, id.length);
  bytes.set(id, at);
  at += id.length;
  bytes[at++] = 0x10; // 2: request_id
  at = writeVarint(bytes, at, requestId);
  bytes[at++] = 0xda; // 43: query_reply (length-delimited), as a two-byte tag
  bytes[at++] = 0x02;
  at = writeVarint(bytes, at, queryReplyLength(users));
  const { ids, pos, vel, money, positions } = users;
  for (let i = 0; i < users.count; i++) {
    const p = positions[i];
    const userId = ids[p];
    bytes[at++] = 0x0a; // 1: users
    at = writeVarint(bytes, at, userLength(userId));
    bytes[at++] = 0x08; // 1: id
    at = writeVarint(bytes, at, userId);
    bytes[at++] = 0x11; // 2: x
    view.setFloat64(at, pos[2 * p], true);
    bytes[at + 8] = 0x19; // 3: y
    view.setFloat64(at + 9, pos[2 * p + 1], true);
    bytes[at + 17] = 0x21; // 4: vx
    view.setFloat64(at + 18, vel[2 * p], true);
    bytes[at + 26] = 0x29; // 5: vy
    view.setFloat64(at + 27, vel[2 * p + 1], true);
    bytes[at + 35] = 0x31; // 6: money
    view.setFloat64(at + 36, money[p], true);
    at += 44;
  }
  bytes[at++] = 0x10; // 2: truncated
  bytes[at++] = users.total > users.count ? 1 : 0;
  bytes[at++] = 0x18; // 3: total
  return writeVarint(bytes, at, users.total);
}

/**
 * The binary reply envelope of a query for `clientId` (`encodeEnvelope()`'s bytes) in a new array:
 * a node thread's own query replies, without message objects.
 */
export function encodeQueryReply(
  clientId: string,
  requestId: number,
  users: ReplyUsers,
): Uint8Array {
  let ascii = true;
  for (let i = 0; ascii && i < clientId.length; i++) ascii = clientId.charCodeAt(i) < 0x80;
  let id: Uint8Array;
  if (ascii) {
    id = new Uint8Array(clientId.length);
    for (let i = 0; i < clientId.length; i++) id[i] = clientId.charCodeAt(i);
  } else {
    id = new TextEncoder().encode(clientId);
  }
  const bytes = new Uint8Array(queryReplySize(id.length, requestId, users));
  writeQueryReply({ bytes, view: new DataView(bytes.buffer), at: 0 }, id, requestId, users);
  return bytes;
}
