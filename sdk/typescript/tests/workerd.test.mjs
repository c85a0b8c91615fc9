// The Hono middleware in workerd (Cloudflare's runtime), in remote and
// local mode, against a live keyward serve on loopback: every verdict code
// (tests/matrix.mjs), the caller's address from CF-Connecting-IP, single
// flight across concurrent requests, and 503 when keyward is unreachable.
// The worker (workerd/worker.js) is bundled by esbuild from the installed
// packages with the workerd condition, as wrangler bundles it; workerd runs
// it as tests/js/workerd.test.mjs runs the validator's example Worker
// (a capnp config on 127.0.0.1:0, the ports read from --control-fd).
// KEYWARD_WORKERD_LOG=1 prints workerd's output at the end.

import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { build } from "esbuild";
import { ROUTES, assertRefusal, makeFixtures, runMatrix } from "./matrix.mjs";
import { spawnWorkerd, workerdBinary } from "../../../tests/js/workerd-process.mjs";
import { answer, deadUrl, fetchWithin, here, startKeyward, vector } from "./support.mjs";

let keyward;
let workerd;
let port;
let dir;
const fixtures = {};

async function bundle() {
  const wasm = {
    name: "wasm-module",
    // The validator's workerd entry imports its .wasm as a compiled module
    // (wrangler's rule for *.wasm): here a workerd module of that name.
    setup(b) {
      b.onResolve({ filter: /\.wasm$/ }, () => ({ path: "keyward_validator_bg.wasm", external: true }));
    },
  };
  const result = await build({
    entryPoints: [join(here, "workerd/worker.js")],
    bundle: true,
    format: "esm",
    platform: "neutral",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    define: { ROUTES_JSON: JSON.stringify(JSON.stringify(ROUTES)) },
    outfile: join(dir, "worker.js"),
    plugins: [wasm],
    logLevel: "silent",
  });
  assert.deepEqual(result.errors, []);
}

async function startWorkerd(bindings) {
  const binary = workerdBinary(await import("workerd"));
  // capnp embeds files by paths relative to the config: the .wasm goes next to it.
  copyFileSync(
    join(here, "node_modules/@keyward/wasm-validator/web/keyward_validator_bg.wasm"),
    join(dir, "keyward_validator_bg.wasm"),
  );
  const text = (name, value) => `(name = ${JSON.stringify(name)}, text = ${JSON.stringify(value)})`;
  const config = `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "app", worker = .app),
    (name = "loopback", network = (allow = ["local"])),
  ],
  sockets = [(name = "app", address = "127.0.0.1:0", http = (), service = "app")],
);

const app :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.js"),
    (name = "keyward_validator_bg.wasm", wasm = embed "keyward_validator_bg.wasm"),
  ],
  compatibilityDate = "2025-06-01",
  bindings = [${Object.entries(bindings).map(([n, v]) => text(n, v)).join(", ")}],
  globalOutbound = "loopback",
);
`;
  writeFileSync(join(dir, "config.capnp"), config);
  workerd = await spawnWorkerd(binary, join(dir, "config.capnp"), ["app"]);
  port = workerd.ports.app;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyward-sdk-workerd-"));
  keyward = await startKeyward();
  const [, remote, local] = await Promise.all([
    bundle(),
    makeFixtures(keyward, "acct-workerd-remote"),
    makeFixtures(keyward, "acct-workerd-local"),
  ]);
  Object.assign(fixtures, { remote, local });
  await startWorkerd({ KEYWARD_URL: keyward.url, RECORDS_TOKEN: local.records, DEAD_URL: await deadUrl() });
});

after(async () => {
  if (process.env.KEYWARD_WORKERD_LOG) console.log(workerd?.log());
  await workerd?.stop();
  await keyward?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const call = (name) => (route, authorization, sourceIp) => {
  const headers = {};
  if (authorization !== undefined) headers.authorization = authorization;
  // What Cloudflare's edge sets to the client's address.
  if (sourceIp !== undefined) headers["cf-connecting-ip"] = sourceIp;
  return fetchWithin(`http://127.0.0.1:${port}/${name}/${route}`, { headers });
};

for (const mode of ["remote", "local"]) {
  test(`hono in workerd, ${mode} mode: every verdict code`, async (t) => {
    await runMatrix(t, fixtures[mode], call(mode));
    const stats = await (await fetchWithin(`http://127.0.0.1:${port}/stats/${mode}`)).json();
    assert.equal(stats.unavailable, 0, JSON.stringify(stats));
    if (mode === "local") assert.ok(stats.cacheHits > 0 && stats.verifyCalls === 5, JSON.stringify(stats));
  });

  test(`hono in workerd, ${mode} mode: keyward unreachable: 503, never let through`, async () => {
    const got = await answer(await call(`${mode}-down`)("sims", vector("unknown key id (no record)").presented));
    assertRefusal(got, 503, "KEYWARD_UNAVAILABLE", "unreachable");
  });
}

test("hono in workerd: the runtime is Cloudflare's, and the address is CF-Connecting-IP's", async () => {
  const { keys } = fixtures.local;
  const got = await answer(await call("local")("sims", keys.ipAllowed, "127.0.0.1"));
  assert.equal(got.body.userAgent, "Cloudflare-Workers");
  assertRefusal(await answer(await call("local")("sims", keys.ipAllowed, "198.51.100.7")), 403, "IP_NOT_ALLOWED", "another address");
  assertRefusal(await answer(await call("local")("sims", keys.ipAllowed)), 403, "IP_NOT_ALLOWED", "no address");
});

test("hono in workerd: 100 concurrent requests for one uncached key make one record fetch", async () => {
  const { keys } = fixtures.local;
  const responses = await Promise.all(Array.from({ length: 100 }, () => call("burst")("sims", keys.valid)));
  assert.deepEqual([...new Set(responses.map((r) => r.status))], [200]);
  const stats = await (await fetchWithin(`http://127.0.0.1:${port}/stats/burst`)).json();
  assert.deepEqual([stats.recordFetches, stats.cacheMisses + stats.cacheHits], [1, 100], JSON.stringify(stats));
});
