/**
 * zeromq options for CURVE servers (with a ZAP allow-list) and CURVE clients.
 *
 * @module
 */

import { decodeCurveKey, requireCurve } from "./curve.ts";
import { kZap } from "./_internal.ts";
import type { Pump } from "./pump.ts";
import type { CurveClientKeys, CurveServerKeys } from "./types.ts";

/** CURVE server options plus a release function that forgets the socket's ZAP domain. */
export interface ServerCurve {
  options: Record<string, unknown>;
  release: () => void;
}

/** Prepares a CURVE server socket: validates keys, starts the ZAP handler, registers the allow-list. */
export async function serverCurve(pump: Pump, keys: CurveServerKeys): Promise<ServerCurve> {
  requireCurve();
  decodeCurveKey(keys.publicKey, "server public key");
  decodeCurveKey(keys.secretKey, "server secret key");
  const allowed = keys.allowedClientKeys.map((key, i) =>
    decodeCurveKey(key, `allowed client key #${i + 1}`)
  );
  const zap = await pump[kZap]();
  const domain = zap.addDomain(allowed);
  return {
    options: {
      curveServer: true,
      curvePublicKey: keys.publicKey,
      curveSecretKey: keys.secretKey,
      zapDomain: domain,
      // Without a ZAP answer the handshake fails instead of admitting anyone.
      zapEnforceDomain: true,
    },
    release: () => zap.removeDomain(domain),
  };
}

/** CURVE client options (validated). */
export function clientCurve(keys: CurveClientKeys): Record<string, unknown> {
  requireCurve();
  decodeCurveKey(keys.serverPublicKey, "server public key");
  decodeCurveKey(keys.publicKey, "client public key");
  decodeCurveKey(keys.secretKey, "client secret key");
  return {
    curveServerKey: keys.serverPublicKey,
    curvePublicKey: keys.publicKey,
    curveSecretKey: keys.secretKey,
  };
}
