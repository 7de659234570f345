import protobuf from "protobufjs";
import { DESCRIPTOR } from "./_gen/gameserver_proto.ts";
import type { ClusterMessage, Envelope, ReplicationUpdate } from "./_gen/gameserver_proto.ts";
import { ProtocolError } from "./errors.ts";

// 64-bit fields (epoch, seq) are decoded as plain numbers: our sequences stay far below 2^53.
protobuf.util.Long = undefined as unknown as typeof protobuf.util.Long;
protobuf.configure();

const root = protobuf.Root.fromJSON(DESCRIPTOR as unknown as protobuf.INamespace);
const EnvelopeType = root.lookupType("gameserver.Envelope");
const ClusterType = root.lookupType("gameserver.ClusterMessage");
const UpdateType = root.lookupType("gameserver.ReplicationUpdate");

/** How a client frame was encoded; a reply uses the format of its request. */
export type WireFormat = "binary" | "json";

/** Options for reply and message conversion to plain objects (proto3 JSON names). */
const TO_OBJECT: protobuf.IConversionOptions = {
  enums: String,
  longs: Number,
  bytes: String,
  defaults: false,
  oneofs: false,
  json: true,
};

/** Options that turn a decoded message into the plain shape of the generated interfaces. */
const DECODED: protobuf.IConversionOptions = {
  enums: String,
  longs: Number,
  defaults: false,
  oneofs: true,
};

const OPEN_BRACE = 0x7b;
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });
const utf8Encoder = new TextEncoder();

/** Tells binary from JSON frames: proto3 JSON is an object, so it starts with `{` (after spaces). */
export function detectFormat(frame: Uint8Array): WireFormat {
  for (let i = 0; i < frame.length && i < 16; i++) {
    const b = frame[i];
    if (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d) continue;
    return b === OPEN_BRACE ? "json" : "binary";
  }
  return "binary";
}

/**
 * Decodes a client-plane frame (protobuf binary or proto3 JSON) into an `Envelope`.
 * Throws {@linkcode ProtocolError} with `BAD_FRAME` when the bytes are not a valid envelope.
 * Field values are not range-checked here; see `parseRequest`.
 */
export function decodeEnvelope(
  frame: Uint8Array,
  format: WireFormat = detectFormat(frame),
): Envelope {
  if (format === "json") return EnvelopeType.toObject(decodeJson(EnvelopeType, frame), DECODED);
  try {
    return EnvelopeType.toObject(EnvelopeType.decode(plainBytes(frame)), DECODED);
  } catch (err) {
    throw new ProtocolError("BAD_FRAME", `Malformed protobuf envelope: ${errorText(err)}`, {
      cause: err,
    });
  }
}

/** Encodes an envelope in the given format. */
export function encodeEnvelope(envelope: Envelope, format: WireFormat = "binary"): Uint8Array {
  if (format === "json") {
    return utf8Encoder.encode(JSON.stringify(envelopeToJson(envelope)));
  }
  // fromObject turns enum names into numbers; the binary encoder takes numbers only. The replies
  // most sent (queries, writes) hold no enum: their plain objects are encoded as they are, without
  // the copy fromObject makes of every nested message.
  const message = hasNoEnum(envelope)
    ? envelope as protobuf.Message
    : EnvelopeType.fromObject(envelope as Record<string, unknown>);
  return EnvelopeType.encode(message).finish();
}

/** True for the replies whose messages hold no enum field (`proto/gameserver.proto`). */
function hasNoEnum(e: Envelope): boolean {
  return (e.queryReply != null || e.aoeReply != null || e.setVelocityReply != null ||
    e.loginReply != null || e.logoutReply != null) &&
    e.error == null && e.pong == null &&
    e.statusReply == null && e.notice == null;
}

/** The proto3 JSON object of an envelope (lowerCamelCase names, enums by name, defaults omitted). */
export function envelopeToJson(envelope: Envelope): Record<string, unknown> {
  const message = EnvelopeType.fromObject(envelope as Record<string, unknown>);
  return EnvelopeType.toObject(message, TO_OBJECT);
}

/** Decodes a cluster-plane frame; throws {@linkcode ProtocolError} `BAD_FRAME` when malformed. */
export function decodeCluster(frame: Uint8Array): ClusterMessage {
  try {
    return ClusterType.toObject(ClusterType.decode(plainBytes(frame)), DECODED);
  } catch (err) {
    throw new ProtocolError("BAD_FRAME", `Malformed cluster message: ${errorText(err)}`, {
      cause: err,
    });
  }
}

/** Encodes a cluster-plane message. */
export function encodeCluster(message: ClusterMessage): Uint8Array {
  return ClusterType.encode(ClusterType.fromObject(message as Record<string, unknown>)).finish();
}

/** Decodes a replication update; throws {@linkcode ProtocolError} `BAD_FRAME` when malformed. */
export function decodeUpdate(frame: Uint8Array): ReplicationUpdate {
  try {
    return UpdateType.toObject(UpdateType.decode(plainBytes(frame)), DECODED);
  } catch (err) {
    throw new ProtocolError("BAD_FRAME", `Malformed replication update: ${errorText(err)}`, {
      cause: err,
    });
  }
}

/** Encodes a replication update. */
export function encodeUpdate(update: ReplicationUpdate): Uint8Array {
  return UpdateType.encode(update as protobuf.Message).finish();
}

/**
 * A plain Uint8Array view of the same bytes (no copy). protobufjs reads Node Buffers (what ZeroMQ and
 * its own encoder return) with a reader whose strings silently stop at the end of a truncated frame;
 * its plain-array reader throws instead.
 */
