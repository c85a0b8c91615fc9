// Chromium: the package's web entry point in a page served on loopback,
// over the shared vectors, in Debian's chromium driven by playwright-core.

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { extname, join, normalize, sep } from "node:path";
import { after, before, test } from "node:test";
import { launchChromium } from "./chromium.mjs";
import { checkResults, here, loadVectors, pkgDir, vectorsFile } from "./support.mjs";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".json": "application/json",
  // instantiateStreaming needs the WebAssembly media type.
  ".wasm": "application/wasm",
};

let server;
let browser;
let base;

// A static server: / is the page, /pkg/ the package, /js/cases.mjs the
// cases, /vectors.json the vectors. Nothing outside those folders.
function fileFor(pathname) {
  if (pathname === "/") return join(here, "page.html");
  if (pathname === "/vectors.json") return vectorsFile;
  if (pathname === "/js/cases.mjs") return join(here, "cases.mjs");
  if (pathname.startsWith("/pkg/")) {
    const file = normalize(join(pkgDir, decodeURIComponent(pathname.slice(5))));
    if (file.startsWith(pkgDir + sep)) return file;
  }
  return null;
}

before(async () => {
  server = createServer(async (req, res) => {
    const file = fileFor(new URL(req.url, "http://localhost").pathname);
    try {
      if (!file) throw new Error("not served");
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
});

after(async () => {
  await browser?.close();
  server?.close();
});

test("the web entry point in Chromium gives every verdict", async (t) => {
  const page = await browser.newPage();
  const problems = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console: ${message.text()}`);
  });
  // Loopback only: anything else the page asks for fails the test.
  await page.route("**/*", (route) =>
    route.request().url().startsWith(base) ? route.continue() : route.abort(),
  );
  await page.goto(`${base}/`);
  await page.waitForFunction(() => window.report !== undefined, null, { timeout: 30_000 });
  const report = await page.evaluate(() => window.report);
  assert.ok(report.ok, report.error);
  assert.deepStrictEqual(problems, []);
  t.diagnostic(report.userAgent);
  const vectors = loadVectors();
  await checkResults(t, report.results, vectors);
  await page.close();
});
