// A Node app as an ES module: the package by name (its "node" export,
// node.mjs). Prints what consumers.test.mjs checks, as JSON.
import { readFileSync } from "node:fs";
import init, { init as named, keyId, PreparedRecord, validate } from "@keyward/wasm-validator";
import { runAll } from "./cases.mjs";

await init();
await named();
const { vectors } = JSON.parse(readFileSync(process.argv[2], "utf8"));
process.stdout.write(
  JSON.stringify({
    init: [typeof init, typeof named],
    results: runAll({ keyId, validate, PreparedRecord }, vectors),
  }),
);
