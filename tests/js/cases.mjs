// The cases every JS runtime runs against @keyward/wasm-validator: the shared
// verdict vectors (tests/verdict_vectors.json, generated and checked by the
// Rust tests) and a few cases of the JS binding itself (argument errors,
// defaults, buffer growth). Plain ES module, no Node APIs: the Chromium page
// imports it too. Runtimes run the cases with `runAll` and hand the results
// to `expectations` (in Node) to compare.

/** The verdict `validate` should return for a vector: POST /verify's
 * answer (snake_case) in camelCase. */
export function camel(expected) {
  const out = { valid: expected.valid, code: expected.code };
  if ("key_id" in expected) out.keyId = expected.key_id;
  if ("application_id" in expected) out.applicationId = expected.application_id;
  if ("account" in expected) out.account = expected.account;
  if ("scopes" in expected) out.scopes = expected.scopes;
  if ("expires_at" in expected) out.expiresAt = expected.expires_at;
  return out;
}

const named = (vectors, name) => {
  const vector = vectors.find((v) => v.name === name);
  if (!vector) throw new Error(`no vector named ${name}`);
  return structuredClone(vector);
};

/** Cases of the binding: [{ name, args, expect }], `expect` either a
 * verdict or `{ error: code }`. JSON-serialisable (sent to the page). */
