import type { Envelope } from "./_gen/gameserver_proto.ts";
import { ProtocolError } from "./errors.ts";

/** A client request after validation: every number finite and in range. */
export type Request =
  | { op: "login"; userId: number; sessionToken: string }
  | { op: "logout" }
  | { op: "set_velocity"; vx: number; vy: number }
  | { op: "query_rect"; x1: number; y1: number; x2: number; y2: number }
  | { op: "query_circle"; x: number; y: number; radius: number }
  | { op: "aoe"; radius: number; amount: number }
  | { op: "ping"; clientTimeMs: number }
  | { op: "status"; withChecksum: boolean }
  | { op: "discover"; wantMaster: boolean };

/** The operations that change the world and so go through the master. */
export const WRITE_OPS: ReadonlySet<Request["op"]> = new Set([
  "login",
  "logout",
  "set_velocity",
  "aoe",
]);

/** Limits a node applies to request fields (from its config). */
export interface RequestLimits {
  /** Largest accepted velocity magnitude, m/s. */
  maxSpeed: number;
  /** Largest aoe radius, m. */
  maxAoeRadius: number;
  /** Largest query circle radius, m. */
  maxQueryRadius: number;
  /** Largest absolute aoe amount. */
  maxAoeAmount: number;
  /** Largest absolute coordinate accepted in a query. */
  maxCoordinate: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TOKEN = /^[0-9a-f]{32}$/;

/** True when `id` is a UUID in its canonical 8-4-4-4-12 hex form. */
export function isUuid(id: string): boolean {
  return UUID.test(id);
}

/**
 * Validates a decoded envelope and returns the request it carries.
 * Throws {@linkcode ProtocolError} with a stable code when a field is missing or out of range.
 */
export function parseRequest(envelope: Envelope, limits: RequestLimits): Request {
  const clientId = envelope.clientId ?? "";
  if (!isUuid(clientId)) {
    throw new ProtocolError("INVALID_ARGUMENT", "client_id must be a UUID");
  }
  switch (envelope.msg) {
    case "login": {
      const userId = envelope.login?.userId ?? 0;
      const sessionToken = envelope.login?.sessionToken ?? "";
      if ((userId === 0) !== (sessionToken === "")) {
        throw new ProtocolError(
          "INVALID_ARGUMENT",
          "login.user_id and login.session_token go together: give both to resume, neither for a new user",
        );
      }
      if (sessionToken !== "" && !TOKEN.test(sessionToken)) {
        throw new ProtocolError("SESSION_INVALID", "login.session_token is not a valid token");
      }
      return { op: "login", userId, sessionToken };
    }
    case "logout":
      return { op: "logout" };
    case "setVelocity": {
      const vx = finite(envelope.setVelocity?.vx, "set_velocity.vx");
      const vy = finite(envelope.setVelocity?.vy, "set_velocity.vy");
      const speed = Math.hypot(vx, vy);
      if (speed > limits.maxSpeed) {
        throw new ProtocolError(
          "INVALID_ARGUMENT",
          `set_velocity speed ${round(speed)} m/s exceeds max_speed ${limits.maxSpeed} m/s`,
        );
      }
      return { op: "set_velocity", vx, vy };
    }
    case "queryRect": {
      const q = envelope.queryRect;
      return {
        op: "query_rect",
        x1: coordinate(q?.x1, "query_rect.x1", limits),
        y1: coordinate(q?.y1, "query_rect.y1", limits),
        x2: coordinate(q?.x2, "query_rect.x2", limits),
        y2: coordinate(q?.y2, "query_rect.y2", limits),
      };
    }
    case "queryCircle": {
      const q = envelope.queryCircle;
      const radius = finite(q?.radius, "query_circle.radius");
      if (radius < 0 || radius > limits.maxQueryRadius) {
        throw new ProtocolError(
          "INVALID_ARGUMENT",
          `query_circle.radius must be in [0, ${limits.maxQueryRadius}] m, got ${round(radius)}`,
        );
      }
      return {
        op: "query_circle",
        x: coordinate(q?.x, "query_circle.x", limits),
        y: coordinate(q?.y, "query_circle.y", limits),
        radius,
      };
    }
    case "aoe": {
      const radius = finite(envelope.aoe?.radius, "aoe.radius");
      if (radius < 0 || radius > limits.maxAoeRadius) {
        throw new ProtocolError(
          "INVALID_ARGUMENT",
          `aoe.radius must be in [0, ${limits.maxAoeRadius}] m, got ${round(radius)}`,
        );
      }
      const amount = envelope.aoe?.amount ?? 0;
      if (!Number.isInteger(amount) || Math.abs(amount) > limits.maxAoeAmount) {
        throw new ProtocolError(
          "INVALID_ARGUMENT",
          `aoe.amount must be an integer in [-${limits.maxAoeAmount}, ${limits.maxAoeAmount}]`,
        );
      }
      return { op: "aoe", radius, amount };
    }
    case "ping":
      return {
        op: "ping",
        clientTimeMs: finite(envelope.ping?.clientTimeMs, "ping.client_time_ms"),
      };
    case "status":
      return { op: "status", withChecksum: envelope.status?.withChecksum === true };
    case "discover":
      return { op: "discover", wantMaster: envelope.discover?.wantMaster === true };
    case undefined:
      throw new ProtocolError("UNKNOWN_OPERATION", "The envelope carries no request");
    default:
      throw new ProtocolError(
        "UNKNOWN_OPERATION",
        `"${envelope.msg}" is a reply, not a request this endpoint handles`,
      );
  }
}

function finite(value: number | null | undefined, name: string): number {
  const n = value ?? 0;
  if (typeof n !== "number" || !Number.isFinite(n)) {
    throw new ProtocolError("INVALID_ARGUMENT", `${name} must be a finite number`);
  }
  return n;
}

function coordinate(value: number | null | undefined, name: string, limits: RequestLimits): number {
  const n = finite(value, name);
  if (Math.abs(n) > limits.maxCoordinate) {
    throw new ProtocolError(
      "INVALID_ARGUMENT",
      `${name} must be within ±${limits.maxCoordinate}, got ${round(n)}`,
    );
  }
  return n;
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
