// Leaked and dormant keys in the console, in Chromium against the real
// `keyward serve` (the harness is console-harness.mjs). Keys reported
// through the open `POST /keys/leaked`: with the server's default action
// (revoke), then on servers started with KEYWARD_LEAK_ACTION=disable and
// =notify. Each is checked on the key's page (what was done and why, who
// found it, when, and where: a link that opens a new tab with rel
// "noopener noreferrer nofollow"), in the keys list (the "leaked" tag and
// its line), on the Notifications page and in the audit log. A reported
// URL with markup and quotes stays text; a javascript: one is no link.
// Dormant keys need days without use, which a test cannot give the real
// server: their notice, key view and audit event are put into the API's
// answers (page.route) to check the wording. Screenshots go to
// target/console-screenshots/.
//
// Run by tests/console.sh.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  base,
  call,
  close,
  dialog,
  extraOrigins,
  heading,
  keyRow,
  openPage,
  shot,
  signedIn,
  startAll,
  startServer,
  staticBase,
  statusOf,
  stopAll,
  throughDialog,
  token,
} from "./console-harness.mjs";

before(startAll);
after(stopAll);

const REL = "noopener noreferrer nofollow";

// ---- helpers -----------------------------------------------------------------

/** A call to the API at `origin` (another server than the harness's). */
async function callAt(origin, bearer, method, path, body) {
  const response = await fetch(`${origin}${path}`, {
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

/** Reports `keys` leaked at `origin`, as anyone may: no token. */
async function report(origin, keys, url) {
  const response = await fetch(`${origin}/keys/leaked`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(url === undefined ? { keys } : { keys, url }),
  });
  const answer = await response.json();
  assert.equal(response.status, 202, JSON.stringify(answer));
  assert.deepStrictEqual(answer, { received: keys.length });
}

/** The verdict of `POST /verify` at `origin` for `key`. */
async function verdictAt(origin, key) {
  const response = await fetch(`${origin}/verify`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ key }),
  });
  assert.equal(response.status, 200);
  return (await response.json()).code;
}

/** An application and keys named `names` at `origin`: {app, keys: {name:
 * {key, secret}}}. */
async function withKeys(origin, bearer, appName, names) {
  const app = await callAt(origin, bearer, "POST", "/applications", { name: appName });
  const keys = {};
  for (const name of names) keys[name] = await callAt(origin, bearer, "POST", `/applications/${app.id}/keys`, { name });
  return { app, keys };
}

/** Another `keyward serve` with `env`, its own data, reachable from the
 * pages; stopped and removed by the function it returns. */
async function otherServer(env) {
  const data = mkdtempSync(join(tmpdir(), "keyward-leaks-"));
  const server = await startServer(staticBase, { env, data });
  extraOrigins.add(server.url);
  return {
    url: server.url,
    stop: async () => {
      extraOrigins.delete(server.url);
      const exited = new Promise((resolve) => server.child.once("exit", resolve));
      server.child.kill("SIGTERM");
      await exited;
      rmSync(data, { recursive: true, force: true });
    },
  };
}

/** The page at `origin` signed in, on `route`. */
async function signedInAt(origin, bearer, route) {
  const opened = await openPage(`${origin}/#token=${bearer}`);
  await heading(opened.page, "Applications");
  await goTo(opened.page, route);
  return opened;
}

function goTo(page, route) {
  return page.evaluate((r) => {
    location.hash = r;
  }, route);
}

/** A link to where a leak was found: its href, target, rel, and its text
 * (without the "opens in a new tab" its name adds for screen readers). */
function linkFacts(link) {
  return link.evaluate((a) => ({
    href: a.getAttribute("href"),
    target: a.getAttribute("target"),
    rel: a.getAttribute("rel"),
    text: a.firstChild.nodeValue,
    hidden: a.querySelector(".visually-hidden")?.textContent ?? null,
  }));
}