export function bindingCases(vectors) {
  const base = named(vectors, "valid bare key");
  const { presented, record, now } = base;
  const key = presented;
  const valid = camel(base.expected);
  const notFound = { valid: false, code: "NOT_FOUND", keyId: valid.keyId };
  const malformed = { valid: false, code: "MALFORMED" };
  const without = (field) => {
    const r = structuredClone(record);
    delete r[field];
    return r;
  };
  const withField = (field, value) => ({ ...structuredClone(record), [field]: value });
  const cases = [];
  const add = (name, args, expect) => cases.push({ name, args, expect });

  for (const field of [
    "key_id",
    "application_id",
    "account",
    "hash",
    "status",
    "expires_at",
    "scopes",
    "application_status",
    "owner_status",
  ]) {
    add(`record without ${field}`, [key, without(field), [], now], { error: "INVALID_RECORD" });
  }
  add("record status expired (derived, never stored)", [key, withField("status", "expired"), [], now], {
    error: "INVALID_RECORD",
  });
  add("record expires_at as a string", [key, withField("expires_at", String(record.expires_at)), [], now], {
    error: "INVALID_RECORD",
  });
  add("record expires_at not whole", [key, withField("expires_at", record.expires_at + 0.5), [], now], {
    error: "INVALID_RECORD",
  });
  add("record revoke_at as a string", [key, withField("revoke_at", "soon"), [], now], {
    error: "INVALID_RECORD",
  });
  add("record scopes not an array", [key, withField("scopes", "sims:*"), [], now], { error: "INVALID_RECORD" });
  add("record scope not a string", [key, withField("scopes", ["sims:*", 7]), [], now], {
    error: "INVALID_RECORD",
  });
  add("record scope with a line break", [key, withField("scopes", ["sims:*", "a\nb"]), [], now], {
    error: "INVALID_RECORD",
  });
  add("record a string", [key, JSON.stringify(record), [], now], { error: "INVALID_RECORD" });
  add("record error even for a malformed key", ["x", without("hash"), [], now], { error: "INVALID_RECORD" });
  add("required scope not in the grammar", [key, record, ["Sims:Read"], now], { error: "INVALID_SCOPE" });
  add("required scope with a line break", [key, record, ["sims:read\nbilling:read"], now], {
    error: "INVALID_SCOPE",
  });
  add("required scope not a string", [key, record, [42], now], { error: "INVALID_SCOPE" });
  add(
    "65 required scopes",
    [key, record, Array.from({ length: 65 }, (_, i) => `s${i}:read`), now],
    { error: "INVALID_SCOPE" },
  );
  add("requiredScopes a string", [key, record, "sims:read", now], { error: "INVALID_ARGUMENT" });
  add("nowSeconds not a number", [key, record, [], Number.NaN], { error: "INVALID_ARGUMENT" });

  add("record with an unknown field is read", [key, withField("note", "ignored"), [], now], valid);
  add("record revoke_at null", [key, withField("revoke_at", null), [], now], valid);
  add("record hash in upper case", [key, withField("hash", record.hash.toUpperCase()), [], now], valid);
  add("record key_id with a line break", [key, withField("key_id", `${record.key_id}\n`), [], now], notFound);
  add("record hash too long", [key, withField("hash", record.hash.repeat(4)), [], now], notFound);
  add("record undefined", [key, undefined, [], now], notFound);
  add("requiredScopes null", [key, record, null, now], valid);
  add("requiredScopes undefined", [key, record, undefined, now], valid);
  add("presented null (no Authorization header)", [null, record, [], now], malformed);
  add("presented undefined", [undefined, null, [], now], malformed);
  add("presented a number", [42, record, [], now], malformed);
  add(
    "nowSeconds half a second before expiry",
    [key, record, [], record.expires_at - 0.5],
    valid,
  );
  add(
    "nowSeconds late in the second of expiry",
    [key, record, [], record.expires_at + 0.999],
    { ...valid, valid: false, code: "EXPIRED" },
  );
  add(
    "nowSeconds omitted: the current time (key valid until 2100)",
    [key, withField("expires_at", 4_102_444_800)],
    { ...valid, expiresAt: 4_102_444_800 },
  );
  add(
    "nowSeconds omitted: the current time (key expired in 2001)",
    [key, withField("expires_at", 1_000_000_000)],
    { ...valid, valid: false, code: "EXPIRED", expiresAt: 1_000_000_000 },
  );
  add("a 4000-character value", ["x".repeat(4000), record, [], now], malformed);
  add("a key after 3000 spaces", [`Bearer ${" ".repeat(3000)}${key}`, record, [], now], valid);
  add(
    "many long granted scopes",
    [
      key,
      withField("scopes", [...Array.from({ length: 60 }, (_, i) => `resource${i}.${"x".repeat(100)}:read`), "sims:*"]),
      ["sims:read", "resource59.".concat("x".repeat(100), ":read")],
      now,
    ],
    {
      ...valid,
      scopes: [...Array.from({ length: 60 }, (_, i) => `resource${i}.${"x".repeat(100)}:read`), "sims:*"],
    },
  );
  add("Bearer and a no-break space", [`Bearer\u00a0${key}`, record, [], now], valid);
  // U+2003 is one UTF-16 unit and three UTF-8 bytes: the key id is sliced at
  // the right place.
  add("em spaces before an unknown key", [`\u2003\u2003${key}`, null, [], now], notFound);
  add("an emoji before the key", [`\u{1f511} ${key}`, record, [], now], malformed);
  add("a lone surrogate", [`${key}\ud800`, record, [], now], malformed);

  // Source addresses and metered records (the vectors have the verdicts;
  // these are the binding's reading of the new fields and argument).
  const restricted = (ips) => withField("allowed_ips", ips);
  const ipRefused = { ...valid, valid: false, code: "IP_NOT_ALLOWED" };
  add("record allowed_ips not an array", [key, restricted("10.0.0.0/8"), [], now, "10.0.0.1"], {
    error: "INVALID_RECORD",
  });
  add("record allowed_ips entry not a string", [key, restricted(["10.0.0.0/8", 7]), [], now], {
    error: "INVALID_RECORD",
  });
  add("record allowed_ips entry not an address", [key, restricted(["10.0.0.0/8", "10.0.0.0/33"]), [], now], {
    error: "INVALID_RECORD",
  });
  add("record allowed_ips entry with a line break", [key, restricted(["10.0.0.0/8\n10.0.0.1"]), [], now], {
    error: "INVALID_RECORD",
  });
  add(
    "record with 51 allowed_ips",
    [key, restricted(Array.from({ length: 51 }, (_, i) => `10.0.${i}.0/24`)), [], now, "10.0.0.1"],
    { error: "INVALID_RECORD" },
  );
  add("record allowed_ips error even for a malformed key", ["x", restricted(["nope"]), [], now], {
    error: "INVALID_RECORD",
  });
  add("record metered not a boolean", [key, withField("metered", "yes"), [], now], { error: "INVALID_RECORD" });
  add("sourceIp a number", [key, record, [], now, 167772161], { error: "INVALID_ARGUMENT" });
  add("sourceIp a number, no record", [key, null, [], now, 167772161], { error: "INVALID_ARGUMENT" });
  add("record allowed_ips null", [key, restricted(null), [], now], valid);
  add("record allowed_ips empty", [key, restricted([]), [], now], valid);
  add("record metered null", [key, withField("metered", null), [], now], valid);
  add("record metered false", [key, withField("metered", false), [], now, "10.0.0.1"], valid);
  add("sourceIp with no restriction is not read", [key, record, [], now, "not an address"], valid);
  add("sourceIp null for a restricted key", [key, restricted(["10.0.0.0/8"]), [], now, null], ipRefused);
  add("sourceIp with a line break", [key, restricted(["10.0.0.0/8"]), [], now, "10.0.0.1\n"], ipRefused);
  add("sourceIp with no record", [key, null, [], now, "10.0.0.1"], notFound);
  add(
    "sourceIp in the last of 50 long IPv6 blocks (buffer growth)",
    [
      key,
      restricted(Array.from({ length: 50 }, (_, i) => `2001:db8:${i.toString(16)}:ffff:ffff:ffff:ffff:0/112`)),
      ["sims:read"],
      now,
      "2001:db8:31:ffff:ffff:ffff:ffff:abcd",
    ],
    valid,
  );
  add(
    "metered record: CENTRAL_CHECK_REQUIRED with the record's fields",
    [key, withField("metered", true), ["sims:read"], now],
    { ...valid, valid: false, code: "CENTRAL_CHECK_REQUIRED" },
  );
  return cases;
}

