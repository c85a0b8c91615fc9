// The console's scope matching (console/session.js scopeSatisfies, which
// decides which scopes a user may grant) against the core's cases: the
// scope vectors of tests/verdict_vectors.json, and the scope_satisfies
// assertions of wasm-validator/src/scope.rs's tests, read from that file so
// a case added there is checked here too. No browser: session.js touches
// the DOM only when called for it.
//
// Run by tests/console.sh.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Session, permissionsOf, scopeSatisfies } from "../../console/session.js";
import { loadVectors, root } from "./support.mjs";

/** The console's answer to "does this key's record grant every required
 * scope", the question the verifier's INSUFFICIENT_SCOPE answers. */
const grantsAll = (granted, required) => required.every((r) => granted.some((g) => scopeSatisfies(g, r)));

test("scopeSatisfies agrees with the verdict vectors' scope cases", async (t) => {
  // Only vectors whose verdict is decided by the scopes: a live key (VALID)
  // or one refused for its scopes. Other refusals come before the scopes.
  const cases = loadVectors().filter(
    (v) => v.record && v.required_scopes.length > 0 && ["VALID", "INSUFFICIENT_SCOPE"].includes(v.expected.code),
  );
  assert.ok(cases.length >= 10, `${cases.length} scope vectors`);
  assert.ok(cases.some((v) => v.expected.code === "INSUFFICIENT_SCOPE"));
  for (const v of cases) {
    await t.test(v.name, () => {
      assert.equal(grantsAll(v.record.scopes, v.required_scopes), v.expected.code === "VALID");
    });
  }
});

/** `assert!(scope_satisfies("g", "r"))` and `assert!(!…)` lines, and
 * `granted_by([...], "r")`, of the Rust tests. */
function rustCases() {
  const source = readFileSync(join(root, "wasm-validator", "src", "scope.rs"), "utf8");
  const tests = source.slice(source.indexOf("#[cfg(test)]"));
  const cases = [];
  for (const m of tests.matchAll(/assert!\((!?)scope_satisfies\("([^"]*)",\s*"([^"]*)"\)\)/g)) {
    cases.push({ granted: [m[2]], required: m[3], expected: m[1] !== "!" });
  }
  for (const m of tests.matchAll(/assert!\((!?)granted_by\(\[([^\]]*)\],\s*"([^"]*)"\)\)/g)) {
    const granted = [...m[2].matchAll(/"([^"]*)"/g)].map((g) => g[1]);
    cases.push({ granted, required: m[3], expected: m[1] !== "!" });
  }
  // Every such assertion was understood (none skipped by the patterns).
  const asserted = tests.match(/assert!\(!?(scope_satisfies|granted_by)\(/g) ?? [];
  assert.equal(cases.length, asserted.length, "every scope assertion of scope.rs was read");
  return cases;
}

test("scopeSatisfies agrees with the Rust scope tests (wasm-validator/src/scope.rs)", async (t) => {
  const cases = rustCases();
  assert.ok(cases.length >= 10, `found ${cases.length} cases in scope.rs`);
  for (const c of cases) {
    await t.test(`${c.expected ? "" : "not "}${c.granted.join(" ")} ⊇ ${c.required}`, () => {
      assert.equal(grantsAll(c.granted, [c.required]), c.expected);
    });
  }
});

test("Session.has reads permissions as the API does and matches them like scopes", () => {
  assert.deepStrictEqual(permissionsOf({ permissions: "[keys:*:any audit:view]" }), ["keys:*:any", "audit:view"]);
  assert.deepStrictEqual(permissionsOf({ permissions: ["a:b c:d", 7] }), ["a:b", "c:d"]);
  const payload = Buffer.from(JSON.stringify({ sub: "alice", permissions: "keys:*:any" })).toString("base64url");
  const session = new Session(`e30.${payload}.sig`, "", "account");
  assert.equal(session.has("keys:view:any"), true);
  assert.equal(session.has("keys:view:own"), false);
  assert.equal(session.has("keys:view"), false);
});
