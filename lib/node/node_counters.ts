/** Counters of what a node refused, dropped or answered with an error (status and /metrics). */
export interface NodeCounters {
  /** Messages received from clients. */
  requests: number;
  /** Error replies sent. */
  errors: number;
  /** Replies the transport did not take (peer gone, output full). */
  dropped: number;
  /** Messages that were not one decodable frame within max_frame_bytes. */
  badFrames: number;
  /** Requests refused with RATE_LIMITED (client id, connection or new-user budget). */
  rateLimited: number;
  /** Requests of a connection far over its budget, dropped without a reply. */
  unanswered: number;
  /** New client ids refused: max_clients or max_ids_per_connection. */
  idsRefused: number;
  /** Requests under a client id bound to another connection (served without its session). */
  foreign: number;
  /** Logins refused because another login of the client id was in flight or it is logged in elsewhere. */
  loginsRefused: number;
  /** Users left to expire because no client holds them (login outcome unknown to its client). */
  abandonedLogins: number;
  /** Requests of a connection that does not read its replies, dropped unread. */
  stalled: number;
}

/** Fresh counters, all zero. */
export function newNodeCounters(): NodeCounters {
  return {
    requests: 0,
    errors: 0,
    dropped: 0,
    badFrames: 0,
    rateLimited: 0,
    unanswered: 0,
    idsRefused: 0,
    foreign: 0,
    loginsRefused: 0,
    abandonedLogins: 0,
    stalled: 0,
  };
}