/** Checks `link` is the safe link to `url`, shown as `text`. */
async function isLeakLink(link, url, text = url) {
  assert.deepStrictEqual(await linkFacts(link), {
    href: new URL(url).href,
    target: "_blank",
    rel: REL,
    text,
    hidden: " (opens in a new tab)",
  });
}

/** The key page's section on the leak, by its heading. */
function leakRegion(page, name) {
  return page.getByRole("region", { name, exact: true });
}

/** The audit log's rows as text, newest first. */
async function auditRows(page) {
  await page.locator("tbody tr").first().waitFor();
  return page.locator("tbody tr").evaluateAll((rows) => rows.map((r) => r.innerText.replace(/\s+/g, " ").trim()));
}

// ---- the tests ---------------------------------------------------------------

test("a key reported leaked is revoked (the default): its page, the notice and the audit log say why", async () => {
  const alice = await token("alice", "leaks-revoke", { all: true });
  const { app, keys } = await withKeys(base, alice, "Payments", ["leaky", "clean"]);
  const { key, secret } = keys.leaky;
  const url = "https://github.com/acme/payments/blob/main/.env#L3";
  await report(base, [secret], url);
  assert.equal(await verdictAt(base, secret), "REVOKED");
  assert.equal(await verdictAt(base, keys.clean.secret), "VALID");
  const view = await call(alice, "GET", `/keys/${key.id}`);
  assert.equal(view.leak.found_by, "leak-report");
  assert.equal(view.leak.action, "revoke");

  const opened = await signedIn(alice, `#/applications/${app.id}`);
  const { page } = opened;
  await heading(page, "Payments");
  // The API leaves revoked keys out of lists: the notice and the audit log
  // lead to its page.
  const clean = keyRow(page, "clean");
  await clean.waitFor();
  assert.equal(await keyRow(page, "leaky").count(), 0);
  assert.equal(await statusOf(clean), "Active");
  assert.equal(await clean.locator(".tag-leaked").count(), 0, "a key never reported has no tag");
  assert.doesNotMatch(await clean.innerText(), /leak/i);

  // The notice to its creator, with where and a way to the key.
  await page.getByRole("link", { name: "Notifications", exact: true }).click();
  await heading(page, "Notifications");
  const notice = page.locator(".notice-leaked");
  await notice.getByText("Key leaky was found leaked at").waitFor();
  assert.match(
    (await notice.innerText()).replace(/\s+/g, " "),
    /^Key leaky was found leaked at https:\/\/github\.com\S+ \(opens in a new tab\) ?\. Open the key/,
  );
  await isLeakLink(notice.getByRole("link", { name: url }), url);
  await shot(page, "leaks-notifications");

  // The key's page: what was done and why, who found it, when, where.
  await notice.getByRole("link", { name: "Open the key" }).click();
  await heading(page, "leaky");
  assert.ok(page.url().endsWith(`#/applications/${app.id}/keys/${key.id}`), page.url());
  const region = leakRegion(page, "Revoked as leaked");
  await region.waitFor();
  const text = (await region.innerText()).replace(/\s+/g, " ");
  assert.match(text, /Revoked at once because it was found leaked: it no longer works and cannot be enabled again\./);
  assert.match(text, /Found by A leak report/);
  assert.match(text, /Reported \w/);
  assert.equal(await region.locator("time").getAttribute("datetime"), view.leak.at);
  await isLeakLink(region.getByRole("link", { name: url }), url);
  assert.equal(await region.evaluate((e) => e.classList.contains("stopped")), true);
  assert.match(await page.locator("main > dl.facts").innerText(), /Revoked\s+leaked/);
  assert.equal(await page.getByRole("button", { name: "Edit key" }).count(), 0, "a revoked key is not edited");
  await shot(page, "leak-key-revoked");

  // The audit log: actor leak-report, the action taken and the URL; the
  // key's id leads to its page.
  await page.getByRole("link", { name: "Audit log", exact: true }).click();
  await heading(page, "Audit log");
  const [leaked] = await auditRows(page);
  assert.ok(
    leaked.includes(`leak-report key.leaked key ${key.id} Revoked as leaked (active → revoked) Found at ${url} (opens in a new tab)`),
    leaked,
  );
  const auditRow = page.locator("tbody tr").first();
  await isLeakLink(auditRow.getByRole("link", { name: url }), url);
  await shot(page, "leaks-audit");
  await auditRow.getByRole("link", { name: key.id, exact: true }).click();
  await heading(page, "leaky");

  // A second report changes nothing.
  await report(base, [secret], "https://example.com/elsewhere");
  assert.equal((await call(alice, "GET", `/keys/${key.id}`)).leak.url, url);
  await close(opened);
});

