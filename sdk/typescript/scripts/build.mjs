// Builds @keyward/sdk into dist/:
//   1. openapi-typescript writes src/generated/openapi.ts from
//      infra/openapi.yaml (never committed: the types are the document's,
//      made fresh by every build, so they cannot drift from it), and must
//      do so without a warning;
//   2. tsc compiles src/ twice, in parallel: ES modules with their types
//      into dist/esm, CommonJS with its types into dist/cjs (marked
//      "type": "commonjs" by a package.json of its own).
// `npm run build` runs it; `npm pack` then packs dist/ and the README.

import { spawn } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = join(dirname(fileURLToPath(import.meta.url)), "..");
const document = join(here, "../../infra/openapi.yaml");
const bin = (name) => join(here, "node_modules/.bin", name);

function run(command, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: here, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve(output) : reject(new Error(`${command} ${args.join(" ")} exited with ${code}:\n${output}`)),
    );
  });
}

mkdirSync(join(here, "src/generated"), { recursive: true });
const generated = await run(bin("openapi-typescript"), [document, "-o", join(here, "src/generated/openapi.ts")]);
if (/warn|error/i.test(generated)) {
  throw new Error(`openapi-typescript did not take infra/openapi.yaml cleanly:\n${generated}`);
}

rmSync(join(here, "dist"), { recursive: true, force: true });
await Promise.all([run(bin("tsc"), ["-p", "tsconfig.json"]), run(bin("tsc"), ["-p", "tsconfig.cjs.json"])]);
writeFileSync(join(here, "dist/cjs/package.json"), `${JSON.stringify({ type: "commonjs" }, null, 2)}\n`);
console.log("@keyward/sdk built: dist/esm (ES modules), dist/cjs (CommonJS), types in each");
