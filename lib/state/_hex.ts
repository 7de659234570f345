// Session tokens travel as 32 hex chars and are stored as 16 bytes in snapshots: table lookups, no
// parseInt or string slicing per byte (250,000 tokens convert in a few ms).
const HEX = /* @__PURE__ */ Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));
const NIBBLE = /* @__PURE__ */ (() => {
  const t = new Int8Array(128).fill(-1);
  for (let c = 0; c < 10; c++) t[48 + c] = c;
  for (let c = 0; c < 6; c++) t[97 + c] = 10 + c;
  return t;
})();

/** Lowercase hex of `bytes[start, end)`. */
export function bytesToHex(bytes: Uint8Array, start = 0, end = bytes.length): string {
  let s = "";
  for (let i = start; i < end; i++) s += HEX[bytes[i]];
  return s;
}

/** Writes the bytes of lowercase hex `hex` into `out` at `at` (a bad digit reads as 0). */
export function hexInto(hex: string, out: Uint8Array, at: number): void {
  for (let i = 0, n = hex.length >>> 1; i < n; i++) {
    const hi = NIBBLE[hex.charCodeAt(2 * i) & 127];
    const lo = NIBBLE[hex.charCodeAt(2 * i + 1) & 127];
    out[at + i] = ((hi < 0 ? 0 : hi) << 4) | (lo < 0 ? 0 : lo);
  }
}
