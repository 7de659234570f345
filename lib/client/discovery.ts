import { DealerSocket, type Pump } from "../transport/mod.ts";
import { decodeEnvelope, encodeEnvelope, type NodeAddress } from "../protocol/mod.ts";
import { DiscoveryError } from "./errors.ts";
import { connectEndpoint } from "../config/mod.ts";

/** Options of {@linkcode discoverNode}. */
export interface DiscoverOptions {
  /** Registry discovery endpoints, tried in order. */
  registries: string[];
  /** Ask for the master rather than the least-loaded node. */
  wantMaster?: boolean;
  /** How long to wait for each registry, ms. */
  timeoutMs?: number;
  /** The asking client's id. */
  clientId: string;
}

/**
 * Asks the registries, in order, for a node to connect to and returns the first answer.
 * Throws {@linkcode DiscoveryError} naming each registry's failure when none can name a node.
 */
export async function discoverNode(pump: Pump, options: DiscoverOptions): Promise<NodeAddress> {
  const failures: string[] = [];
  for (const endpoint of options.registries) {
    try {
      return await askOne(pump, endpoint, options);
    } catch (err) {
      failures.push(`${endpoint}: ${(err as Error).message}`);
    }
  }
  throw new DiscoveryError(`No registry named a node (${failures.join("; ")})`);
}

function askOne(pump: Pump, endpoint: string, options: DiscoverOptions): Promise<NodeAddress> {
  const { promise, resolve, reject } = Promise.withResolvers<NodeAddress>();
  let socket: DealerSocket | undefined;
  const timer = setTimeout(
    () => reject(new Error(`no answer within ${options.timeoutMs ?? 1000} ms`)),
    options.timeoutMs ?? 1000,
  );
  try {
    socket = DealerSocket.connect(pump, endpoint, (frames) => {
      try {
        const reply = decodeEnvelope(frames[frames.length - 1]);
        if (reply.discoverReply?.node?.clientPort) resolve(reply.discoverReply.node);
        else if (reply.error) reject(new Error(`${reply.error.code}: ${reply.error.message}`));
        else reject(new Error(`unexpected reply ${reply.msg}`));
      } catch (err) {
        reject(err);
      }
    });
    socket.send([encodeEnvelope({
      clientId: options.clientId,
      requestId: 1,
      discover: { wantMaster: options.wantMaster ?? false },
    })]);
  } catch (err) {
    reject(err);
  }
  return promise.finally(() => {
    clearTimeout(timer);
    socket?.close();
  });
}

/** The client endpoint of a node address. */
export function clientEndpoint(node: NodeAddress): string {
  return connectEndpoint(node.host ?? "", node.clientPort ?? 0);
}
