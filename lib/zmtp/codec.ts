/**
 * ZMTP 3.1 framing (https://rfc.zeromq.org/spec/37/) for the NULL security mechanism: the greeting,
 * the READY / PING / PONG commands, message frames, and an incremental parser that turns the bytes a
 * peer sent into those. Pure functions and one state machine: no sockets here.
 *
 * @module
 */

/** The length of a ZMTP 3 greeting. */
export const GREETING_SIZE = 64;

const FLAG_MORE = 0x01;
const FLAG_LONG = 0x02;
const FLAG_COMMAND = 0x04;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A peer broke the protocol: the connection must be closed. */
export class ZmtpProtocolError extends Error {
  override name = "ZmtpProtocolError";
}

/** Our greeting: ZMTP 3.1, mechanism NULL, as a client (`as-server` 0). */
export function greeting(): Uint8Array {
  const g = new Uint8Array(GREETING_SIZE);
  g[0] = 0xff;
  g[9] = 0x7f;
  g[10] = 3;
  g[11] = 1;
  g.set(encoder.encode("NULL"), 12);
  return g;
}

/**
 * Checks a peer's greeting: the ZMTP signature, version 3 or later and the NULL mechanism. Throws
 * {@linkcode ZmtpProtocolError} otherwise (e.g. a CURVE server, or something that is not ZeroMQ).
 */
export function checkGreeting(g: Uint8Array): { major: number; minor: number } {
  if (g.length < GREETING_SIZE || g[0] !== 0xff || g[9] !== 0x7f) {
    throw new ZmtpProtocolError("the peer does not speak ZMTP (bad greeting signature)");
  }
  const major = g[10];
  if (major < 3) throw new ZmtpProtocolError(`the peer speaks ZMTP ${major}, not 3`);
  let end = 12;
  while (end < 32 && g[end] !== 0) end++;
  const mechanism = decoder.decode(g.subarray(12, end));
  if (mechanism !== "NULL") {
    throw new ZmtpProtocolError(`the peer asks for the ${mechanism} mechanism, not NULL`);
  }
  return { major, minor: g[11] };
}

/** What a peer of `socketType` sends first with the NULL mechanism: our greeting, then READY. */
export function hello(socketType: "DEALER" | "ROUTER"): Uint8Array {
  return concat([greeting(), readyCommand({ "Socket-Type": socketType })]);
}

/** A command frame `name` with `data` after it. */
export function commandFrame(name: string, data: Uint8Array = new Uint8Array()): Uint8Array {
  const n = encoder.encode(name);
  const body = new Uint8Array(1 + n.length + data.length);
  body[0] = n.length;
  body.set(n, 1);
  body.set(data, 1 + n.length);
  return frame(body, FLAG_COMMAND);
}

/** The READY command with the given metadata properties (e.g. `Socket-Type`). */
export function readyCommand(properties: Record<string, string>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [name, value] of Object.entries(properties)) {
    const n = encoder.encode(name);
    const v = encoder.encode(value);
    const p = new Uint8Array(1 + n.length + 4 + v.length);
    p[0] = n.length;
    p.set(n, 1);
    new DataView(p.buffer).setUint32(1 + n.length, v.length);
    p.set(v, 5 + n.length);
    parts.push(p);
  }
  return commandFrame("READY", concat(parts));
}

/** One frame: flags, size (1 byte, or 8 beyond 255) and the body. */
export function frame(body: Uint8Array, flags = 0): Uint8Array {
  const long = body.length > 255;
  const head = long ? 9 : 2;
  const out = new Uint8Array(head + body.length);
  out[0] = flags | (long ? FLAG_LONG : 0);
  if (long) new DataView(out.buffer).setBigUint64(1, BigInt(body.length));
  else out[1] = body.length;
  out.set(body, head);
  return out;
}

/** A whole message: every frame but the last flagged MORE. */
export function messageFrames(frames: Uint8Array[]): Uint8Array {
  if (frames.length === 1) return frame(frames[0]);
  return concat(frames.map((f, i) => frame(f, i < frames.length - 1 ? FLAG_MORE : 0)));
}

/** What the parser found in the bytes. */
export type ZmtpEvent =
  | { type: "greeting"; major: number; minor: number }
  | { type: "command"; name: string; data: Uint8Array }
  | { type: "message"; frames: Uint8Array[] };

/**
 * An incremental parser of what a peer sends: its greeting, then command and message frames. Feed
 * it the bytes as they arrive; it calls `onEvent` for each whole greeting, command or message and
 * keeps partial ones. Frame bodies handed out are copies (the caller may reuse its read buffer).
 */
export class ZmtpParser {
  readonly #maxFrameSize: number;
  readonly #onEvent: (event: ZmtpEvent) => void;
  #greeted = false;
  /** Bytes kept from earlier chunks (an unfinished greeting or frame), and how many. */
  #parts: Uint8Array[] = [];
  #partsLength = 0;
  /** Bytes needed before parsing can go on (the kept ones included). */
  #need = 0;
  /**
   * Frames of the message being read: undefined between messages, so a parser held by a long-lived
   * connection points to no new object while it waits (thousands of such pointers made every
   * young-generation collection slower).
   */
  #frames: Uint8Array[] | undefined;

