import { StateError } from "./errors.ts";
import { bytesToHex, hexInto } from "./_hex.ts";

/** One write, as the master applied it; slaves replay the same ops in the same order. */
export type Op =
  | { type: "login"; userId: number; x: number; y: number; token: string }
  | { type: "resume"; userId: number }
  | { type: "logout"; userId: number }
  | { type: "expire"; userId: number; generation: number }
  | { type: "set_velocity"; userId: number; vx: number; vy: number }
  | { type: "aoe"; userId: number; radius: number; amount: number };

const LOGIN = 1;
const RESUME = 2;
const LOGOUT = 3;
const EXPIRE = 4;
const SET_VELOCITY = 5;
const AOE = 6;
const TOKEN_BYTES = 16;

/**
 * Appends ops to a growing binary buffer (little-endian, one type byte then fixed fields) and hands the
 * bytes out once per tick. Reuses its buffer, so a tick with few writes allocates almost nothing.
 */
export class OpLogWriter {
  #buffer = new Uint8Array(4096);
  #view = new DataView(this.#buffer.buffer);
  #length = 0;
  #count = 0;

  /** Ops written since the last `drain()`. */
  get count(): number {
    return this.#count;
  }

  /** Bytes written since the last `drain()`. */
  get byteLength(): number {
    return this.#length;
  }

  /** Appends one op. */
  write(op: Op): void {
    this.#reserve(1 + 4 + 16 + TOKEN_BYTES);
    const v = this.#view;
    let p = this.#length;
    switch (op.type) {
      case "login":
        v.setUint8(p, LOGIN);
        v.setUint32(p + 1, op.userId, true);
        v.setFloat64(p + 5, op.x, true);
        v.setFloat64(p + 13, op.y, true);
        p += 21;
        hexInto(op.token, this.#buffer, p);
        p += TOKEN_BYTES;
        break;
      case "resume":
      case "logout":
        v.setUint8(p, op.type === "resume" ? RESUME : LOGOUT);
        v.setUint32(p + 1, op.userId, true);
        p += 5;
        break;
      case "expire":
        v.setUint8(p, EXPIRE);
        v.setUint32(p + 1, op.userId, true);
        v.setUint32(p + 5, op.generation, true);
        p += 9;
        break;
      case "set_velocity":
        v.setUint8(p, SET_VELOCITY);
        v.setUint32(p + 1, op.userId, true);
        v.setFloat64(p + 5, op.vx, true);
        v.setFloat64(p + 13, op.vy, true);
        p += 21;
        break;
      case "aoe":
        v.setUint8(p, AOE);
        v.setUint32(p + 1, op.userId, true);
        v.setFloat64(p + 5, op.radius, true);
        v.setInt32(p + 13, op.amount, true);
        p += 17;
        break;
    }
    this.#length = p;
    this.#count++;
  }

  /** Returns a copy of the bytes written since the last drain and starts afresh. */
  drain(): Uint8Array {
    const out = this.#buffer.slice(0, this.#length);
    this.#length = 0;
    this.#count = 0;
    return out;
  }

  #reserve(extra: number): void {
    if (this.#length + extra <= this.#buffer.length) return;
    const next = new Uint8Array(Math.max(this.#buffer.length * 2, this.#length + extra));
    next.set(this.#buffer.subarray(0, this.#length));
    this.#buffer = next;
    this.#view = new DataView(next.buffer);
  }
}

/** Decodes an op log written by {@linkcode OpLogWriter}; throws {@linkcode StateError} when corrupt. */
export function decodeOps(bytes: Uint8Array): Op[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ops: Op[] = [];
  let p = 0;
  const need = (n: number) => {
    if (p + n > bytes.length) {
      throw new StateError(`Op log truncated at byte ${p} (${bytes.length} bytes)`);
    }
  };
  while (p < bytes.length) {
    const type = v.getUint8(p);
    switch (type) {
      case LOGIN: {
        need(21 + TOKEN_BYTES);
        const token = bytesToHex(bytes, p + 21, p + 21 + TOKEN_BYTES);
        ops.push({
          type: "login",
          userId: v.getUint32(p + 1, true),
          x: v.getFloat64(p + 5, true),
          y: v.getFloat64(p + 13, true),
          token,
        });
        p += 21 + TOKEN_BYTES;
        break;
      }
      case RESUME:
      case LOGOUT:
        need(5);
        ops.push({ type: type === RESUME ? "resume" : "logout", userId: v.getUint32(p + 1, true) });
        p += 5;
        break;
      case EXPIRE:
        need(9);
        ops.push({
          type: "expire",
          userId: v.getUint32(p + 1, true),
          generation: v.getUint32(p + 5, true),
        });
        p += 9;
        break;
      case SET_VELOCITY:
        need(21);
        ops.push({
          type: "set_velocity",
          userId: v.getUint32(p + 1, true),
          vx: v.getFloat64(p + 5, true),
          vy: v.getFloat64(p + 13, true),
        });
        p += 21;
        break;
      case AOE:
        need(17);
        ops.push({
          type: "aoe",
          userId: v.getUint32(p + 1, true),
          radius: v.getFloat64(p + 5, true),
          amount: v.getInt32(p + 13, true),
        });
        p += 17;
        break;
      default:
        throw new StateError(`Unknown op type ${type} at byte ${p}`);
    }
  }
  return ops;
}
