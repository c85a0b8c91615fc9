// Benchmark of @keyward/sdk's middleware (BENCHMARKS.md):
//
// 1. Overhead per request in local mode with the record cached: the same
//    Hono and Express apps with the middleware, with a middleware that
//    only calls the next handler (what any middleware costs in the
//    framework), and without any, alternated round by round (the order
//    rotated every round), medians over rounds and of the per-round
//    differences.
//    Hono in process (`app.request`, no socket), then Hono on
//    @hono/node-server and Express over loopback HTTP/1.1, one keep-alive
//    connection, one request at a time.
// 2. Bursts: concurrent requests for uncached keys through the Hono app in
//    process, against a live keyward behind a counting proxy that delays
//    each record answer by 20 ms: record fetches counted at the proxy,
//    misses served by another request's fetch (single flight), and the
//    cache hit rate of the same burst once cached.
//
//   node sdk/typescript/bench/middleware.mjs [--rounds R] [--requests N] [--quick] [--json]
//
// Needs tests/sdk_typescript.sh to have run once (the packed SDK and the
// frameworks installed in sdk/typescript/tests/node_modules, and
// target/debug/keyward, or KEYWARD_BIN). --quick is one short round of
// each, to check that it runs.

import { request as httpRequest, Agent } from "node:http";
import { loadavg } from "node:os";
import { createKeywardClient, honoApp, localVerifier, serveApp, unwrap } from "../tests/apps.mjs";
import { listen, startKeyward } from "../tests/support.mjs";

const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const quick = args.includes("--quick");
const rounds = option("--rounds", quick ? 2 : 15);
const perRound = option("--requests", quick ? 200 : 4_000);
const inProcessPerRound = perRound * 5;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const log = (...line) => (args.includes("--json") ? undefined : console.log(...line));

// A live keyward, with a proxy in front that counts (and delays) record fetches.
const keyward = await startKeyward({ KEYWARD_MAX_ACTIVE_KEYS: "200", KEYWARD_LOG: "error" });
const fetchesById = new Map();
const proxy = await listen(async (req, res) => {
  const record = req.url.match(/^\/keys\/([^/]+)\/record$/);
  if (record) {
    fetchesById.set(record[1], (fetchesById.get(record[1]) ?? 0) + 1);
    await new Promise((done) => setTimeout(done, 20));
  }
  const upstream = await fetch(`${keyward.url}${req.url}`, { method: req.method, headers: { authorization: req.headers.authorization ?? "" } });
  res.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "text/plain" });
  res.end(Buffer.from(await upstream.arrayBuffer()));
});
const recordFetches = () => [...fetchesById.values()].reduce((a, b) => a + b, 0);

const admin = createKeywardClient({ baseUrl: keyward.url, token: await keyward.token("bench", "acct-bench", "sims:*") });
const records = await keyward.token("edge", "acct-bench", "records:read", { all: false });
const app = await unwrap(admin.POST("/applications", { body: { name: "bench" } }));
const keyCount = quick ? 10 : 100;
const keys = [];
for (let i = 0; i < keyCount + 1; i++) {
  const created = await unwrap(
    admin.POST("/applications/{id}/keys", { params: { path: { id: app.id } }, body: { name: `bench-${i}`, scopes: ["sims:read"] } }),
  );
  keys.push(created.secret);
}
const [key, ...burstKeys] = keys;

// Every variant answers the same body, so only the middleware differs.
const reply = () => ({ ok: true });

const summary = { load: loadavg()[0], rounds, overhead: {}, bursts: [] };
log(`load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}; ${rounds} rounds${quick ? " (--quick: a check that it runs, not a measurement)" : ""}`);

// 1a. In process: Hono's app.request, with and without the middleware.
{
  const verifier = localVerifier({ baseUrl: proxy.url, token: records, cache: { ttlMs: 3_600_000 } });
  const apps = { with: honoApp(verifier, { reply }), noop: honoApp("noop", { reply }), without: honoApp(null, { reply }) };
  const init = { headers: { authorization: `Bearer ${key}` } };
  const res = await apps.with.request("/sims", init);
  if (res.status !== 200) throw new Error(`the guarded app answered ${res.status}: ${await res.text()}`);
  const time = async (which) => {
    const started = process.hrtime.bigint();
    for (let i = 0; i < inProcessPerRound; i++) await (await apps[which].request("/sims", init)).arrayBuffer();
    return Number(process.hrtime.bigint() - started) / inProcessPerRound;
  };
  summary.overhead["hono, in process"] = await alternate(time);
}

