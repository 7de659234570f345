/**
 * The wire protocol: the codec for `proto/gameserver.proto` (protobuf binary and proto3 JSON) and the
 * validation of every client request field.
 *
 * ```ts
 * import { decodeEnvelope, encodeEnvelope, parseRequest } from "./mod.ts";
 * const frame = encodeEnvelope({ clientId: crypto.randomUUID(), requestId: 1, ping: {} });
 * const envelope = decodeEnvelope(frame);
 * ```
 *
 * @module
 */
export {
  decodeCluster,
  decodeEnvelope,
  decodeUpdate,
  detectFormat,
  encodeCluster,
  encodeEnvelope,
  encodeUpdate,
  envelopeToJson,
  type WireFormat,
} from "./codec.ts";
export { ProtocolError } from "./errors.ts";
export { type RoleName, roleName } from "./role.ts";
export { type EnvelopePeek, peekEnvelope, QUERY_CIRCLE_FIELD, QUERY_RECT_FIELD } from "./peek.ts";
export { isUuid, parseRequest, type Request, type RequestLimits, WRITE_OPS } from "./request.ts";
export type * from "./_gen/gameserver_proto.ts";
