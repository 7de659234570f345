import assert from "node:assert/strict";
import { mulberry32 } from "../random/mod.ts";
import { IdIndex } from "./id_index.ts";

Deno.test("IdIndex agrees with a Map through random sets and deletes", () => {
  for (let seed = 1; seed <= 5; seed++) {
    const rng = mulberry32(seed);
    const index = new IdIndex(4);
    const map = new Map<number, number>();
    let capacity = 4;
    for (let i = 0; i < 20_000; i++) {
      // Few distinct ids (and some huge ones) force long probe runs and wrap-around.
      const id = rng() < 0.1 ? 0xffffffff - Math.floor(rng() * 8) : 1 + Math.floor(rng() * 600);
      if (rng() < 0.55) {
        if (!map.has(id) && map.size === capacity) index.reserve(capacity *= 2);
        const slot = Math.floor(rng() * 1e6);
        index.set(id, slot);
        map.set(id, slot);
      } else {
        assert.equal(index.delete(id), map.delete(id));
      }
      assert.equal(index.get(id), map.get(id) ?? -1);
      if (i % 1000 === 0) {
        index.checkInvariants();
        for (const [k, v] of map) assert.equal(index.get(k), v);
      }
    }
    assert.equal(index.size, map.size);
    index.checkInvariants();
  }
});
