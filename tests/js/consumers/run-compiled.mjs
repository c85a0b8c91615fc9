// Runs a compiled check.ts (consumers.test.mjs: what tsc emitted for
// node16, as an ES module or as CommonJS) on one vector, and prints the
// verdicts of its main() as JSON.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [compiled, vectorsFile, name] = process.argv.slice(2);
const { vectors } = JSON.parse(readFileSync(vectorsFile, "utf8"));
const vector = vectors.find((v) => v.name === name);
const module = await import(pathToFileURL(compiled).href);
const main = module.main ?? module.default.main;
process.stdout.write(JSON.stringify(await main(vector.presented, vector.record, vector.now)));
