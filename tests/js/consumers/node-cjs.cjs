// A Node app in CommonJS: require() of the package by name (its "node"
// export's "require" condition, node.cjs). Prints what consumers.test.mjs
// checks, as JSON.
const { readFileSync } = require("node:fs");
const { basename } = require("node:path");
const api = require("@keyward/wasm-validator");

(async () => {
  const { runAll } = await import("./cases.mjs");
  await api.init();
  await api.default();
  const { vectors } = JSON.parse(readFileSync(process.argv[2], "utf8"));
  process.stdout.write(
    JSON.stringify({
      entry: basename(require.resolve("@keyward/wasm-validator")),
      init: [typeof api.init, typeof api.default],
      results: runAll(api, vectors),
    }),
  );
})();
