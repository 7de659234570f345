import { ConfigError } from "./errors.ts";
import { log } from "../log/mod.ts";

/** CURVE keys for the two ends of a cluster-plane socket, from the shared cluster keypair. */
export interface ClusterCurve {
  server: { publicKey: string; secretKey: string; allowedClientKeys: string[] };
  client: { serverPublicKey: string; publicKey: string; secretKey: string };
}

/**
 * The cluster plane's CURVE settings: every cluster process holds the same keypair, servers admit only
 * clients presenting its public key, so a process without the secret key can neither connect nor
 * imitate a member. Undefined when no keys are configured (plain TCP, logged as a warning).
 */
export function clusterCurve(
  keys: { public_key: string; secret_key: string },
  source = "config",
): ClusterCurve | undefined {
  if (keys.public_key === "" && keys.secret_key === "") return undefined;
  if (keys.public_key === "" || keys.secret_key === "") {
    throw new ConfigError(`${source}: curve.public_key and curve.secret_key must be set together`);
  }
  return {
    server: {
      publicKey: keys.public_key,
      secretKey: keys.secret_key,
      allowedClientKeys: [keys.public_key],
    },
    client: {
      serverPublicKey: keys.public_key,
      publicKey: keys.public_key,
      secretKey: keys.secret_key,
    },
  };
}

/**
 * The cluster plane's CURVE settings as a cluster process starts with them (node or registry): like
 * {@linkcode clusterCurve}, and without keys a warning in the log says the plane is unauthenticated.
 */
export function startupClusterCurve(
  keys: { public_key: string; secret_key: string },
): ClusterCurve | undefined {
  const curve = clusterCurve(keys);
  if (!curve) {
    log("cluster").warn(
      "No CURVE keys configured: the cluster plane is NOT authenticated (see README)",
    );
  }
  return curve;
}
