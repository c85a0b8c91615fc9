// What the SDK's tests share: a live `keyward serve` on loopback (the
// binary of this repository, or KEYWARD_BIN), its tokens, Node HTTP
// servers on 127.0.0.1, and the verdict vectors of the WebAssembly tests.

import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import v8 from "node:v8";
import vm from "node:vm";

export const here = dirname(fileURLToPath(import.meta.url));
export const root = resolve(here, "../../..");
const keywardBin = process.env.KEYWARD_BIN ? resolve(process.env.KEYWARD_BIN) : join(root, "target/debug/keyward");
const run = promisify(execFile);

export const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc");

/**
 * Runs `work` while collecting garbage every 20 ms: a time limit held only
 * weakly (AbortSignal.any over AbortSignal.timeout, in Node) is lost to
 * it, and the request then waits minutes instead of failing in time.
 */
export async function underGcPressure(work) {
  const collecting = setInterval(gc, 20);
  try {
    return await work();
  } finally {
    clearInterval(collecting);
  }
}

/**
 * Starts `keyward serve` on a free loopback port with a fresh data folder.
 * Answers { url, token(sub, account, permissions), stop() }.
 */
export async function startKeyward(extraEnv = {}) {
  const dir = mkdtempSync(join(tmpdir(), "keyward-sdk-"));
  const env = {
    ...process.env,
    KEYWARD_JWT_SECRET: randomBytes(32).toString("hex"),
    // Failed verifications are what these tests are made of.
    KEYWARD_VERIFY_FAILURE_LIMIT: "0",
    KEYWARD_LOG: process.env.KEYWARD_LOG ?? "warn",
    ...extraEnv,
  };
  const data = join(dir, "data");
  const child = spawn(keywardBin, ["serve", "--addr", "127.0.0.1:0", "--data", data], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const url = await new Promise((done, fail) => {
    let out = "";
    const timer = setTimeout(() => fail(new Error(`keyward serve did not start:\n${stderr}`)), 30_000);
    child.on("error", fail);
    child.on("exit", (code) => fail(new Error(`keyward serve exited with ${code}:\n${stderr}`)));
    child.stdout.on("data", (d) => {
      out += d;
      const match = out.match(/keyward listening on (http:\/\/\S+)/);
      if (match) {
        clearTimeout(timer);
        done(match[1]);
      }
    });
  });
  return {
    url,
    /** A JWT for `sub` in `account`: every management permission, plus `permissions` (scopes it may grant). */
    async token(sub, account, permissions = "", { all = true } = {}) {
      const args = ["token", "--data", data, "--sub", sub, "--account", account, "--permissions", permissions, "--mfa", "--ttl", "1h"];
      if (all) args.push("--all");
      const { stdout } = await run(keywardBin, args, { env });
      return stdout.trim();
    },
    /** What the server logged on stderr: a test fails on a panic or an internal error. */
    log: () => stderr,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((done) => child.once("exit", done));
        child.kill("SIGTERM");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
      if (/panicked|internal error/.test(stderr)) throw new Error(`keyward logged a panic or an internal error:\n${stderr}`);
    },
  };
}

/** A Node HTTP server on 127.0.0.1 with `handler`; answers { server, url, close() }. */
export async function listen(handler) {
  const server = createServer(handler);
  await new Promise((done) => server.listen(0, "127.0.0.1", done));
  return {
    server,
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => {
      server.closeAllConnections?.();
      return new Promise((done) => server.close(done));
    },
  };
}

/** A loopback URL where nothing listens: a server bound, noted and closed. */
export async function deadUrl() {
  const { url, close } = await listen(() => {});
  await close();
  return url;
}

/** The shared verdict vectors (tests/verdict_vectors.json), by name. */
export function vector(name) {
  const { vectors } = JSON.parse(readFileSync(join(root, "tests/verdict_vectors.json"), "utf8"));
  const found = vectors.find((v) => v.name === name);
  if (!found) throw new Error(`no verdict vector named ${name}`);
  return found;
}

/**
 * fetch that gives up after `ms` (default 10 s), so a test whose server
 * never answers fails instead of hanging. A strongly held timer, not
 * AbortSignal.timeout: see underGcPressure.
 */
export async function fetchWithin(url, init = {}, ms = 10_000) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error(`no answer from ${url} within ${ms} ms`)), ms);
  try {
    const response = await fetch(url, { ...init, signal: controller.signal });
    const body = await response.arrayBuffer();
    return new Response(body, response);
  } finally {
    clearTimeout(timer);
  }
}

/** The JSON body of a response, with its status and headers, for assertions. */
export async function answer(response) {
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: response.status, headers: response.headers, body };
}
