/**
 * The bind of the server sockets (ROUTER, PUB) that zeromq.js drives.
 *
 * @module
 */

import type * as zmq from "zeromq";
import { BindError } from "./errors.ts";
import { kCheckOpen } from "./_internal.ts";
import type { Pump } from "./pump.ts";
import type { CurveServerKeys } from "./types.ts";
import { serverCurve } from "./_curve_setup.ts";
import { createSocket, SocketTarget, type SocketTargetOptions } from "./_socket_target.ts";

/** What `bindServer` makes. */
export interface ServerSocketSpec {
  /** Encrypt and admit only the listed client keys. */
  curve?: CurveServerKeys;
  /** Makes the zeromq.js socket, adding `curveOptions` (undefined without CURVE) to its own. */
  make(curveOptions: Record<string, unknown> | undefined): zmq.Socket;
  /** How the pump polls it (`onClose` is the CURVE release). */
  target: Omit<SocketTargetOptions, "onClose">;
}

/**
 * Makes the socket of `spec`, binds it on `endpoint` and attaches it to `pump`; resolves with it
 * and the bound endpoint (the real port after port 0). A failure on the way closes the socket and
 * forgets its CURVE domain: invalid options throw `InvalidOptionError`, a failed bind `BindError`.
 */
export async function bindServer(
  pump: Pump,
  endpoint: string,
  spec: ServerSocketSpec,
): Promise<{ target: SocketTarget; endpoint: string }> {
  const curve = spec.curve ? await serverCurve(pump, spec.curve) : undefined;
  const socket = createSocket(spec.target.kind, () => spec.make(curve?.options), curve?.release);
  try {
    await socket.bind(endpoint);
    pump[kCheckOpen]();
  } catch (error) {
    socket.close();
    curve?.release();
    if (error instanceof Error && error.name === "PumpClosedError") throw error;
    throw new BindError(endpoint, { cause: error });
  }
  const target = new SocketTarget(pump, socket, { ...spec.target, onClose: curve?.release });
  target.attach();
  return { target, endpoint: socket.lastEndpoint ?? endpoint };
}
