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
 * The public key of the demo keypair the configs in `configs/` ship with: published with the
 * repository, so it authenticates nobody.
 */
export const DEMO_PUBLIC_KEY = "V0$!SP^#SQuz[x9Z:]%T@[>$tK-V1W+6MOOAH@7:";

/** True for an address that never leaves the machine: 127.0.0.0/8, ::1, localhost. */
export function isLoopback(host: string): boolean {
  const h = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** The host of a `tcp://HOST:PORT` endpoint. */
function endpointHost(endpoint: string): string {
  const rest = endpoint.replace(/^tcp:\/\//, "");
  return rest.slice(0, rest.lastIndexOf(":"));
}

/**
 * The cluster plane's CURVE settings as a cluster process starts with them (node or registry): like
 * {@linkcode clusterCurve}, and without keys a warning in the log says the plane is unauthenticated.
 * `reach` lists every address the process binds, advertises or connects to (hosts or
 * `tcp://HOST:PORT` endpoints): the demo keypair is refused (`ConfigError`) unless all of them are
 * loopback, since anyone with the repository holds its secret key.
 */
export function startupClusterCurve(
  keys: { public_key: string; secret_key: string },
  reach: readonly string[] = [],
): ClusterCurve | undefined {
  if (keys.public_key === DEMO_PUBLIC_KEY) {
    const outside = reach
      .map((r) => (r.startsWith("tcp://") ? endpointHost(r) : r))
      .filter((host) => !isLoopback(host));
    if (outside.length > 0) {
      throw new ConfigError(
        `curve: the demo keypair of configs/ is public (anyone with the repository can join this cluster) and is allowed only when every address is loopback, not ${
          [...new Set(outside)].join(", ")
        }; generate a keypair with \`deno task keys\` and put it in every config's "curve"`,
      );
    }
  }
  const curve = clusterCurve(keys);
  if (!curve) {
    log("cluster").warn(
      "No CURVE keys configured: the cluster plane is NOT authenticated (see README)",
    );
  }
  return curve;
}
