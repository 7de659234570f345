import { ConfigError } from "./errors.ts";

/** The smallest majority of `n` members: ⌊n/2⌋ + 1 (2 of 3, 3 of 5). */
export function majorityOf(n: number): number {
  return Math.floor(n / 2) + 1;
}

/**
 * Checks a cluster node's `cluster.members` against its `node_id`: a non-empty list of distinct ids
 * that includes the node. Returns the list; throws {@linkcode ConfigError} naming the field.
 */
export function checkMembers(nodeId: string, members: readonly string[]): string[] {
  if (members.length === 0) {
    throw new ConfigError(
      "cluster.members: list every node id of the cluster (the same list in every node's config); a cluster node cannot start without it",
    );
  }
  const seen = new Set<string>();
  for (const id of members) {
    if (seen.has(id)) throw new ConfigError(`cluster.members: ${id} is listed twice`);
    seen.add(id);
  }
  if (!seen.has(nodeId)) {
    throw new ConfigError(
      `cluster.members: this node's node_id ${nodeId} is not in the list [${members.join(", ")}]`,
    );
  }
  return [...members];
}

/** True when two membership lists name the same ids (order does not matter). */
export function sameMembers(a: readonly string[], b: readonly string[]): boolean {
  const setA = new Set(a);
  const setB = new Set(b);
  return a.length === b.length && setA.size === a.length && setB.size === b.length &&
    b.every((id) => setA.has(id));
}
