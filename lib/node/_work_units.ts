/**
 * What a request costs a node, in work units charged against its connection's and client id's
 * budgets (`max_requests_per_connection`, `max_requests_per_second`). A work unit is about what a
 * cheap request costs a node on this project's machine, ~15 µs with the transport; every request
 * costs one, the functions here say what some cost on top.
 *
 * @module
 */

/** A query's work units: one per this many users it matched (scanned)… */
const USERS_MATCHED_PER_UNIT = 1000;
/**
 * …and one per this many users its reply lists: 2–4 µs each with the encoding and the copy, as
 * measured in a node answering whole-world queries while other connections wait.
 */
const USERS_LISTED_PER_UNIT = 4;
/** A status with a checksum: one work unit per this many users in the world. */
const USERS_CHECKSUMMED_PER_UNIT = 50;

/** A frame costs a work unit more per this many bytes (reading, copying and decoding it). */
export const BYTES_PER_UNIT = 16_384;

/** The extra units of a frame of `bytes` bytes (charged only above {@linkcode BYTES_PER_UNIT}). */
export function frameUnits(bytes: number): number {
  return bytes / BYTES_PER_UNIT;
}

/** The extra units of a query (or aoe) that matched `matched` users and lists `listed` of them. */
export function queryUnits(matched: number, listed: number): number {
  return matched / USERS_MATCHED_PER_UNIT + listed / USERS_LISTED_PER_UNIT;
}

/** The extra units of a status with the checksum of a world of `users` users. */
export function checksumUnits(users: number): number {
  return users / USERS_CHECKSUMMED_PER_UNIT;
}
