/**
 * A reader worker's loop: answers the circle and rectangle queries the node's thread puts into its
 * input ring against the latest published world view, and puts each encoded reply into its output
 * ring, waking the node's thread once per batch.
 *
 * @module
 */
import {
  decodeEnvelope,
  encodeEnvelope,
  parseRequest,
  ProtocolError,
  type RequestLimits,
  type UserState,
} from "../protocol/mod.ts";
import { WorldViewReader } from "../world/mod.ts";
import { RING_WAKE, SharedRing } from "./shared_ring.ts";
import { queryReplySize, type ReplyUsers, writeQueryReply } from "./_query_reply_encoder.ts";
import {
  emptyReadRequest,
  READ_BATCH,
  READ_CIRCLE,
  READ_FRAME,
  READ_RAW,
  READ_RECT,
  readClientId,
  type ReaderSetup,
  type ReadRequest,
  readRequest,
  REPLY_ERRORS,
  REPLY_HEADER_BYTES,
  REQUEST_HEADER_BYTES,
} from "./_read_records.ts";

/** Longest a reader sleeps before it looks at its rings again unwoken, ms. */
const IDLE_WAIT_MS = 1000;
/**
 * How long an idle reader polls its ring before it sleeps, ms: a request that comes meanwhile
 * costs the node's thread no futex wake-up (5 µs a query more without it: read_handoff_bench).
 */
const SPIN_MS = 0.05;
const EMPTY = new Uint8Array(0);

/** Runs one reader until its input ring is stopped; `signal` tells the node's thread to drain. */
export function runReader(setup: ReaderSetup, signal: () => void): void {
  const reader = new WorldViewReader(setup.views, setup.reader);
  const input = new SharedRing(setup.input);
  const output = new SharedRing(setup.output);
  const results = new Uint32Array(setup.maxResults);
  const users: ReplyUsers = {
    ids: reader.ids,
    pos: reader.pos,
    vel: reader.vel,
    money: reader.money,
    positions: results,
    count: 0,
    total: 0,
  };
  const request: ReadRequest = emptyReadRequest();
  const scratch = { frame: new Uint8Array(256), id: new Uint8Array(64) };
  let answered = 0;
  const wake = () => {
    // One message per batch of replies: the node's thread clears the flag before it drains.
    if (answered > 0 && Atomics.exchange(output.header, RING_WAKE, 1) === 0) signal();
    answered = 0;
  };
  while (!input.stopped) {
    const at = input.next();
    if (at < 0) {
      // Idle: the writer may reuse the slot, and the node's thread gets what is done.
      if (reader.version !== 0) reader.unpin();
      wake();
      input.waitForRecord(IDLE_WAIT_MS, SPIN_MS);
      continue;
    }
    readRequest(input, at, request);
    // The newest view for each request; a client whose write is not in it waits for the one that is.
    if (reader.version === 0 || reader.published > reader.version) {
      if (reader.version !== 0) reader.unpin();
      reader.pin();
    }
    while (reader.version < request.minVersion || reader.version === 0) {
      if (reader.version !== 0) reader.unpin();
      wake();
      reader.waitNewer(reader.published, 50);
      if (input.stopped) return;
      if (reader.published >= request.minVersion) reader.pin();
    }
    if (request.kind === READ_BATCH) {
      answerBatch(reader, { input, at, output }, { request, results });
      answered++;
      continue;
    }
    // A frame is decoded and validated here; a refusal is answered instead of the query.
    let id = input.bytes.subarray(request.idAt!, request.idAt! + request.idLength!);
    let refusal: Refusal | undefined;
    if (request.kind === READ_FRAME) {
      refusal = openFrame(input, request, setup.limits, scratch);
      id = scratch.id.subarray(0, request.clientId.length);
    }
    const total = refusal !== undefined
      ? 0
      : request.kind === READ_RECT
      ? reader.queryRect(request.a, request.b, request.c, request.d, results)
      : reader.queryCircle(request.a, request.b, request.c, results);
    // JSON (rare) through the codec; binary written straight into the reply ring, no garbage.
    let frame: Uint8Array | undefined;
    let size = 0;
    if (refusal !== undefined) frame = refusal.frame;
    else if (request.kind === READ_RAW) frame = EMPTY;
    else if (request.format === "json") {
      request.clientId = readClientId(input, request);
      frame = encodeReply(reader, request, results, total);
    } else {
      users.ids = reader.ids;
      users.pos = reader.pos;
      users.vel = reader.vel;
      users.money = reader.money;
      users.count = Math.min(total, results.length);
      users.total = total;
      size = queryReplySize(id.length, request.requestId, users);
    }
    if (frame) size = frame.length;
    let out = output.reserve(REPLY_HEADER_BYTES + size);
    while (out < 0) {
      wake();
      output.waitForRoom(50);
      if (input.stopped) return;
      out = output.reserve(REPLY_HEADER_BYTES + size);
    }
    output.view.setUint32(out, request.ticket, true);
    output.view.setUint32(out + 4, total, true);
    output.view.setUint32(out + 8, reader.version, true);
    output.view.setUint32(out + 12, refusal?.error ?? 0, true);
    if (frame) output.bytes.set(frame, out + REPLY_HEADER_BYTES);
    else {
      const target = { bytes: output.bytes, view: output.view, at: out + REPLY_HEADER_BYTES };
      writeQueryReply(target, id, request.requestId, users);
    }
    input.release();
    output.commit();
    answered++;
  }
}