test("a reported URL with markup and quotes is shown as text; a javascript: URL is not kept", async () => {
  // Notify leaves the keys working, so the keys list shows them.
  const server = await otherServer({ KEYWARD_LEAK_ACTION: "notify" });
  try {
    const alice = await token("alice", "leaks-markup", { all: true });
    const { app, keys } = await withKeys(server.url, alice, "Markup", ["quoted", "scripted"]);
    const hostile = `https://example.com/x"><script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'&amp;`;
    const scripted = `javascript:window.__pwned=3//"><b>bold</b>`;
    await report(server.url, [keys.quoted.secret], hostile);
    await report(server.url, [keys.scripted.secret], scripted);
    // The server keeps only http(s) URLs, in their parsed (WHATWG) form.
    const stored = new URL(hostile).href;
    const quotedView = await callAt(server.url, alice, "GET", `/keys/${keys.quoted.key.id}`);
    assert.equal(quotedView.leak.url, stored);
    const scriptedView = await callAt(server.url, alice, "GET", `/keys/${keys.scripted.key.id}`);
    assert.equal(scriptedView.leak.url, null, "a javascript: URL is not kept");

    const opened = await signedInAt(server.url, alice, `#/applications/${app.id}`);
    const { page } = opened;
    await heading(page, "Markup");
    await keyRow(page, "quoted").waitFor();
    const injected = () =>
      page.evaluate(() => ({
        elements: document.querySelectorAll("main script, main img, main b").length,
        pwned: window.__pwned ?? null,
      }));
    const nothingInjected = { elements: 0, pwned: null };
    assert.deepStrictEqual(await injected(), nothingInjected);
    // The list shortens a long URL; the link's title holds all of it.
    const listLink = keyRow(page, "quoted").locator("a.url");
    await isLeakLink(listLink, stored, stored.length > 60 ? `${stored.slice(0, 59)}…` : stored);
    assert.equal(await listLink.getAttribute("title"), stored);
    assert.equal(await keyRow(page, "scripted").locator("a.url").count(), 0, "no URL, no link");
    await shot(page, "leaks-keys-markup");

    // Each key's page: the URL whole, as text.
    await goTo(page, `#/applications/${app.id}/keys/${keys.quoted.key.id}`);
    await heading(page, "quoted");
    let region = leakRegion(page, "Reported leaked");
    await isLeakLink(region.getByRole("link"), stored);
    assert.deepStrictEqual(await injected(), nothingInjected);
    await shot(page, "leak-key-markup");
    // A long URL wraps: the page reflows at 320 CSS px (1.4.10).
    await page.setViewportSize({ width: 320, height: 640 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    await shot(page, "320-leak-key");
    assert.equal(overflow, 0, "the leaked key's page at 320 px scrolls sideways");
    await page.setViewportSize({ width: 1280, height: 800 });

    await goTo(page, `#/applications/${app.id}/keys/${keys.scripted.key.id}`);
    await heading(page, "scripted");
    region = leakRegion(page, "Reported leaked");
    await region.waitFor();
    assert.equal(await region.getByRole("link").count(), 0, "no URL, no link");
    assert.match(await region.innerText(), /Not reported/);
    assert.deepStrictEqual(await injected(), nothingInjected);

    // The notices and the audit log show the URL as text too.
    await goTo(page, "#/notifications");
    await heading(page, "Notifications");
    await page.locator(".notice-leaked").nth(1).waitFor();
    await isLeakLink(page.locator(".notice-leaked a.url"), stored);
    assert.deepStrictEqual(await injected(), nothingInjected);
    await goTo(page, "#/audit");
    await heading(page, "Audit log");
    const rows = await auditRows(page);
    assert.ok(rows[0].endsWith("No URL reported"), rows[0]);
    assert.ok(rows[1].endsWith(`Found at ${stored} (opens in a new tab)`), rows[1]);
    assert.equal(await page.locator("tbody a.url").count(), 1);
    assert.deepStrictEqual(await injected(), nothingInjected);
    await close(opened);
  } finally {
    await server.stop();
  }
});

test("KEYWARD_LEAK_ACTION=disable: disabled by the report, said so; enabling it again warns first", async () => {
  const server = await otherServer({ KEYWARD_LEAK_ACTION: "disable" });
  try {
    const alice = await token("alice", "leaks-disable", { all: true });
    const { app, keys } = await withKeys(server.url, alice, "Billing", ["exposed", "paused"]);
    const url = "https://gist.github.com/someone/0123456789abcdef";
    await report(server.url, [keys.exposed.secret], url);
    await callAt(server.url, alice, "POST", `/keys/${keys.paused.key.id}/disable`);
    assert.equal(await verdictAt(server.url, keys.exposed.secret), "DISABLED");
    const view = await callAt(server.url, alice, "GET", `/keys/${keys.exposed.key.id}`);
    assert.equal(view.disabled_by, "leak-report");
    assert.equal(view.leak.action, "disable");

    const opened = await signedInAt(server.url, alice, `#/applications/${app.id}`);
    const { page } = opened;
    await heading(page, "Billing");
    const row = keyRow(page, "exposed");
    await row.waitFor();
    assert.equal(await statusOf(row), "Disabled");
    assert.equal((await row.locator(".tag-leaked").innerText()).trim(), "leaked");
    assert.match(await row.innerText(), /Disabled as leaked: found by a leak report,/);
    await isLeakLink(row.getByRole("link", { name: url }), url);
    // Disabled by a user: by whom, and no leak.
    const paused = keyRow(page, "paused");
    assert.equal(await statusOf(paused), "Disabled");
    assert.match(await paused.innerText(), /Disabled by alice\./);
    assert.equal(await paused.locator(".tag-leaked").count(), 0);
    await shot(page, "leaks-keys-disabled");

    // Enable warns that the key was found leaked; Cancel keeps it off.
    await row.getByRole("button", { name: "Enable exposed" }).click();
    const confirm = dialog(page, "Enable key exposed?");
    await confirm.waitFor();
    assert.match(await confirm.innerText(), /This key was found leaked\. Calls that present it are accepted again, from whoever found it too\./);
    await shot(page, "leak-enable-warning");
    await confirm.getByRole("button", { name: "Cancel" }).click();
    await confirm.waitFor({ state: "detached" });

    await row.getByRole("link", { name: "exposed", exact: true }).click();
    await heading(page, "exposed");
    const region = leakRegion(page, "Disabled as leaked");
    await region.waitFor();
    assert.match(await region.innerText(), /Disabled because it was found leaked: calls with it are refused\./);
    await isLeakLink(region.getByRole("link", { name: url }), url);
    // The reporter disabled it: the leak says so, not a "Disabled by" line.
    assert.equal(await page.locator(".disabled-by").count(), 0);
    await shot(page, "leak-key-disabled");

    await goTo(page, `#/applications/${app.id}/keys/${keys.paused.key.id}`);
    await heading(page, "paused");
    assert.match(await page.locator("main > dl.facts").innerText(), /Disabled\s+Disabled by alice\./);
    assert.equal(await page.getByRole("region").count(), 0, "no leak section for a key never reported");

    await goTo(page, "#/audit");
    await heading(page, "Audit log");
    const rows = await auditRows(page);
    const leakedRow = rows.find((r) => r.includes("key.leaked"));
    assert.ok(leakedRow.includes(`leak-report key.leaked key ${keys.exposed.key.id} Disabled as leaked (active → disabled) Found at ${url}`), leakedRow);

    // Enabled again through its dialog: it works, and the page says it
    // was found leaked all the same.
    await goTo(page, `#/applications/${app.id}`);
    await heading(page, "Billing");
    await throughDialog(page, row.getByRole("button", { name: "Enable exposed" }), "Enable key exposed?", "Enable key");
    await page.getByRole("status").getByText("Key exposed enabled.").waitFor();
    assert.equal(await statusOf(row), "Active");
    assert.match(await row.innerText(), /Disabled as leaked, enabled again since: found by a leak report,/);
    assert.equal(await verdictAt(server.url, keys.exposed.secret), "VALID");
    await row.getByRole("link", { name: "exposed", exact: true }).click();
    await heading(page, "exposed");
    const working = leakRegion(page, "Reported leaked");
    assert.match(await working.innerText(), /enabled again since: it works again, for whoever found it too\./);
    assert.equal(await working.evaluate((e) => e.classList.contains("working")), true);
    await close(opened);
  } finally {
    await server.stop();
  }
});

test("KEYWARD_LEAK_ACTION=notify: the key still works, and every page says it was reported", async () => {
  const server = await otherServer({ KEYWARD_LEAK_ACTION: "notify" });
  try {
    const alice = await token("alice", "leaks-notify", { all: true });
    const { app, keys } = await withKeys(server.url, alice, "Search", ["noticed"]);
    const { key, secret } = keys.noticed;
    // A report without a URL.
    await report(server.url, [secret]);
    assert.equal(await verdictAt(server.url, secret), "VALID");

    const opened = await signedInAt(server.url, alice, `#/applications/${app.id}`);
    const { page } = opened;
    await heading(page, "Search");
    const row = keyRow(page, "noticed");
    await row.waitFor();
    assert.equal(await statusOf(row), "Active");
    assert.equal((await row.locator(".tag-leaked").innerText()).trim(), "leaked");
    assert.match(await row.innerText(), /Still works, but reported leaked: found by a leak report,/);
    assert.equal(await row.locator(".url").count(), 0, "no URL was reported");
    assert.deepStrictEqual(await row.getByRole("button").allInnerTexts().then((t) => t.map((b) => b.split(/\s+/)[0])), [
      "Disable",
      "Regenerate",
      "Delete",
    ]);

    await row.getByRole("link", { name: "noticed", exact: true }).click();
    await heading(page, "noticed");
    const region = leakRegion(page, "Reported leaked");
    await region.waitFor();
    const text = (await region.innerText()).replace(/\s+/g, " ");
    assert.match(text, /Reported leaked, and left working \(this deployment only notifies its creator\): it still works, for whoever found it too\. Regenerate or delete it\./);
    assert.match(text, /Where Not reported/);
    assert.equal(await region.evaluate((e) => e.classList.contains("working")), true);
    await shot(page, "leak-key-notify");

    await goTo(page, "#/notifications");
    await heading(page, "Notifications");
    const notice = page.locator(".notice-leaked");
    await notice.waitFor();
    assert.match((await notice.innerText()).replace(/\s+/g, " "), /^Key noticed was found leaked\. Open the key/);
    assert.equal(await notice.locator(".url").count(), 0);

    await goTo(page, "#/audit");
    await heading(page, "Audit log");
    const [leaked] = await auditRows(page);
    assert.ok(
      leaked.includes(`leak-report key.leaked key ${key.id} Reported leaked; left working, creator notified No URL reported`),
      leaked,
    );
    await close(opened);
  } finally {
    await server.stop();
  }
});

test("dormant keys: the notice a week ahead, the key disabled for being unused, its audit row", async () => {
  // The server disables a key only after days without use, and a test
  // cannot move its clock: the notice, the key's view and the event the
  // daily job would make are added to the real answers.
  const alice = await token("alice", "leaks-dormant", { all: true });
  const { app, keys } = await withKeys(base, alice, "Reports", ["idle"]);
  const { key } = keys.idle;
  const day = new Date(Date.now() + 7 * 86_400_000).toISOString().slice(0, 10);
  const opened = await signedIn(alice);
  const { page } = opened;
  // Requests to the API for `path`, whatever their query.
  const at = (path) => (url) => url.origin === base && url.pathname === path;
  const dormantView = (view) => ({ ...view, status: "disabled", verdict: "DISABLED", disabled_by: "policy:dormant" });
  await page.route(at("/notifications"), async (route) => {
    const answer = await (await route.fetch()).json();
    answer.items.unshift({
      id: `${key.id}:dormant:${day}`,
      kind: "dormant",
      account: "leaks-dormant",
      recipient: "alice",
      key_id: key.id,
      key_name: key.name,
      application_id: app.id,
      expires_at: key.expires_at,
      days_left: 358,
      day,
      created_at: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
    });
    await route.fulfill({ json: answer });
  });
  await page.route(at(`/keys/${key.id}`), async (route) => {
    await route.fulfill({ json: dormantView(await (await route.fetch()).json()) });
  });
  await page.route(at(`/applications/${app.id}/keys`), async (route) => {
    const answer = await (await route.fetch()).json();
    answer.items = answer.items.map((item) => (item.id === key.id ? dormantView(item) : item));
    await route.fulfill({ json: answer });
  });
  await page.route(at("/audit"), async (route) => {
    const answer = await (await route.fetch()).json();
    const created = answer.items.find((e) => e.action === "key.created");
    answer.items.unshift({
      ...created,
      id: "evt_dormant",
      actor: "policy:dormant",
      action: "key.disabled",
      at: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
      before: created.after,
      after: dormantView(created.after),
    });
    await route.fulfill({ json: answer });
  });

  await goTo(page, "#/notifications");
  await heading(page, "Notifications");
  const notice = page.locator(".notice-dormant");
  await notice.waitFor();
  // The day as the page's locale writes it, in UTC (the day is a UTC day).
  const shown = await page.evaluate(
    (d) => new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeZone: "UTC" }).format(new Date(`${d}T00:00:00Z`)),
    day,
  );
  assert.match(
    (await notice.innerText()).replace(/\s+/g, " "),
    new RegExp(`^Key idle will be disabled on ${shown.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} \\(unused\\)\\. Use it before then to keep it working`),
  );
  assert.equal(await notice.locator("time").getAttribute("datetime"), day);
  assert.doesNotMatch(await notice.innerText(), /expires in/);
  await shot(page, "leaks-dormant-notice");

  await goTo(page, `#/applications/${app.id}`);
  await heading(page, "Reports");
  const row = keyRow(page, "idle");
  await row.waitFor();
  assert.equal(await statusOf(row), "Disabled");
  assert.match(await row.innerText(), /Disabled for being unused \(no calls for too long\); enable it to use it again\./);
  assert.equal(await row.locator(".tag-leaked").count(), 0);

  await goTo(page, `#/applications/${app.id}/keys/${key.id}`);
  await heading(page, "idle");
  assert.match(await page.locator("main > dl.facts").innerText(), /Disabled\s+Disabled for being unused/);
  await shot(page, "leaks-dormant-key");

  await goTo(page, "#/audit");
  await heading(page, "Audit log");
  const [disabled] = await auditRows(page);
  assert.ok(disabled.includes(`policy:dormant key.disabled key ${key.id} active → disabled (unused)`), disabled);
  await close(opened);
});