// 1b. Loopback HTTP: Hono on @hono/node-server and Express.
for (const framework of ["hono", "express"]) {
  const verifier = localVerifier({ baseUrl: proxy.url, token: records, cache: { ttlMs: 3_600_000 } });
  const servers = {
    with: await serveApp(framework, verifier, { reply }),
    noop: await serveApp(framework, "noop", { reply }),
    without: await serveApp(framework, null, { reply }),
  };
  const agents = Object.fromEntries(Object.keys(servers).map((which) => [which, new Agent({ keepAlive: true, maxSockets: 1 })]));
  const get = (which) =>
    new Promise((done, fail) => {
      const req = httpRequest(`${servers[which].url}/sims`, { agent: agents[which], headers: { authorization: key } }, (res) => {
        res.resume();
        res.on("end", () => (res.statusCode === 200 ? done() : fail(new Error(`${framework} ${which}: ${res.statusCode}`))));
      });
      req.on("error", fail);
      req.end();
    });
  for (const which of Object.keys(servers)) for (let i = 0; i < 50; i++) await get(which);
  const time = async (which) => {
    const started = process.hrtime.bigint();
    for (let i = 0; i < perRound; i++) await get(which);
    return Number(process.hrtime.bigint() - started) / perRound;
  };
  summary.overhead[`${framework}, loopback HTTP`] = await alternate(time);
  for (const agent of Object.values(agents)) agent.destroy();
  for (const server of Object.values(servers)) await server.close();
}

/**
 * Times the three apps in alternation (the order rotated every round):
 * medians of each, and of the per-round differences of `with` from
 * `without` and from `noop` (ns).
 */
async function alternate(time) {
  const variants = ["with", "noop", "without"];
  const seen = { with: [], noop: [], without: [], overWithout: [], overNoop: [] };
  for (let round = 0; round < rounds; round++) {
    const order = variants.map((_, i) => variants[(i + round) % variants.length]);
    if (round % 2) order.reverse();
    const got = {};
    for (const which of order) got[which] = await time(which);
    for (const which of variants) seen[which].push(got[which]);
    seen.overWithout.push(got.with - got.without);
    seen.overNoop.push(got.with - got.noop);
  }
  return Object.fromEntries(Object.entries(seen).map(([name, xs]) => [name, median(xs)]));
}

log("\n| app | without | a no-op middleware | with keyward's | keyward's cost over without | over the no-op |");
log("| --- | ---: | ---: | ---: | ---: | ---: |");
for (const [name, r] of Object.entries(summary.overhead)) {
  const us = (ns) => `${(ns / 1000).toFixed(2)} µs`;
  log(`| ${name} | ${us(r.without)} | ${us(r.noop)} | ${us(r.with)} (${(r.with / r.without).toFixed(2)}×) | ${us(r.overWithout)} | ${us(r.overNoop)} |`);
}

// 2. Bursts through the Hono app in process: one key, then many keys.
const bursts = [
  { name: `${quick ? 100 : 1000} concurrent requests, one uncached key`, keys: burstKeys.slice(0, 1), requests: quick ? 100 : 1000 },
  { name: `${quick ? 1000 : 10000} concurrent requests, ${keyCount} uncached keys`, keys: burstKeys, requests: quick ? 1000 : 10000 },
];
log("\n| burst | record fetches (at the proxy) | misses served by another's fetch | then the same burst, cached |");
log("| --- | ---: | ---: | --- |");
for (const burst of bursts) {
  const verifier = localVerifier({ baseUrl: proxy.url, token: records, cache: { ttlMs: 3_600_000 } });
  const guarded = honoApp(verifier);
  const fire = () =>
    Promise.all(
      Array.from({ length: burst.requests }, (_, i) =>
        guarded.request("/sims", { headers: { authorization: burst.keys[i % burst.keys.length] } }).then((r) => r.status),
      ),
    );
  const fetchedBefore = recordFetches();
  const first = await fire();
  const fetched = recordFetches() - fetchedBefore;
  const afterFirst = verifier.stats();
  const second = await fire();
  const stats = verifier.stats();
  if (![...first, ...second].every((s) => s === 200)) throw new Error(`${burst.name}: not every request was accepted`);
  const hits = stats.cacheHits - afterFirst.cacheHits;
  const row = {
    name: burst.name,
    requests: burst.requests,
    recordFetches: fetched,
    sharedFetches: afterFirst.sharedFetches,
    cachedHits: hits,
    cachedFetches: recordFetches() - fetchedBefore - fetched,
    hitRate: hits / burst.requests,
  };
  summary.bursts.push(row);
  log(`| ${row.name} | ${row.recordFetches} | ${row.sharedFetches} | ${row.cachedHits} hits (${(row.hitRate * 100).toFixed(0)} %), ${row.cachedFetches} fetches |`);
}

if (args.includes("--json")) console.log(JSON.stringify(summary, null, 2));
await proxy.close();
await keyward.stop();
