/** A user kept for a resume: until `deadline`, and only while its resume generation stays. */
interface Lingering {
  deadline: number;
  generation: number;
}

/**
 * Users no client holds (their client went silent, or never saw its login's reply), each kept
 * for a while so that its client may resume it, then expired unless it was resumed meanwhile.
 * Reads no clock: every call gets `now`.
 */
export class LingeringUsers {
  readonly #lingerMs: number;
  readonly #users = new Map<number, Lingering>();

  /** Keeps each user `lingerMs` (`clients.session_linger_ms`) after it was left behind. */
  constructor(lingerMs: number) {
    this.#lingerMs = lingerMs;
  }

  /** How many users linger. */
  get size(): number {
    return this.#users.size;
  }

  /**
   * Keeps `userId`, at resume `generation`, until `now` plus the linger time (a later call for the
   * same user replaces the earlier deadline).
   */
  linger(userId: number, at: { generation: number; now: number }): void {
    this.#users.set(userId, { deadline: at.now + this.#lingerMs, generation: at.generation });
  }

  /** Forgets `userId`: a client holds it again (it logged in or was resumed). */
  claimed(userId: number): void {
    this.#users.delete(userId);
  }

  /**
   * Forgets every user whose deadline is `now` or earlier and hands it to `expire`, with the
   * generation it lingered at: whoever removes it must not if the user was resumed since.
   */
  expireDue(now: number, expire: (userId: number, generation: number) => void): void {
    if (this.#users.size === 0) return;
    for (const [userId, pending] of this.#users) {
      if (pending.deadline > now) continue;
      this.#users.delete(userId);
      expire(userId, pending.generation);
    }
  }
}
