// Node: the package's Node entry points over the shared vectors.
//
// `@keyward/wasm-validator` is a `file:` dependency of tests/js, linked to
// wasm-validator/pkg, so importing it by name goes through the package's
// `exports` map ("node" condition: the ES module entry); `require()` of the
// folder itself is the CommonJS entry (node.cjs over wasm-bindgen's nodejs
// target). consumers.test.mjs installs the packed package as users do.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { promisify } from "node:util";
import { test } from "node:test";
import { camel, runAll } from "./cases.mjs";
import { checkResults, here, loadVectors, pkgDir } from "./support.mjs";

const vectors = loadVectors();
const run = (cmd, args) => promisify(execFile)(cmd, args, { cwd: here, maxBuffer: 1 << 24 });

test("import '@keyward/wasm-validator' (exports: node, ES module)", async (t) => {
  const api = await import("@keyward/wasm-validator");
  assert.equal(typeof api.default, "function", "a default init()");
  await api.default();
  await checkResults(t, runAll(api, vectors), vectors);
});

test("require() of wasm-validator/pkg (CommonJS, wasm-bindgen's nodejs target)", async (t) => {
  const api = createRequire(import.meta.url)(pkgDir);
  assert.equal(typeof api.init, "function", "init(), as every entry has");
  assert.equal(api.default, api.init, "and as `default`, for default imports");
  assert.equal(api.__esModule, true);
  await api.init();
  await checkResults(t, runAll(api, vectors), vectors);
});

test("the package's exports resolve per runtime", async () => {
  const manifest = createRequire(import.meta.url)("@keyward/wasm-validator/package.json");
  const dot = manifest.exports["."];
  for (const condition of ["workerd", "browser", "node", "import", "types", "default"]) {
    assert.ok(condition in dot, `exports["."] has "${condition}"`);
  }
  assert.equal(dot.workerd.default, "./workerd.js");
  assert.equal(dot.browser.default, "./browser.js");
  assert.equal(dot.node.require.default, "./node.cjs");
  assert.match(import.meta.resolve("@keyward/wasm-validator"), /\/node\.mjs$/);
});

test("a verdict's scopes are the caller's own copy", async () => {
  const { validate } = await import("@keyward/wasm-validator");
  const v = vectors.find((x) => x.name === "valid bare key");
  const verdict = validate(v.presented, v.record, [], v.now);
  verdict.scopes.push("admin:*");
  assert.deepStrictEqual(v.record.scopes, v.expected.scopes);
});

test("keyId and validate agree on every vector's key id", async () => {
  const { keyId, validate } = await import("@keyward/wasm-validator");
  for (const v of vectors) {
    const verdict = validate(v.presented, v.record, v.required_scopes, v.now, v.source_ip);
    if (verdict.code === "MALFORMED") {
      assert.throws(() => keyId(v.presented), (e) => e instanceof Error && e.code === "MALFORMED");
    } else {
      assert.equal(keyId(v.presented), verdict.keyId, v.name);
    }
  }
});

test("the bundler entry (WebAssembly ES module integration, as webpack or Vite load it)", async (t) => {
  // Node imports .wasm as a module behind --experimental-wasm-modules.
  const script = `
    import * as api from "@keyward/wasm-validator/bundler";
    import { camel, runAll } from "./cases.mjs";
    import { loadVectors } from "./support.mjs";
    process.stdout.write(JSON.stringify(runAll(api, loadVectors())));
  `;
  const { stdout } = await run(process.execPath, [
    "--experimental-wasm-modules",
    "--no-warnings",
    "--input-type=module",
    "-e",
    script,
  ]);
  await checkResults(t, JSON.parse(stdout), vectors);
});

test("bench.mjs runs (a few calls; BENCHMARKS.md has the real figures)", async () => {
  const { stdout } = await run(process.execPath, ["bench.mjs", "--iterations", "200", "--rounds", "1", "--json"]);
  const result = JSON.parse(stdout);
  assert.ok(result.ns_per_call["validate(key, record, [], now)"] > 0);
  assert.ok(result.ns_per_call['prepared.validate(key, ["sims:read"], now)'] > 0);
  assert.ok(result.createHash_over_prepared_with_scope > 0);
  assert.ok(result.wasm_bytes <= 64 * 1024, `${result.wasm_bytes} bytes of WebAssembly`);
});

test("the TypeScript types hold for the node, workerd and browser entries (tsc --noEmit)", async (t) => {
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  for (const entry of ["node", "workerd", "browser"]) {
    await t.test(entry, async () => {
      await run(process.execPath, [tsc, "-p", `types/tsconfig.${entry}.json`]);
    });
  }
});

test("validate called again from a record's getter: an error, and the module keeps working", async () => {
  const { validate } = await import("@keyward/wasm-validator");
  const v = vectors.find((x) => x.name === "valid bare key");
  const sneaky = {
    ...v.record,
    get key_id() {
      return validate(v.presented, v.record, [], v.now).keyId;
    },
  };
  assert.throws(() => validate(v.presented, sneaky, [], v.now), (e) => e.code === "INVALID_ARGUMENT");
  assert.equal(validate(v.presented, v.record, [], v.now).code, "VALID");
});

test("a record's getter that throws: its error, and the module keeps working", async () => {
  const { validate } = await import("@keyward/wasm-validator");
  const v = vectors.find((x) => x.name === "valid bare key");
  const boom = new Error("boom");
  for (const field of ["key_id", "hash", "scopes", "owner_status"]) {
    const record = { ...v.record };
    Object.defineProperty(record, field, {
      enumerable: true,
      get() {
        throw boom;
      },
    });
    assert.throws(() => validate(v.presented, record, [], v.now), (e) => e === boom, field);
    assert.equal(validate(v.presented, v.record, [], v.now).code, "VALID");
  }
  const scopes = new Proxy(["sims:*"], {
    get(target, key) {
      if (key === "0") throw boom;
      return Reflect.get(target, key);
    },
  });
  assert.throws(() => validate(v.presented, { ...v.record, scopes }, [], v.now), (e) => e === boom);
  assert.throws(() => validate(v.presented, v.record, scopes, v.now), (e) => e === boom);
  assert.equal(validate(v.presented, v.record, [], v.now).code, "VALID");
});

test("each record field is read once: the verdict is what was decided", async () => {
  const { validate } = await import("@keyward/wasm-validator");
  for (const name of ["valid bare key", "metered key from an allowed address"]) {
    const v = vectors.find((x) => x.name === name);
    const reads = {};
    const record = {};
    for (const [field, value] of Object.entries(v.record)) {
      Object.defineProperty(record, field, {
        enumerable: true,
        get() {
          reads[field] = (reads[field] ?? 0) + 1;
          return reads[field] === 1 ? value : `changed ${field}`;
        },
      });
    }
    assert.deepStrictEqual(validate(v.presented, record, [], v.now, v.source_ip), camel(v.expected), name);
    assert.ok(Object.values(reads).every((n) => n === 1), JSON.stringify(reads));
    assert.equal(Object.keys(reads).length, Object.keys(v.record).length, name);
  }
});

test("a bad allowed_ips entry: INVALID_RECORD naming the entry", async () => {
  const { validate } = await import("@keyward/wasm-validator");
  const v = vectors.find((x) => x.name === "valid bare key");
  const record = { ...v.record, allowed_ips: ["10.0.0.0/8", "10.0.0.0/33"] };
  assert.throws(
    () => validate(v.presented, record, [], v.now, "10.0.0.1"),
    (e) => e instanceof Error && e.code === "INVALID_RECORD" && e.message.includes('allowed_ips[1] ("10.0.0.0/33")'),
  );
});
