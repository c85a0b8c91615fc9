// PreparedRecord in Node, beyond the shared vectors and cases (runAll runs
// each of those through a PreparedRecord too): its lifetime, what it reads
// when, and its reuse of the required scopes it encoded last time (the
// memo in marshal.js), checked against `validate` over long mixed runs.

import assert from "node:assert/strict";
import { test } from "node:test";
import { PreparedRecord, validate } from "@keyward/wasm-validator";
import { camel } from "./cases.mjs";
import { loadVectors } from "./support.mjs";

const vectors = loadVectors();
const named = (name) => {
  const vector = vectors.find((v) => v.name === name);
  assert.ok(vector, name);
  return vector;
};
const base = named("valid bare key");

test("free(): using the record after it throws (so does a second free), the module is unharmed", () => {
  const prepared = new PreparedRecord(base.record);
  assert.equal(prepared.validate(base.presented, [], base.now).code, "VALID");
  prepared.free();
  assert.throws(() => prepared.validate(base.presented, [], base.now), /null pointer/);
  assert.throws(() => prepared.free(), /null pointer/);
  assert.equal(validate(base.presented, base.record, [], base.now).code, "VALID");
  assert.equal(new PreparedRecord(base.record).validate(base.presented, [], base.now).code, "VALID");
});

test("the record is read once, when it is prepared", () => {
  const reads = {};
  const record = {};
  for (const [field, value] of Object.entries(base.record)) {
    Object.defineProperty(record, field, {
      enumerable: true,
      get() {
        reads[field] = (reads[field] ?? 0) + 1;
        return value;
      },
    });
  }
  const prepared = new PreparedRecord(record);
  for (let i = 0; i < 3; i++) {
    assert.deepStrictEqual(prepared.validate(base.presented, ["sims:read"], base.now), camel(base.expected));
  }
  assert.ok(Object.values(reads).every((n) => n === 1), JSON.stringify(reads));
  assert.equal(Object.keys(reads).length, Object.keys(base.record).length);
  prepared.free();
});

test("a prepared record is a snapshot: later changes to the object do not reach it", () => {
  const record = structuredClone(base.record);
  const prepared = new PreparedRecord(record);
  record.status = "revoked";
  record.scopes.push("admin:*");
  assert.deepStrictEqual(prepared.validate(base.presented, [], base.now), camel(base.expected));
  assert.equal(prepared.validate(base.presented, ["admin:write"], base.now).code, "INSUFFICIENT_SCOPE");
  prepared.free();
});

test("each verdict has its own copy of the scopes", () => {
  const prepared = new PreparedRecord(base.record);
  const first = prepared.validate(base.presented, [], base.now);
  first.scopes.push("admin:*");
  assert.deepStrictEqual(prepared.validate(base.presented, [], base.now).scopes, base.expected.scopes);
  prepared.free();
});

test("validate called again while reading the required scopes: an error, and it keeps working", () => {
  const prepared = new PreparedRecord(base.record);
  const sneaky = new Proxy(["sims:read"], {
    get(target, key) {
      if (key === "0") prepared.validate(base.presented, [], base.now);
      return Reflect.get(target, key);
    },
  });
  assert.throws(() => prepared.validate(base.presented, sneaky, base.now), (e) => e.code === "INVALID_ARGUMENT");
  const boom = new Error("boom");
  const throwing = new Proxy(["sims:read"], {
    get(target, key) {
      if (key === "0") throw boom;
      return Reflect.get(target, key);
    },
  });
  assert.throws(() => prepared.validate(base.presented, throwing, base.now), (e) => e === boom);
  assert.equal(prepared.validate(base.presented, ["sims:read"], base.now).code, "VALID");
  prepared.free();
});

