/**
 * Random, mutated and hostile client frames for the fuzz test: valid envelopes of every request,
 * bit-flipped and truncated binary, JSON with weird field values, oversize and multi-frame messages.
 *
 * @module
 */
import { encodeEnvelope, type Envelope } from "../../lib/protocol/mod.ts";

/** One message to send: its frames and the connection (by index) it goes out on. */
export interface FuzzMessage {
  frames: Uint8Array[];
  /** Index of the connection to send on (a client id usually keeps its own; sometimes it moves). */
  lane: number;
}

/** A session credential seen in a login reply, so that some resumes are genuine. */
export interface KnownCredential {
  userId: number;
  token: string;
}

/** Options of {@linkcode fuzzFrames}. */
export interface FuzzFramesOptions {
  /** Connections to spread messages over. */
  lanes: number;
  /** Client ids that keep coming back (each mostly on its own lane). */
  clientIds: string[];
  /** Credentials learnt so far; the generator reads it at every call. */
  known: readonly KnownCredential[];
  /** A frame longer than the node's max_frame_bytes. */
  oversizeBytes: number;
}

const WEIRD_NUMBERS = [
  NaN,
  Infinity,
  -Infinity,
  1e308,
  -1e308,
  0,
  -0,
  1e-320,
  2 ** 53,
  -1,
  50.0000001,
];
const WEIRD_JSON = [
  "NaN",
  "Infinity",
  "-Infinity",
  "1e999",
  "abc",
  "",
  "0x10",
  null,
  true,
  [],
  {},
  1.5,
];

/** A generator of fuzz messages driven by `random` (seeded: the same seed, the same messages). */
export function fuzzFrames(
  random: () => number,
  options: FuzzFramesOptions,
): () => FuzzMessage {
  const { lanes, clientIds, known } = options;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
  const num = () => (random() < 0.5 ? pick(WEIRD_NUMBERS) : (random() - 0.5) * 2_000);
  const small = () => (random() < 0.2 ? pick(WEIRD_NUMBERS) : random() * 60);
  const laneOf = (clientId: string) => {
    const own = clientIds.indexOf(clientId);
    // One message in twenty moves its client to another connection (the session detaches).
    return own < 0 || random() < 0.05 ? Math.floor(random() * lanes) : own % lanes;
  };
  const valid = (): Envelope => {
    const clientId = random() < 0.9
      ? pick(clientIds)
      : pick(["", "not-a-uuid", crypto.randomUUID()]);
    const requestId = Math.floor(random() * 0xffffffff);
    switch (Math.floor(random() * 13)) {
      case 0:
      case 1: {
        if (random() < 0.6) return { clientId, requestId, login: {} };
        const credential = known.length > 0 && random() < 0.5 ? pick(known) : undefined;
        return {
          clientId,
          requestId,
          login: credential ? { userId: credential.userId, sessionToken: credential.token } : {
            userId: Math.floor(random() * 50),
            sessionToken: pick(["", "00", "g".repeat(32), "a".repeat(32)]),
          },
        };
      }
      case 2:
      case 3:
        return { clientId, requestId, setVelocity: { vx: small() - 30, vy: small() - 30 } };
      case 4:
        return { clientId, requestId, queryRect: { x1: num(), y1: num(), x2: num(), y2: num() } };
      case 5:
        return { clientId, requestId, queryCircle: { x: num(), y: num(), radius: small() * 20 } };
      case 6:
      case 7:
        return {
          clientId,
          requestId,
          aoe: { radius: small(), amount: Math.floor((random() - 0.5) * 4e6) },
        };
      case 8:
        return { clientId, requestId, logout: {} };
      case 9:
        return { clientId, requestId, pong: { nodeId: "x" } };
      case 10:
        return { clientId, requestId, status: { withChecksum: random() < 0.5 } };
      case 11:
        return { clientId, requestId, discover: {} };
      default:
        return { clientId, requestId, ping: { clientTimeMs: num() } };
    }
  };
  const message = (frames: Uint8Array[], clientId = ""): FuzzMessage => ({
    frames,
    lane: laneOf(clientId),
  });
  return (): FuzzMessage => {
    const kind = random();
    if (kind < 0.08) {
      return message([crypto.getRandomValues(new Uint8Array(Math.floor(random() * 200)))]);
    }
    if (kind < 0.28) {
      const envelope = valid();
      const copy = new Uint8Array(encodeEnvelope(envelope));
      const flips = 1 + Math.floor(random() * 4);
      for (let i = 0; i < flips && copy.length; i++) {
        copy[Math.floor(random() * copy.length)] = random() * 256;
      }
      const cut = random() < 0.2 ? copy.subarray(0, Math.floor(random() * copy.length)) : copy;
      return message([cut], envelope.clientId ?? "");
    }
    if (kind < 0.48) {
      const env = valid() as Record<string, unknown>;
      const json: Record<string, unknown> = { client_id: env.clientId, request_id: env.requestId };
      const op = Object.keys(env).find((k) => k !== "clientId" && k !== "requestId")!;
      const body = { ...(env[op] as Record<string, unknown>) };
      for (const k of Object.keys(body)) if (random() < 0.3) body[k] = pick(WEIRD_JSON);
      if (random() < 0.1) body.extra = 1;
      json[op.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase())] = random() < 0.05 ? "oops" : body;
      let text = JSON.stringify(json);
      if (random() < 0.1) text = text.slice(0, Math.floor(random() * text.length));
      return message([new TextEncoder().encode(text)], String(env.clientId));
    }
    if (kind < 0.5) return message([new Uint8Array(options.oversizeBytes).fill(0x7b)]);
    if (kind < 0.52) return message([encodeEnvelope(valid()), new Uint8Array([1])]);
    const envelope = valid();
    return message([encodeEnvelope(envelope)], envelope.clientId ?? "");
  };
}