/** Answers a READ_BATCH record: each query's total into one reply (the ring has room: see below). */
function answerBatch(
  reader: WorldViewReader,
  rings: { input: SharedRing; at: number; output: SharedRing },
  scratch: { request: ReadRequest; results: Uint32Array },
): void {
  const { input, at, output } = rings;
  const { request, results } = scratch;
  const count = request.d;
  // The centres are 8-byte aligned in the ring: records are.
  const xy = new Float64Array(input.memory.data, at + REQUEST_HEADER_BYTES, 2 * count);
  let out = output.reserve(REPLY_HEADER_BYTES + 4 * count);
  while (out < 0) {
    output.waitForRoom(50);
    if (input.stopped) return;
    out = output.reserve(REPLY_HEADER_BYTES + 4 * count);
  }
  let sum = 0;
  for (let i = 0; i < count; i++) {
    const total = reader.queryCircle(xy[2 * i], xy[2 * i + 1], request.c, results);
    output.view.setUint32(out + REPLY_HEADER_BYTES + 4 * i, total, true);
    sum += total;
  }
  input.release();
  output.view.setUint32(out, request.ticket, true);
  output.view.setUint32(out + 4, sum >>> 0, true);
  output.view.setUint32(out + 8, reader.version, true);
  output.view.setUint32(out + 12, 0, true);
  output.commit();
}

/** A `READ_FRAME` refused: its error reply, and its code's number (see `REPLY_ERRORS`). */
interface Refusal {
  frame: Uint8Array;
  error: number;
}

/**
 * Decodes and validates the envelope of the `READ_FRAME` `request` (read from `input`) as the node's
 * thread would have (`decodeEnvelope`, `parseRequest`), and makes `request` the query it carries,
 * its client id's bytes in `scratch.id`; a refusal with the same error reply otherwise.
 */
function openFrame(
  input: SharedRing,
  request: ReadRequest,
  limits: RequestLimits,
  scratch: { frame: Uint8Array; id: Uint8Array },
): Refusal | undefined {
  const length = request.idLength!;
  // Out of shared memory first: the decoder's strings cannot come from a SharedArrayBuffer.
  if (scratch.frame.length < length) scratch.frame = new Uint8Array(2 * length);
  const bytes = scratch.frame.subarray(0, length);
  bytes.set(input.bytes.subarray(request.idAt!, request.idAt! + length));
  let clientId = "";
  let requestId = 0;
  try {
    const envelope = decodeEnvelope(bytes, "binary");
    clientId = typeof envelope.clientId === "string" ? envelope.clientId : "";
    requestId = envelope.requestId ?? 0;
    const query = parseRequest(envelope, limits);
    if (query.op === "query_circle") {
      request.kind = READ_CIRCLE;
      request.a = query.x;
      request.b = query.y;
      request.c = query.radius;
    } else if (query.op === "query_rect") {
      request.kind = READ_RECT;
      request.a = query.x1;
      request.b = query.y1;
      request.c = query.x2;
      request.d = query.y2;
    } else {
      throw new ProtocolError("INTERNAL", `A reader was handed a ${query.op}`);
    }
  } catch (err) {
    const e = err instanceof ProtocolError ? err : new ProtocolError("INTERNAL", String(err));
    const frame = encodeEnvelope({
      clientId,
      requestId,
      error: { code: e.code, message: e.message },
    });
    request.clientId = clientId;
    return { frame, error: REPLY_ERRORS.indexOf(e.code) + 1 || REPLY_ERRORS.length };
  }
  // A UUID (parseRequest checked it): ASCII, one byte per character.
  request.clientId = clientId;
  request.requestId = requestId;
  for (let i = 0; i < clientId.length; i++) scratch.id[i] = clientId.charCodeAt(i);
  return undefined;
}

/** The reply envelope of a query: what GameNode builds from the live world, from the view. */
function encodeReply(
  reader: WorldViewReader,
  request: ReadRequest,
  results: Uint32Array,
  total: number,
): Uint8Array {
  const n = Math.min(total, results.length);
  const users: UserState[] = new Array(n);
  const { ids, pos, vel, money } = reader;
  for (let i = 0; i < n; i++) {
    const p = results[i];
    users[i] = {
      id: ids[p],
      x: pos[2 * p],
      y: pos[2 * p + 1],
      vx: vel[2 * p],
      vy: vel[2 * p + 1],
      money: money[p],
    };
  }
  return encodeEnvelope({
    clientId: request.clientId,
    requestId: request.requestId,
    queryReply: { users, truncated: total > n, total },
  }, request.format);
}