/** keyId of a vector: the key id, or a MALFORMED error. */
export function expectedKeyId(vector) {
  return vector.expected.code === "MALFORMED" ? { error: "MALFORMED" } : { keyId: vector.expected.key_id };
}

function attempt(f) {
  try {
    return { value: f() };
  } catch (error) {
    return { error: error?.code ?? `uncoded: ${error}`, isError: error instanceof Error };
  }
}

/** `validate(presented, record, ...rest)` through a PreparedRecord of
 * `record` (null when there is no record to prepare), freed after. */
function prepared(api, [presented, record, ...rest]) {
  if (record == null) return null;
  return attempt(() => {
    const p = new api.PreparedRecord(record);
    try {
      return p.validate(presented, ...rest);
    } finally {
      p.free();
    }
  });
}

/** Runs every case with `api` ({ keyId, validate, PreparedRecord }), each
 * `validate` also through a PreparedRecord: plain data back. */
export function runAll(api, vectors) {
  const vectorResults = vectors.map((v) => {
    const args = [v.presented, v.record, v.required_scopes, v.now, v.source_ip];
    return {
      name: v.name,
      verdict: attempt(() => api.validate(...args)),
      keyId: attempt(() => api.keyId(v.presented)),
      prepared: prepared(api, args),
    };
  });
  const caseResults = bindingCases(vectors).map((c) => ({
    name: c.name,
    verdict: attempt(() => api.validate(...c.args)),
    prepared: prepared(api, c.args),
  }));
  return { vectors: vectorResults, cases: caseResults };
}

/** What each result should be: { vectors: [{name, verdict, keyId, prepared}],
 * cases: [{name, verdict, prepared}] }, in the shape `runAll` returns: a
 * PreparedRecord gives exactly what `validate` gives. */
export function expectations(vectors) {
  return {
    vectors: vectors.map((v) => {
      const id = expectedKeyId(v);
      const verdict = { value: camel(v.expected) };
      return {
        name: v.name,
        verdict,
        keyId: "error" in id ? { error: id.error, isError: true } : { value: id.keyId },
        prepared: v.record == null ? null : verdict,
      };
    }),
    cases: bindingCases(vectors).map((c) => {
      const verdict = "error" in c.expect ? { error: c.expect.error, isError: true } : { value: c.expect };
      return { name: c.name, verdict, prepared: c.args[1] == null ? null : verdict };
    }),
  };
}
