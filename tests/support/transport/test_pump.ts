/**
 * A pump whose socket callbacks cannot fail quietly: what they throw fails the test that owns it.
 *
 * @module
 */

import { Pump, type PumpOptions, type TransportError } from "../../../lib/transport/mod.ts";
import { until, within } from "./test_util.ts";

/**
 * A {@link Pump} for tests. A production pump catches what a socket callback throws, logs it and
 * carries on, so a failed assertion inside a callback would show only as a timeout, or not at
 * all. This one records the first such error (any `TransportError` the pump reports): it rejects
 * {@link TestPump.failed} and every wait made through {@link TestPump.within} or
 * {@link TestPump.until}, and disposing the pump throws it if nothing has thrown it yet.
 *
 * ```ts
 * await using pump = new TestPump();
 * const server = await RouterSocket.bind(pump, "tcp://127.0.0.1:0", (peer, frames) => {
 *   assert.equal(frames.length, 1); // a failure here fails the test
 *   server.send(peer, frames);
 * });
 * ```
 */
export class TestPump extends Pump {
  readonly #errors: TransportError[];
  /** Rejects with the first error the pump reported; never resolves. */
  readonly failed: Promise<never>;
  /** The first error was thrown to the test already (no need to throw it again at dispose). */
  #surfaced = false;

  /** Creates a pump with `options`; its `onError` is the recorder. */
  constructor(options: Omit<PumpOptions, "onError"> = {}) {
    const errors: TransportError[] = [];
    const { promise: failed, reject } = Promise.withResolvers<never>();
    // Rejected whether or not a wait is listening at that moment.
    failed.catch(() => {});
    super({
      ...options,
      onError: (error) => {
        if (errors.push(error) === 1) reject(error);
      },
    });
    this.#errors = errors;
    this.failed = failed;
  }

  /** Every error the pump reported so far. */
  get errors(): readonly TransportError[] {
    return this.#errors;
  }

  /** Throws the first error the pump reported, if any. */
  check(): void {
    if (this.#errors.length === 0) return;
    this.#surfaced = true;
    throw this.#errors[0];
  }

  /** {@link within}, failing at once with the pump's first error. */
  async within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
    try {
      return await within(Promise.race([promise, this.failed]), ms, what);
    } finally {
      this.check();
    }
  }

  /** {@link until}, failing at once with the pump's first error. */
  until(condition: () => boolean, ms: number, what: string): Promise<void> {
    return until(
      () => {
        this.check();
        return condition();
      },
      ms,
      what,
    );
  }

  /** Disposes the pump, then throws its first error unless a wait or `check()` already did. */
  override async [Symbol.asyncDispose](): Promise<void> {
    await super[Symbol.asyncDispose]();
    if (!this.#surfaced) this.check();
  }
}