  /** `maxFrameSize`: a larger frame is a protocol error (before its body is read). */
  constructor(maxFrameSize: number, onEvent: (event: ZmtpEvent) => void) {
    this.#maxFrameSize = maxFrameSize;
    this.#onEvent = onEvent;
  }

  /** Parses `chunk` (with what was left of earlier ones). Throws {@linkcode ZmtpProtocolError}. */
  push(chunk: Uint8Array): void {
    let buf = chunk;
    if (this.#partsLength > 0) {
      // A large frame arriving in small reads is joined once, when all of it is here.
      this.#parts.push(chunk.slice());
      this.#partsLength += chunk.length;
      if (this.#partsLength < this.#need) return;
      buf = concat(this.#parts);
      this.#parts = [];
      this.#partsLength = 0;
    }
    let at = 0;
    if (!this.#greeted) {
      if (buf.length < GREETING_SIZE) return this.#keep(buf, 0, GREETING_SIZE);
      const version = checkGreeting(buf.subarray(0, GREETING_SIZE));
      this.#greeted = true;
      at = GREETING_SIZE;
      this.#onEvent({ type: "greeting", ...version });
    }
    while (at < buf.length) {
      if (buf.length - at < 2) return this.#keep(buf, at, 2);
      const flags = buf[at];
      if ((flags & 0xf8) !== 0) {
        throw new ZmtpProtocolError(`bad frame flags 0x${flags.toString(16)}`);
      }
      let size: number;
      let head: number;
      if (flags & FLAG_LONG) {
        if (buf.length - at < 9) return this.#keep(buf, at, 9);
        const view = new DataView(buf.buffer, buf.byteOffset + at + 1, 8);
        size = view.getUint32(0) * 2 ** 32 + view.getUint32(4);
        head = 9;
      } else {
        size = buf[at + 1];
        head = 2;
      }
      if (size > this.#maxFrameSize) {
        throw new ZmtpProtocolError(
          `a frame of ${size} bytes (most accepted: ${this.#maxFrameSize})`,
        );
      }
      if (buf.length - at - head < size) return this.#keep(buf, at, head + size);
      const body = buf.slice(at + head, at + head + size);
      at += head + size;
      if (flags & FLAG_COMMAND) {
        if (body.length < 1 || body.length < 1 + body[0]) {
          throw new ZmtpProtocolError("a command frame without its name");
        }
        const name = decoder.decode(body.subarray(1, 1 + body[0]));
        this.#onEvent({ type: "command", name, data: body.subarray(1 + body[0]) });
        continue;
      }
      if (!(flags & FLAG_MORE)) {
        const frames = this.#frames ?? [];
        this.#frames = undefined;
        frames.push(body);
        this.#onEvent({ type: "message", frames });
      } else (this.#frames ??= []).push(body);
    }
  }

  /** Keeps `buf` from `at` until `need` bytes of it are here. */
  #keep(buf: Uint8Array, at: number, need: number): void {
    const rest = buf.slice(at);
    this.#parts = [rest];
    this.#partsLength = rest.length;
    this.#need = need;
  }
}

/**
 * What a DEALER does with a command from its peer: `"ready"` for a READY from a ROUTER or DEALER,
 * the PONG to send for a PING, undefined for anything else. Throws {@linkcode ZmtpProtocolError}
 * for an ERROR (the peer refused the handshake) or a READY from a socket a DEALER cannot talk to.
 */
export function dealerCommand(name: string, data: Uint8Array): "ready" | Uint8Array | undefined {
  switch (name) {
    case "READY": {
      const type = readyProperties(data)["Socket-Type"];
      if (type !== "ROUTER" && type !== "DEALER") {
        throw new ZmtpProtocolError(`a DEALER cannot talk to a ${type ?? "nameless"} socket`);
      }
      return "ready";
    }
    case "ERROR":
      throw new ZmtpProtocolError("the peer refused the handshake");
    case "PING":
      return pongFor(data);
    default:
      return undefined; // PONG and commands a DEALER does not use
  }
}

/** The PONG answering a PING command's `data`: a TTL (2 bytes), then up to 16 bytes of context it echoes. */
export function pongFor(data: Uint8Array): Uint8Array {
  return commandFrame("PONG", data.subarray(2));
}

/** The metadata properties of a READY command's data. Throws on a malformed one. */
export function readyProperties(data: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  let at = 0;
  while (at < data.length) {
    const n = data[at];
    if (at + 1 + n + 4 > data.length) throw new ZmtpProtocolError("a malformed READY property");
    const name = decoder.decode(data.subarray(at + 1, at + 1 + n));
    const size = new DataView(data.buffer, data.byteOffset + at + 1 + n, 4).getUint32(0);
    const start = at + 1 + n + 4;
    if (start + size > data.length) throw new ZmtpProtocolError("a malformed READY property");
    out[name] = decoder.decode(data.subarray(start, start + size));
    at = start + size;
  }
  return out;
}

/** `parts` one after the other in one new array. */
export function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
