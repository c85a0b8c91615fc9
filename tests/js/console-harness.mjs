// The harness of the console tests: the real `keyward serve` on loopback
// (SQLite in a temporary folder), a copy of console/ on a second origin (a
// plain static server, as S3 would be), Debian's Chromium driven by
// playwright-core, and helpers for tokens, API calls from Node and the
// pages. Each test file calls startAll() and stopAll() around its tests.
//
// Needs target/debug/keyward (cargo build -p keyward --bin keyward) or
// KEYWARD_BIN.

import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { launchChromium } from "./chromium.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
export const BIN = process.env.KEYWARD_BIN ?? join(root, "target", "debug", "keyward");
const SHOTS = join(root, "target", "console-screenshots");
const CONSOLE_DIR = join(root, "console");
const SECRET = randomBytes(24).toString("hex"); // 48 bytes of HS256 secret
export const run = promisify(execFile);
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Exported bindings are live: the test files see the values startAll sets.
export let dataDir;
let server;
let serverLog = "";
export let base; // the API and the console it serves
let staticServer;
export let staticBase; // a copy of console/ on another origin
export let browser;
// Origins pages may reach besides those two (a second server's).
export const extraOrigins = new Set();

// ---- the server, tokens and the API from Node ------------------------------

/** `keyward serve` on a free loopback port, allowing `corsOrigin`; `env`
 * adds variables (KEYWARD_ACCOUNT_CLAIM, say), `data` is its folder. */
export function startServer(corsOrigin, { env = {}, data = dataDir } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      BIN,
      ["serve", "--addr", "127.0.0.1:0", "--data", data, "--cors-origin", corsOrigin],
      { env: { ...process.env, KEYWARD_JWT_SECRET: SECRET, KEYWARD_LOG: "warn", ...env }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    const timer = setTimeout(() => reject(new Error(`keyward serve did not start:\n${out}\n${serverLog}`)), 20_000);
    child.stderr.on("data", (chunk) => {
      serverLog += chunk;
    });
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const match = /keyward listening on (http:\/\/\S+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1] });
      }
    });
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`keyward serve exited (${code}):\n${out}\n${serverLog}`));
    });
  });
}

/** A token from `keyward token`; `accountClaim` names the claim that holds
 * `account` (KEYWARD_ACCOUNT_CLAIM). */
export async function token(sub, account, { permissions = "", all = false, ttl = "1h", secret = SECRET, accountClaim } = {}) {
  const args = ["token", "--sub", sub, "--account", account, "--permissions", permissions, "--ttl", ttl, "--data", dataDir];
  if (all) args.push("--all");
  if (accountClaim) args.push("--account-claim", accountClaim);
  const { stdout } = await run(BIN, args, { env: { ...process.env, KEYWARD_JWT_SECRET: secret } });
  return stdout.trim();
}

/** A token signed here, for claims `keyward token` will not make. */
export function hs256(claims) {
  const part = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const unsigned = `${part({ alg: "HS256", typ: "JWT" })}.${part(claims)}`;
  return `${unsigned}.${createHmac("sha256", SECRET).update(unsigned).digest("base64url")}`;
}

export async function call(bearer, method, path, body) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${bearer}`,
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await response.json();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

export async function verdict(key, scopes) {
  return (await verify(scopes ? { key, scopes } : { key })).code;
}

/** The whole answer of `POST /verify` to `body` ({key, scopes?, source_ip?,
 * cost?}), which is 200 for every verdict. */
export async function verify(body) {
  const response = await fetch(`${base}/verify`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  assert.equal(response.status, 200, JSON.stringify(answer));
  return answer;
}

export const inSeconds = (s) => new Date(Date.now() + s * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");

// ---- the browser -------------------------------------------------------------

/** A fresh browser context (its own sessionStorage) and page; `errors`
 * collects page errors and console errors, except the log line Chromium
 * writes for every 4xx answer the page receives on purpose. */
export async function openPage(url, { viewport = { width: 1280, height: 800 }, deviceScaleFactor = 1 } = {}) {
  const context = await browser.newContext({ viewport, deviceScaleFactor });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    if (/Failed to load resource: the server responded with a status of 4\d\d/.test(message.text())) return;
    errors.push(`console: ${message.text()}`);
  });
  // Loopback only: anything else the page asks for fails.
  await page.route("**/*", (route) => {
    const target = route.request().url();
    const allowed = [base, staticBase, ...extraOrigins].some((origin) => target.startsWith(origin));
    return allowed ? route.continue() : route.abort();
  });
  if (url) await page.goto(url);
  return { context, page, errors };
}

export async function close({ context, errors }) {
  await context.close();
  assert.deepStrictEqual(errors, [], "no script errors or CSP violations");
}

/** The page signed in through the `#token=` link (`options`: openPage's). */
export async function signedIn(bearer, route = "", options = {}) {
  const opened = await openPage(`${base}/#token=${bearer}`, options);
  await heading(opened.page, "Applications");
  if (route) {
    await opened.page.evaluate((r) => {
      location.hash = r;
    }, route);
  }
  return opened;
}

