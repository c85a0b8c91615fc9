// The SDK as a user's project gets it: the tarball `npm pack` made,
// installed here by tests/sdk_typescript.sh (node_modules/@keyward/sdk is
// that tarball's content, not the source folder). tsc --strict compiles
// consumer/ with Node's resolution (ES module), a bundler's, and as
// CommonJS, with skipLibCheck off; the compiled client lifecycle then runs
// against a live keyward serve, and the CommonJS build runs in Node.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFileSync, existsSync, lstatSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { deadUrl, here, listen, startKeyward, vector } from "./support.mjs";

const run = promisify(execFile);
const tsc = join(here, "node_modules/typescript/bin/tsc");
// Inside tests/, so the compiled files resolve packages from its node_modules.
const out = mkdtempSync(join(here, ".build-"));
let compiled;

before(() => {
  // The three compilations at once: tsc is the slow part of this file.
  const compile = (config, ...args) =>
    run(process.execPath, [tsc, "-p", join(here, config), ...args]).catch((error) => {
      throw new Error(`tsc -p ${config} failed:\n${error.stdout}${error.stderr}`);
    });
  compiled = Promise.allSettled([
    compile("consumer/tsconfig.json", "--outDir", join(out, "esm")),
    compile("consumer/tsconfig.bundler.json"),
    compile("consumer/cjs/tsconfig.json", "--outDir", join(out, "cjs")),
  ]);
});
after(() => rmSync(out, { recursive: true, force: true }));

const settled = async (i) => {
  const result = (await compiled)[i];
  if (result.status === "rejected") throw result.reason;
};

test("the installed @keyward/sdk is the packed tarball: dist and the README, no sources", () => {
  const installed = join(here, "node_modules/@keyward/sdk");
  assert.equal(lstatSync(installed).isSymbolicLink(), false, "not a link to the source folder");
  const manifest = JSON.parse(readFileSync(join(installed, "package.json"), "utf8"));
  assert.equal(manifest.name, "@keyward/sdk");
  for (const file of ["README.md", "dist/esm/index.js", "dist/esm/index.d.ts", "dist/cjs/index.js", "dist/cjs/package.json", "dist/esm/generated/openapi.d.ts"]) {
    assert.ok(existsSync(join(installed, file)), `${file} is in the package`);
  }
  for (const file of ["src", "scripts", "tests", "tsconfig.json"]) {
    assert.equal(existsSync(join(installed, file)), false, `${file} is not in the package`);
  }
  assert.equal(lstatSync(join(here, "node_modules/@keyward/wasm-validator")).isSymbolicLink(), false);
});

test("tsc --strict: a consumer with Node's resolution (ES module), every @ts-expect-error an error", () => settled(0));
test("tsc --strict: the same consumer with a bundler's resolution and the DOM library", () => settled(1));
test("tsc --strict: a CommonJS consumer", () => settled(2));

test("the compiled client lifecycle against a live keyward serve: every route, every answer typed", async () => {
  await settled(0);
  // Webhooks may go to plain http on loopback: the receiver below.
  const keyward = await startKeyward({ KEYWARD_WEBHOOK_ALLOW_INSECURE: "true" });
  const received = [];
  const receiver = await listen(async (req, res) => {
    let body = "";
    for await (const chunk of req) body += chunk;
    received.push(JSON.parse(body).type);
    res.writeHead(204).end();
  });
  try {
    const admin = await keyward.token("admin", "acct-lifecycle", "sims:*");
    const leaver = await keyward.token("leaver", "acct-lifecycle", "sims:*");
    const { stdout } = await run(process.execPath, [join(out, "esm/lifecycle.js"), keyward.url, admin, leaver, `${receiver.url}/hook`]).catch(
      (error) => {
        throw new Error(`the lifecycle failed:\n${error.stdout}${error.stderr}`);
      },
    );
    assert.match(stdout, /lifecycle through @keyward\/sdk: \d+ management calls/);
    assert.ok(received.includes("key.created"), `the receiver got ${received.join(", ")}`);
  } finally {
    await receiver.close();
    await keyward.stop();
  }
});

test("the CommonJS build in Node: require() of the SDK, local mode with the validator's CommonJS entry, Hono", async () => {
  await settled(2);
  copyFileSync(join(here, "consumer/cjs/package.json"), join(out, "cjs/package.json"));
  const { stdout } = await run(process.execPath, [join(out, "cjs/main.js"), await deadUrl(), vector("unknown key id (no record)").presented]);
  assert.deepEqual(JSON.parse(stdout), {
    module: "commonjs",
    missing: [401, "MALFORMED"],
    unreachable: [503, "KEYWARD_UNAVAILABLE"],
    remote: "remote",
    client: "function",
    status: 429,
  });
});
