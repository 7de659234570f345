/**
 * Checksums over bytes, shared by the world's snapshot format and the persistence files: CRC-32
 * (the zlib one), continuable over ranges so a large buffer can be checked a slice at a time.
 *
 * ```ts
 * import { crc32 } from "./mod.ts";
 * const bytes = new TextEncoder().encode("123456789");
 * console.assert(crc32(bytes) === 0xcbf43926);
 * console.assert(crc32(bytes, 4, 9, crc32(bytes, 0, 4)) === 0xcbf43926);
 * ```
 *
 * @module
 */
export { crc32 } from "./crc32.ts";