test("the same array, changed between calls, is read afresh", () => {
  const prepared = new PreparedRecord(base.record);
  const required = ["sims:read"];
  assert.equal(prepared.validate(base.presented, required, base.now).code, "VALID");
  required[0] = "admin:write";
  assert.equal(prepared.validate(base.presented, required, base.now).code, "INSUFFICIENT_SCOPE");
  required[0] = "sims:read";
  required.push("billing:read");
  assert.equal(prepared.validate(base.presented, required, base.now).code, "VALID");
  required.push("Not A Scope");
  assert.throws(() => prepared.validate(base.presented, required, base.now), (e) => e.code === "INVALID_SCOPE");
  required.pop();
  required.push("billing:write");
  assert.equal(prepared.validate(base.presented, required, base.now).code, "INSUFFICIENT_SCOPE");
  prepared.free();
});

test("a source address after reused scopes that no longer fits: the buffer grows", () => {
  const restricted = {
    ...base.record,
    scopes: ["sims:*", "x:*"],
    allowed_ips: ["2001:db8::/32"],
  };
  const prepared = new PreparedRecord(restricted);
  // About 250 bytes of required scopes: they fit the first buffer alone.
  const required = Array.from({ length: 25 }, (_, i) => `x:scope${String(i).padStart(3, "0")}`);
  const source = "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff";
  const want = { ...camel(base.expected), scopes: restricted.scopes };
  assert.deepStrictEqual(prepared.validate(base.presented, required, base.now), {
    ...want,
    valid: false,
    code: "IP_NOT_ALLOWED",
  });
  assert.deepStrictEqual(prepared.validate(base.presented, required, base.now, source), want);
  assert.deepStrictEqual(prepared.validate(base.presented, required, base.now, source), want);
  prepared.free();
});

// A deterministic pseudo-random run over every vector with a record, with
// required scopes that repeat, change and come back, and sources on and
// off: the expected verdicts from `validate` first, then the same calls
// through PreparedRecord.validate, with a `validate` now and then in
// between (the two share the scratch buffer).
test("many calls in a row, mixed with validate: always validate's verdict", () => {
  let seed = 7;
  const random = (n) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const withRecord = vectors.filter((v) => v.record);
  const lists = [[], ["sims:read"], ["billing:read"], ["sims:read", "billing:read"], ["admin:*"], null];
  const sources = [undefined, "10.0.0.1", "192.0.2.7", "2001:db8::1", "not an address"];
  const copies = lists.map((l) => l && [...l]);
  const calls = [];
  for (let i = 0; i < 4000; i++) {
    // Runs of calls for one record, as a cache sees a busy key.
    const k = i % 8 === 0 || calls.length === 0 ? random(withRecord.length) : calls.at(-1).k;
    const v = withRecord[k];
    const n = random(lists.length);
    // The same array again, a copy with the same strings, or the vector's.
    const required = [lists[n], copies[n], v.required_scopes][random(3)];
    const source = [v.source_ip, sources[random(sources.length)]][random(2)];
    const args = [v.presented, required, v.now, source];
    calls.push({ k, args, want: validate(v.presented, v.record, ...args.slice(1)), interleave: random(10) === 0 });
  }
  const prepared = withRecord.map((v) => new PreparedRecord(v.record));
  for (const [i, { k, args, want, interleave }] of calls.entries()) {
    if (interleave) validate(base.presented, base.record, ["billing:read"], base.now);
    assert.deepStrictEqual(prepared[k].validate(...args), want, `${i}: ${withRecord[k].name}, ${JSON.stringify(args.slice(1))}`);
  }
  for (const p of prepared) p.free();
});

test("the constructor refuses what validate refuses, with the same error", () => {
  assert.throws(() => new PreparedRecord(null), (e) => e.code === "INVALID_RECORD");
  assert.throws(() => new PreparedRecord(undefined), (e) => e.code === "INVALID_RECORD");
  const bad = { ...base.record, allowed_ips: ["10.0.0.0/8", "10.0.0.0/33"] };
  let oneShot;
  try {
    validate(base.presented, bad, [], base.now);
  } catch (e) {
    oneShot = e;
  }
  assert.throws(
    () => new PreparedRecord(bad),
    (e) => e instanceof Error && e.code === oneShot.code && e.message === oneShot.message,
  );
});