export function heading(page, name) {
  return page.getByRole("heading", { level: 1, name, exact: true }).waitFor();
}

export async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

export function dialog(page, name) {
  return page.getByRole("dialog", { name });
}

/** The row of the keys table whose name is `name` (the first, or the one
 * matching `has`). */
export function keyRow(page, name, options = {}) {
  return page.locator("table.keys tbody tr").filter({ has: page.getByRole("rowheader", { name, exact: true }), ...options });
}

export async function buttonsOf(row) {
  return (await row.getByRole("button").allInnerTexts()).map((t) => t.trim().split(/\s+/)[0]);
}

/** Confirms (or cancels) the dialog that `button` opens; waits for it to go. */
export async function throughDialog(page, button, title, choice) {
  await button.click();
  const d = dialog(page, title);
  await d.waitFor();
  await d.getByRole("button", { name: choice, exact: true }).click();
  await d.waitFor({ state: "detached" });
}

/** Reads the secret shown once, closes the step, and checks the page no
 * longer holds it anywhere (text, attributes or field values). */
export async function takeSecret(page, { screenshot } = {}) {
  const d = dialog(page, "Your new key");
  await d.waitFor();
  const secret = await d.getByLabel("Your key").inputValue();
  assert.match(secret, /^[a-z][a-z0-9]{0,15}_[0-9A-Za-z]{71}$/);
  if (screenshot) await shot(page, screenshot);
  await d.getByRole("button", { name: "I have copied my key — Close" }).click();
  await d.waitFor({ state: "detached" });
  const lingering = await page.evaluate(
    (s) =>
      document.documentElement.outerHTML.includes(s) ||
      [...document.querySelectorAll("input, textarea")].some((e) => e.value.includes(s)),
    secret,
  );
  assert.equal(lingering, false, "the secret is gone from the page after Close");
  return secret;
}

export async function statusOf(row) {
  return (await row.locator(".badge").innerText()).trim();
}

/** Waits until the page shows `row` with status `status` (the page
 * re-renders after each change). */
export function showsStatus(row, status) {
  return row.locator(".badge", { hasText: new RegExp(`^${status}$`) }).waitFor();
}

// ---- set-up --------------------------------------------------------------

/** Starts the static host, `keyward serve` and Chromium (call in before()). */
export async function startAll() {
  mkdirSync(SHOTS, { recursive: true });
  dataDir = mkdtempSync(join(tmpdir(), "keyward-console-"));
  // The static host: console/ as it would be uploaded, no headers of its own.
  const types = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml" };
  staticServer = createServer((req, res) => {
    const name = new URL(req.url, "http://x").pathname.slice(1) || "index.html";
    const type = types[name.slice(name.lastIndexOf("."))];
    if (!/^[a-z]+\.[a-z]+$/.test(name) || !type) return res.writeHead(404).end();
    try {
      res.writeHead(200, { "content-type": type }).end(readFileSync(join(CONSOLE_DIR, name)));
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => staticServer.listen(0, "127.0.0.1", resolve));
  // localhost, not 127.0.0.1: another origin than the API's.
  staticBase = `http://localhost:${staticServer.address().port}`;
  const started = await startServer(staticBase);
  server = started.child;
  base = started.url;
  browser = await launchChromium();
}

/** Stops what startAll started (call in after()). */
export async function stopAll() {
  await browser?.close();
  if (server && server.exitCode === null) {
    const exited = new Promise((resolve) => server.once("exit", resolve));
    server.kill("SIGTERM");
    await exited;
  }
  staticServer?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}
