/**
 * The snapshot file's format, pure (no I/O). Little-endian: a 48-byte header — magic "GSP1" u32,
 * version u16, flags u16 (0), generation f64, epoch f64, seq f64, world length u32, credentials
 * length u32, CRC-32 of the credentials u32, CRC-32 of the 44 header bytes before it u32 — then the
 * world's snapshot (`World.snapshot()`, which ends with its own CRC-32), then the credentials
 * (`GameState.credentialsSnapshot()`). Every byte is covered by one of the three checksums.
 *
 * @module
 */
import { crc32 } from "../checksum/mod.ts";
import type { Position } from "./position.ts";

/** A snapshot file's contents: the replicated state exactly after update `position`. */
export interface SnapshotFile {
  /** The generation it starts (its log segment has the same). */
  generation: number;
  /** The last update the state includes. */
  position: Position;
  /** World bytes (`World.snapshot()` format). */
  world: Uint8Array;
  /** Credential bytes (`GameState.credentialsSnapshot()` format). */
  credentials: Uint8Array;
}

/** What the header of a snapshot file records. */
export interface SnapshotHeader {
  /** The generation. */
  generation: number;
  /** The last update the state includes. */
  position: Position;
  /** Length of the world part. */
  worldBytes: number;
  /** Length of the credentials part. */
  credentialsBytes: number;
  /** CRC-32 of the credentials part. */
  credentialsCrc: number;
}

/** Bytes of a snapshot file's header. */
export const SNAPSHOT_HEADER_BYTES = 48;

const MAGIC = 0x31505347; // "GSP1" little-endian
const VERSION = 1;

/** The header bytes of a snapshot file. */
export function encodeSnapshotHeader(header: SnapshotHeader): Uint8Array {
  const bytes = new Uint8Array(SNAPSHOT_HEADER_BYTES);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, MAGIC, true);
  v.setUint16(4, VERSION, true);
  v.setUint16(6, 0, true);
  v.setFloat64(8, header.generation, true);
  v.setFloat64(16, header.position.epoch, true);
  v.setFloat64(24, header.position.seq, true);
  v.setUint32(32, header.worldBytes, true);
  v.setUint32(36, header.credentialsBytes, true);
  v.setUint32(40, header.credentialsCrc >>> 0, true);
  v.setUint32(44, crc32(bytes, 0, 44), true);
  return bytes;
}

/** A whole snapshot file's bytes (header, world, credentials), for tests and small states. */
export function encodeSnapshotFile(file: SnapshotFile): Uint8Array {
  const header = encodeSnapshotHeader({
    generation: file.generation,
    position: file.position,
    worldBytes: file.world.length,
    credentialsBytes: file.credentials.length,
    credentialsCrc: crc32(file.credentials),
  });
  const out = new Uint8Array(header.length + file.world.length + file.credentials.length);
  out.set(header, 0);
  out.set(file.world, header.length);
  out.set(file.credentials, header.length + file.world.length);
  return out;
}

/**
 * Reads a snapshot file: its header and parts (views into `bytes`), or the reason it cannot be
 * used. The world part's own checksum is checked when it is restored (`World.fromSnapshot`).
 */
export function decodeSnapshotFile(bytes: Uint8Array): SnapshotFile | string {
  if (bytes.length < SNAPSHOT_HEADER_BYTES) {
    return `snapshot truncated (${bytes.length} of at least ${SNAPSHOT_HEADER_BYTES} bytes)`;
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (v.getUint32(44, true) !== crc32(bytes, 0, 44)) return "snapshot header checksum mismatch";
  if (v.getUint32(0, true) !== MAGIC) return "not a snapshot file (bad magic)";
  const version = v.getUint16(4, true);
  if (version !== VERSION) return `snapshot version ${version} is not supported`;
  const generation = v.getFloat64(8, true);
  const epoch = v.getFloat64(16, true);
  const seq = v.getFloat64(24, true);
  if (![generation, epoch, seq].every((x) => Number.isSafeInteger(x) && x >= 0)) {
    return "snapshot header holds invalid numbers";
  }
  const worldBytes = v.getUint32(32, true);
  const credentialsBytes = v.getUint32(36, true);
  const expected = SNAPSHOT_HEADER_BYTES + worldBytes + credentialsBytes;
  if (bytes.length !== expected) {
    return `snapshot is ${bytes.length} bytes, its header says ${expected}`;
  }
  const worldEnd = SNAPSHOT_HEADER_BYTES + worldBytes;
  if (crc32(bytes, worldEnd, expected) !== v.getUint32(40, true)) {
    return "snapshot credentials checksum mismatch";
  }
  return {
    generation,
    position: { epoch, seq },
    world: bytes.subarray(SNAPSHOT_HEADER_BYTES, worldEnd),
    credentials: bytes.subarray(worldEnd, expected),
  };
}
