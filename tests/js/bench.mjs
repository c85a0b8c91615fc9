// Benchmark of @keyward/wasm-validator in Node (BENCHMARKS.md, "Core, wasm
// in Node"): one whole `validate` call, and one `PreparedRecord.validate`
// (the record read and encoded once, as a record cache does), against
// hashing the same key alone with node:crypto's createHash('sha256') and
// with crypto.subtle.digest.
//
//   node tests/js/bench.mjs [--iterations N] [--rounds R] [--json]
//                           [--package DIR]
//
// Each round times every variant once, N calls each (subtle.digest N/10,
// awaited one at a time, as a verifier would), in turn; the figure per
// variant is the median over the rounds. Needs the package built (npm
// --prefix wasm-validator run build) and tests/js installed (npm ci).
// --package DIR times another build of the package (its node.mjs), e.g. an
// older one to compare with; without PreparedRecord, those rows are left
// out.

import { createHash, webcrypto } from "node:crypto";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";
import { loadVectors, pkgDir as builtPkg } from "./support.mjs";

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at < 0 ? fallback : args[at + 1];
};
const iterations = Number(option("--iterations", 200_000));
const rounds = Number(option("--rounds", 9));
const pkgDir = resolve(option("--package", builtPkg));
const { keyId, validate, PreparedRecord } =
  pkgDir === builtPkg
    ? await import("@keyward/wasm-validator")
    : await import(pathToFileURL(join(pkgDir, "node.mjs")).href);

const vectors = loadVectors();
const plain = vectors.find((v) => v.name === "valid bare key");
const scoped = vectors.find((v) => v.name === "scope granted by a trailing wildcard");
const key = plain.presented;
const encoder = new TextEncoder();
let sink = 0;

for (const v of [plain, scoped]) {
  const verdict = validate(v.presented, v.record, v.required_scopes, v.now);
  if (!verdict.valid) throw new Error(`${v.name}: ${verdict.code}`);
}
// What a record cache holds: one prepared record per key (plain and scoped
// are the same key and record).
const prepared = PreparedRecord && new PreparedRecord(plain.record);
const required = scoped.required_scopes;

const variants = [
  {
    name: "validate(key, record, [], now)",
    run(n) {
      for (let i = 0; i < n; i++) sink += validate(key, plain.record, [], plain.now).valid ? 1 : 0;
    },
  },
  {
    name: 'validate(key, record, ["sims:read"], now)',
    run(n) {
      for (let i = 0; i < n; i++) {
        sink += validate(scoped.presented, scoped.record, scoped.required_scopes, scoped.now).valid ? 1 : 0;
      }
    },
  },
  {
    name: "prepared.validate(key, [], now)",
    skip: !prepared,
    run(n) {
      for (let i = 0; i < n; i++) sink += prepared.validate(key, [], plain.now).valid ? 1 : 0;
    },
  },
  {
    name: 'prepared.validate(key, ["sims:read"], now)',
    skip: !prepared,
    run(n) {
      for (let i = 0; i < n; i++) sink += prepared.validate(key, required, scoped.now).valid ? 1 : 0;
    },
  },
  {
    name: "keyId(key)",
    run(n) {
      for (let i = 0; i < n; i++) sink += keyId(key).length;
    },
  },
  {
    name: "createHash('sha256').update(key).digest()",
    run(n) {
      for (let i = 0; i < n; i++) sink += createHash("sha256").update(key).digest()[0];
    },
  },
  {
    name: "await crypto.subtle.digest('SHA-256', encode(key))",
    share: 10,
    async run(n) {
      for (let i = 0; i < n; i++) {
        sink += new Uint8Array(await webcrypto.subtle.digest("SHA-256", encoder.encode(key)))[0];
      }
    },
  },
];

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const timed = variants.filter((v) => !v.skip);
const samples = new Map(timed.map((v) => [v.name, []]));
for (const v of timed) await v.run(Math.max(1, Math.floor(iterations / (v.share ?? 1) / 10))); // warm-up
for (let r = 0; r < rounds; r++) {
  for (const v of timed) {
    const n = Math.max(1, Math.floor(iterations / (v.share ?? 1)));
    const start = process.hrtime.bigint();
    await v.run(n);
    samples.get(v.name).push(Number(process.hrtime.bigint() - start) / n);
  }
}
const ns = Object.fromEntries(timed.map((v) => [v.name, median(samples.get(v.name))]));
const [plainName, scopedName, preparedName, preparedScopedName, , hashName, subtleName] = variants.map(
  (v) => v.name,
);
const over = (a, b) => (ns[a] && ns[b] ? ns[a] / ns[b] : undefined);

const wasm = readFileSync(join(pkgDir, "web", "keyward_validator_bg.wasm"));
const result = {
  node: process.version,
  iterations,
  rounds,
  package: pkgDir,
  ns_per_call: ns,
  createHash_over_validate: over(hashName, plainName),
  createHash_over_validate_with_scope: over(hashName, scopedName),
  createHash_over_prepared: over(hashName, preparedName),
  createHash_over_prepared_with_scope: over(hashName, preparedScopedName),
  subtle_over_validate: over(subtleName, plainName),
  subtle_over_validate_with_scope: over(subtleName, scopedName),
  wasm_bytes: wasm.length,
  wasm_gzip_bytes: gzipSync(wasm, { level: 9 }).length,
};

if (args.includes("--json")) {
  console.log(JSON.stringify(result, null, 2));
} else {
  console.log(`Node ${process.version}, ${iterations} calls x ${rounds} rounds, median ns per call\n`);
  console.log("| call | ns per call |\n| --- | ---: |");
  for (const [name, value] of Object.entries(ns)) console.log(`| \`${name}\` | ${value.toFixed(0)} |`);
  const ratio = (x) => (x === undefined ? "-" : `${x.toFixed(2)}x`);
  console.log(`
createHash / validate: ${ratio(result.createHash_over_validate)} (no scope), ${ratio(result.createHash_over_validate_with_scope)} (one scope); goal >= 1.00x
createHash / prepared.validate: ${ratio(result.createHash_over_prepared)} (no scope), ${ratio(result.createHash_over_prepared_with_scope)} (one scope); goal >= 1.50x with one scope
subtle.digest / validate: ${ratio(result.subtle_over_validate)} (no scope), ${ratio(result.subtle_over_validate_with_scope)} (one scope); goal >= 10x
.wasm: ${result.wasm_bytes} bytes raw, ${result.wasm_gzip_bytes} bytes gzip -9; goal <= 65536 raw`);
}
if (sink === 0.5) console.log(sink); // keeps the loops' results alive
