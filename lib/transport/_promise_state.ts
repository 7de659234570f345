/**
 * Synchronous look at an already settled promise.
 *
 * zeromq.js settles `send()`/`receive()` promises synchronously when the timeouts are 0, but a
 * promise's outcome is normally visible only a microtask later. Deno's runtime core offers
 * `getPromiseDetails`, which lets `send()` return its outcome as a boolean and lets the pump drain
 * a socket without a microtask per message. It is an internal API, so it is feature-detected once;
 * without it callers fall back to awaiting (and sends report their failures asynchronously).
 *
 * @module
 */

/** The promise has not settled yet. */
export const PENDING = 0;
/** The promise was fulfilled. */
export const FULFILLED = 1;
/** The promise was rejected. */
export const REJECTED = 2;

type Details = (promise: Promise<unknown>) => [number, unknown];

const getDetails: Details | undefined = (() => {
  try {
    // deno-lint-ignore no-explicit-any
    const deno = Deno as any;
    const core = deno[deno.internal]?.core;
    const fn = core?.getPromiseDetails;
    if (typeof fn !== "function") return undefined;
    // Self-check so a changed internal signature degrades to the async path instead of lying.
    const ok = fn(Promise.resolve(7));
    const bad = Promise.reject(new Error("probe"));
    bad.catch(() => {});
    const no = fn(bad);
    const pending = fn(new Promise(() => {}));
    if (
      ok?.[0] !== FULFILLED || ok?.[1] !== 7 || no?.[0] !== REJECTED || pending?.[0] !== PENDING
    ) return undefined;
    return fn as Details;
  } catch {
    return undefined;
  }
})();

/** Whether settled promises can be inspected synchronously in this runtime. */
export const syncPromiseState: boolean = getDetails !== undefined;

/**
 * `[state, value]` of `promise` right now, or `undefined` when the runtime cannot tell
 * synchronously (then await it).
 */
export function promiseDetails<T>(promise: Promise<T>): [number, unknown] | undefined {
  return getDetails?.(promise);
}
