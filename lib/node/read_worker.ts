/**
 * The entry of a reader worker (see {@linkcode ReadWorkers}): its first message is its
 * `ReaderSetup`; from then on the loop owns the thread and talks only through shared memory, with
 * an empty message to the node's thread when replies wait for it.
 *
 * @module
 */
import { runReader } from "./_read_loop.ts";
import type { ReaderSetup } from "./_read_records.ts";

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<ReaderSetup>) => void) | null;
  postMessage(message: unknown): void;
};
scope.onmessage = (e) => {
  scope.onmessage = null;
  runReader(e.data, () => scope.postMessage(0));
};