function plainBytes(frame: Uint8Array): Uint8Array {
  return new Uint8Array(frame.buffer, frame.byteOffset, frame.byteLength);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function decodeJson(type: protobuf.Type, frame: Uint8Array): protobuf.Message {
  let value: unknown;
  try {
    value = JSON.parse(utf8Decoder.decode(frame));
  } catch (err) {
    throw new ProtocolError("BAD_FRAME", `Malformed JSON: ${errorText(err)}`, { cause: err });
  }
  const normalised = normaliseJson(type, value, "");
  try {
    return type.fromObject(normalised as Record<string, unknown>);
  } catch (err) {
    throw new ProtocolError("BAD_FRAME", `Invalid JSON envelope: ${errorText(err)}`, {
      cause: err,
    });
  }
}

const INT_RANGES: Record<string, [number, number]> = {
  int32: [-0x80000000, 0x7fffffff],
  sint32: [-0x80000000, 0x7fffffff],
  sfixed32: [-0x80000000, 0x7fffffff],
  uint32: [0, 0xffffffff],
  fixed32: [0, 0xffffffff],
  int64: [-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  sint64: [-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  sfixed64: [-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  uint64: [0, Number.MAX_SAFE_INTEGER],
  fixed64: [0, Number.MAX_SAFE_INTEGER],
};

/**
 * Checks a parsed JSON value against a message type the way a strict proto3 JSON parser does:
 * unknown fields, wrong types, fractional or out-of-range integers and two members of one oneof are
 * rejected. Accepts both lowerCamelCase and original snake_case names; returns an object keyed by the
 * names protobufjs expects.
 */
function normaliseJson(type: protobuf.Type, value: unknown, path: string): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new ProtocolError("BAD_FRAME", `${path || "envelope"} must be a JSON object`);
  }
  const out: Record<string, unknown> = {};
  const oneofSeen = new Map<string, string>();
  for (const [key, raw] of Object.entries(value as Record<string, unknown>)) {
    // Own properties only: "constructor" or "toString" must not find Object.prototype members.
    const name = Object.hasOwn(type.fields, key) ? key : snakeToCamel(key);
    const field = Object.hasOwn(type.fields, name) ? type.fields[name] : undefined;
    const where = path ? `${path}.${key}` : key;
    if (!field) throw new ProtocolError("BAD_FRAME", `Unknown field "${where}"`);
    if (raw === null) continue;
    if (Object.hasOwn(out, field.name)) {
      throw new ProtocolError("BAD_FRAME", `Field "${where}" is given more than once`);
    }
    if (field.partOf) {
      const other = oneofSeen.get(field.partOf.name);
      if (other) {
        throw new ProtocolError("BAD_FRAME", `Fields "${other}" and "${key}" cannot both be set`);
      }
      oneofSeen.set(field.partOf.name, key);
    }
    if (field.repeated) {
      if (!Array.isArray(raw)) throw new ProtocolError("BAD_FRAME", `${where} must be an array`);
      out[field.name] = raw.map((item, i) => normaliseScalar(field, item, `${where}[${i}]`));
    } else {
      out[field.name] = normaliseScalar(field, raw, where);
    }
  }
  return out;
}

function normaliseScalar(field: protobuf.Field, raw: unknown, where: string): unknown {
  field.resolve();
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) return normaliseJson(resolved, raw, where);
  if (resolved instanceof protobuf.Enum) {
    if (typeof raw === "string" && Object.hasOwn(resolved.values, raw)) return raw;
    if (typeof raw === "number" && Number.isInteger(raw)) return raw;
    throw new ProtocolError("BAD_FRAME", `${where} is not a valid ${resolved.name}`);
  }
  switch (field.type) {
    case "string":
      if (typeof raw !== "string") {
        throw new ProtocolError("BAD_FRAME", `${where} must be a string`);
      }
      return raw;
    case "bool":
      if (typeof raw !== "boolean") {
        throw new ProtocolError("BAD_FRAME", `${where} must be true or false`);
      }
      return raw;
    case "double":
    case "float": {
      // proto3 JSON allows numbers, numeric strings and "NaN"/"Infinity"; the request validator
      // rejects non-finite values with a clearer message.
      const n = typeof raw === "number" ? raw : typeof raw === "string" ? Number(raw) : NaN;
      if (typeof raw !== "number" && typeof raw !== "string") {
        throw new ProtocolError("BAD_FRAME", `${where} must be a number`);
      }
      // Number("") and Number(" ") are 0: a blank string is no number.
      if (typeof raw === "string" && (Number.isNaN(n) ? raw !== "NaN" : raw.trim() === "")) {
        throw new ProtocolError("BAD_FRAME", `${where} must be a number`);
      }
      return n;
    }
    case "bytes":
      if (typeof raw !== "string") {
        throw new ProtocolError("BAD_FRAME", `${where} must be a base64 string`);
      }
      return raw;
    default: {
      const range = INT_RANGES[field.type];
      if (!range) throw new ProtocolError("BAD_FRAME", `${where} has an unsupported type`);
      const n = typeof raw === "number"
        ? raw
        : typeof raw === "string" && /^-?\d+$/.test(raw)
        ? Number(raw)
        : NaN;
      if (!Number.isInteger(n) || n < range[0] || n > range[1]) {
        throw new ProtocolError(
          "BAD_FRAME",
          `${where} must be an integer in [${range[0]}, ${range[1]}]`,
        );
      }
      return n;
    }
  }
}

function snakeToCamel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}
