/**
 * What every socket of the transport has: its endpoint, counters and closing.
 *
 * @module
 */

import type { SocketStats } from "./types.ts";
import type { SocketTarget } from "./_socket_target.ts";

/**
 * What `RouterSocket`, `DealerSocket`, `PublisherSocket` and `SubscriberSocket` have in common:
 * an endpoint, counters summed over reconnects, and closing (also by disposing their pump).
 * Inside, one zeromq socket at a time, which a reconnect replaces.
 */
export abstract class SocketBase implements AsyncDisposable {
  /** @internal The zeromq socket messages go through now; replace it only by `replaceTarget()`. */
  protected target: SocketTarget;
  #endpoint: string;
  /** Counters of the targets that reconnects replaced. */
  readonly #retired: SocketStats = {
    received: 0,
    sent: 0,
    dropped: 0,
    unroutable: 0,
    overflowed: 0,
  };

  /** @internal Wraps `target`, bound or connected to `endpoint`. */
  protected constructor(target: SocketTarget, endpoint: string) {
    this.target = target;
    this.#endpoint = endpoint;
  }

  /** The endpoint bound (with the real port after binding port 0) or currently connected to. */
  get endpoint(): string {
    return this.#endpoint;
  }

  /** Whether the socket was closed (by `close()`, or by disposing its pump). */
  get closed(): boolean {
    return this.target.closed;
  }

  /** Counters of this socket, summed over reconnects. */
  get stats(): Readonly<SocketStats> {
    const now = this.target.stats;
    const s = this.#retired;
    return {
      received: s.received + now.received,
      sent: s.sent + now.sent,
      dropped: s.dropped + now.dropped,
      unroutable: s.unroutable + now.unroutable,
      overflowed: s.overflowed + now.overflowed,
    };
  }

  /** Closes the socket (idempotent); the pump stops polling it. */
  close(): void {
    this.target.close();
  }

  /** Same as `close()`. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  /** @internal Switches to `next`, connected to `endpoint`; closes the old target, keeping its counts. */
  protected replaceTarget(next: SocketTarget, endpoint: string): void {
    const old = this.target;
    this.target = next;
    this.#endpoint = endpoint;
    old.close();
    const s = this.#retired;
    s.received += old.stats.received;
    s.sent += old.stats.sent;
    s.dropped += old.stats.dropped;
    s.unroutable += old.stats.unroutable;
    s.overflowed += old.stats.overflowed;
  }
}
