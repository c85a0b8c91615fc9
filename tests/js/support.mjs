// Node-side helpers of the JS tests: paths, the vectors, and the comparison
// of a runtime's results with what the vectors and cases expect.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expectations } from "./cases.mjs";

export const here = dirname(fileURLToPath(import.meta.url));
export const root = join(here, "..", "..");
export const pkgDir = join(root, "wasm-validator", "pkg");
export const vectorsFile = join(root, "tests", "verdict_vectors.json");

export function loadVectors() {
  const { vectors } = JSON.parse(readFileSync(vectorsFile, "utf8"));
  assert.ok(vectors.length >= 40, "tests/verdict_vectors.json has the vectors");
  return vectors;
}

/** One subtest per vector and per binding case, comparing `results` (from
 * `runAll`, in whatever runtime) with the expectations. */
export async function checkResults(t, results, vectors) {
  const want = expectations(vectors);
  assert.equal(results.vectors.length, want.vectors.length, "every vector ran");
  assert.equal(results.cases.length, want.cases.length, "every case ran");
  for (const [i, expected] of want.vectors.entries()) {
    await t.test(`vector: ${expected.name}`, () => {
      assert.deepStrictEqual(results.vectors[i], expected);
    });
  }
  for (const [i, expected] of want.cases.entries()) {
    await t.test(`case: ${expected.name}`, () => {
      assert.deepStrictEqual(results.cases[i], expected);
    });
  }
}
