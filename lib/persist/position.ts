/** Where a node stands in the replicated history: the (epoch, seq) of the last update it holds. */
export interface Position {
  /** Epoch of the master that published the update. */
  readonly epoch: number;
  /** Sequence number of the update. */
  readonly seq: number;
}

/** The position of a node that holds nothing. */
export const ORIGIN: Position = Object.freeze({ epoch: 0, seq: 0 });

/** Orders positions: epoch first, then sequence; negative when `a` comes first. */
export function comparePositions(a: Position, b: Position): number {
  if (a.epoch !== b.epoch) return a.epoch < b.epoch ? -1 : 1;
  return a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0;
}

/** "epoch E seq S", for log lines. */
export function formatPosition(p: Position): string {
  return `epoch ${p.epoch} seq ${p.seq}`;
}
