import assert from "node:assert/strict";
import {
  encodeRecord,
  encodeSegmentHeader,
  type LogRecord,
  RECORD_OVERHEAD,
  scanSegment,
  SEGMENT_HEADER_BYTES,
} from "./log_record.ts";

const HEADER = { generation: 3, base: { epoch: 2, seq: 100 }, continues: true };

/** Records 101…100+n of epoch 2, record i with i ops bytes. */
function records(n: number): LogRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    epoch: 2,
    seq: 101 + i,
    ops: Uint8Array.from({ length: i }, (_, k) => (k * 31 + i) & 0xff),
  }));
}

function segment(rs: LogRecord[], header = HEADER): Uint8Array {
  const parts = [encodeSegmentHeader(header), ...rs.map(encodeRecord)];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Where each record ends in `segment(rs)`. */
function ends(rs: LogRecord[]): number[] {
  let at = SEGMENT_HEADER_BYTES;
  return rs.map((r) => (at += RECORD_OVERHEAD + r.ops.length));
}

Deno.test("scanSegment() returns the header and every record written", () => {
  const rs = records(6);
  const bytes = segment(rs);
  const scan = scanSegment(bytes);
  assert.deepEqual(scan.header, HEADER);
  assert.deepEqual(
    scan.records.map((r) => ({ ...r, ops: [...r.ops] })),
    rs.map((r) => ({ ...r, ops: [...r.ops] })),
  );
  assert.equal(scan.validBytes, bytes.length);
  assert.equal(scan.discarded, undefined);
  assert.deepEqual(scanSegment(segment([])).records, []);
});

Deno.test("a log cut mid-record keeps the whole records before the cut and says what it cut", () => {
  const rs = records(5);
  const bytes = segment(rs);
  const bounds = ends(rs);
  for (let cut = SEGMENT_HEADER_BYTES + 1; cut < bytes.length; cut++) {
    const scan = scanSegment(bytes.subarray(0, cut));
    const whole = bounds.filter((e) => e <= cut).length;
    const valid = whole === 0 ? SEGMENT_HEADER_BYTES : bounds[whole - 1];
    assert.equal(scan.records.length, whole, `cut at ${cut}`);
    assert.equal(scan.validBytes, valid, `cut at ${cut}`);
    if (valid === cut) assert.equal(scan.discarded, undefined);
    else {
      assert.deepEqual(
        { at: scan.discarded?.at, bytes: scan.discarded?.bytes, records: scan.discarded?.records },
        { at: valid, bytes: cut - valid, records: 1 },
        `cut at ${cut}`,
      );
      assert.match(scan.discarded!.reason, /torn/);
    }
  }
});

Deno.test("a flipped byte in a record cuts the log there and counts the records after it", () => {
  const rs = records(6);
  const bytes = segment(rs);
  const bounds = ends(rs);
  for (let i = SEGMENT_HEADER_BYTES; i < bytes.length; i++) {
    const bad = bytes.slice();
    bad[i] ^= 0x10;
    const scan = scanSegment(bad);
    const hit = bounds.findIndex((e) => i < e); // the record holding byte i
    assert.equal(scan.records.length, hit, `flip at ${i}`);
    assert.equal(scan.validBytes, hit === 0 ? SEGMENT_HEADER_BYTES : bounds[hit - 1]);
    assert.equal(scan.discarded?.bytes, bytes.length - scan.validBytes);
    // A flipped length field may hide where the records after it start: at least the bad one counts.
    const lengthField = i - scan.validBytes < 4;
    if (!lengthField) assert.equal(scan.discarded?.records, rs.length - hit, `flip at ${i}`);
    else assert.ok(scan.discarded!.records >= 1);
    for (const r of scan.records) assert.deepEqual([...r.ops], [...rs[r.seq - 101].ops]);
  }
});

Deno.test("a flipped byte in the segment header discards the whole segment", () => {
  const bytes = segment(records(3));
  for (let i = 0; i < SEGMENT_HEADER_BYTES; i++) {
    const bad = bytes.slice();
    bad[i] ^= 0x01;
    const scan = scanSegment(bad);
    assert.equal(scan.header, undefined, `flip at ${i}`);
    assert.deepEqual(scan.records, []);
    assert.equal(scan.discarded?.bytes, bytes.length);
  }
  assert.deepEqual(scanSegment(new Uint8Array()), {
    header: undefined,
    records: [],
    validBytes: 0,
    discarded: undefined,
  });
});

Deno.test("records out of sequence end the valid prefix even with good checksums", async (t) => {
  const rs = records(4);
  await t.step("a skipped seq", () => {
    const scan = scanSegment(segment([rs[0], rs[1], rs[3]]));
    assert.equal(scan.records.length, 2);
    assert.match(scan.discarded!.reason, /seq 104 does not follow epoch 2 seq 102/);
  });
  await t.step("an epoch going down", () => {
    const scan = scanSegment(segment([rs[0], { ...rs[1], epoch: 1 }]));
    assert.equal(scan.records.length, 1);
  });
  await t.step("a first record that does not follow the base", () => {
    const scan = scanSegment(segment(rs, { ...HEADER, base: { epoch: 2, seq: 50 } }));
    assert.equal(scan.records.length, 0);
    assert.equal(scan.discarded?.records, 4);
  });
  await t.step("a new epoch continues the sequence", () => {
    const scan = scanSegment(segment([rs[0], { ...rs[1], epoch: 3 }, { ...rs[2], epoch: 3 }]));
    assert.equal(scan.records.length, 3);
  });
});
