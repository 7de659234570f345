/**
 * CURVE helpers: key generation and availability.
 *
 * @module
 */

import * as zmq from "zeromq";
import { CurveError } from "./errors.ts";
import { z85Decode } from "./_z85.ts";

/** A CURVE keypair in Z85 text (40 characters each). */
export interface CurveKeyPair {
  /** Public key: hand it to peers. */
  publicKey: string;
  /** Secret key: keep it private. */
  secretKey: string;
}

/** Whether the installed zeromq supports the CURVE security mechanism. */
export function curveAvailable(): boolean {
  return zmq.capability.curve === true;
}

/** Generates a fresh CURVE keypair (for `--gen-keys` in the command-line tools). */
export function generateCurveKeyPair(): CurveKeyPair {
  requireCurve();
  const pair = zmq.curveKeyPair();
  return { publicKey: pair.publicKey, secretKey: pair.secretKey };
}

/** Throws `CurveError` unless CURVE is available. */
export function requireCurve(): void {
  if (!curveAvailable()) throw new CurveError("CURVE is not supported by the installed zeromq");
}

/** Decodes a Z85 CURVE key to its 32 bytes, or throws `CurveError` naming `what`. */
export function decodeCurveKey(key: string, what: string): Uint8Array {
  const bytes = typeof key === "string" && key.length === 40 ? z85Decode(key) : undefined;
  if (bytes === undefined) {
    throw new CurveError(`The ${what} is not a 40-character Z85 CURVE key`);
  }
  return bytes;
}
