// The console's Webhooks page, in Chromium against the real `keyward
// serve` (the harness is console-harness.mjs), started with
// KEYWARD_WEBHOOK_ALLOW_INSECURE=true so a webhook may point at a plain
// http receiver on loopback: the tiny one this file runs with node:http.
// A webhook added through the page, its signing secret shown once (and
// checked against the signature the receiver gets), a change delivered and
// shown in the webhook's deliveries, the server's problems in the dialog,
// Disable, Enable, Edit and Delete, a caller without webhooks:manage, and
// reflow at 320 CSS px. Screenshots go to target/console-screenshots/.
//
// Run by tests/console.sh.

import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { createServer } from "node:http";
import { after, before, test } from "node:test";
import {
  base,
  call,
  close,
  dialog,
  heading,
  shot,
  signedIn,
  sleep,
  startAll,
  stopAll,
  throughDialog,
  token,
} from "./console-harness.mjs";

// startServer passes process.env on to `keyward serve`.
process.env.KEYWARD_WEBHOOK_ALLOW_INSECURE = "true";

// ---- the receiver ------------------------------------------------------------

/** Every request the receiver got: {method, url, headers, body}. */
const received = [];
let receiver;
let receiverBase;

function startReceiver() {
  receiver = createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      received.push({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      res.writeHead(204).end();
    });
  });
  return new Promise((resolve) => {
    receiver.listen(0, "127.0.0.1", () => {
      receiverBase = `http://127.0.0.1:${receiver.address().port}`;
      resolve();
    });
  });
}

before(async () => {
  await startReceiver();
  await startAll();
});
after(async () => {
  await stopAll();
  await new Promise((resolve) => receiver.close(resolve));
});

/** The request the receiver got for an event of `type` on `path`, once it
 * came (within `ms`). */
async function receivedEvent(path, type, ms = 15_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const hit = received.find((r) => r.url === path && JSON.parse(r.body).type === type);
    if (hit) return hit;
    assert.ok(Date.now() < deadline, `no ${type} reached ${path}; got ${JSON.stringify(received.map((r) => r.url))}`);
    await sleep(100);
  }
}

/** The Standard Webhooks signature of a delivery under `secret` (whsec_…). */
function signature(secret, request) {
  const key = Buffer.from(secret.slice("whsec_".length), "base64");
  const signed = `${request.headers["webhook-id"]}.${request.headers["webhook-timestamp"]}.${request.body}`;
  return `v1,${createHmac("sha256", key).update(signed).digest("base64")}`;
}

/** A GET from Node that may fail: {status, json}. */
async function get(bearer, path) {
  const response = await fetch(`${base}${path}`, { headers: { Authorization: `Bearer ${bearer}` } });
  return { status: response.status, json: await response.json() };
}

/** The webhooks table's row for `url`. */
function webhookRow(page, url) {
  return page.locator("table.webhooks tbody tr").filter({ has: page.getByRole("rowheader", { name: url, exact: true }) });
}

/** The cells of the deliveries table's rows, as text. */
function deliveryCells(page) {
  return page.locator("table.deliveries tbody tr").evaluateAll((rows) =>
    rows.map((row) => [...row.children].map((cell) => cell.innerText.trim())),
  );
}

/** What has focus: its text, or its name attribute for a field. */
function focusedName(page) {
  return page.evaluate(() => document.activeElement.getAttribute("name") ?? document.activeElement.textContent.trim());
}

/** Whether `secret` is anywhere in the page: text, attributes, field values. */
function pageHolds(page, secret) {
  return page.evaluate(
    (s) =>
      document.documentElement.outerHTML.includes(s) ||
      [...document.querySelectorAll("input, textarea")].some((e) => e.value.includes(s)) ||
      Object.values(sessionStorage).some((v) => v.includes(s)),
    secret,
  );
}

// ---- the tests -----------------------------------------------------------------

test("add a webhook: the secret once, a change delivered and shown in its deliveries", async () => {
  const alice = await token("alice", "hooks", { all: true });
  const opened = await signedIn(alice);
  const { page } = opened;
  await page.getByRole("link", { name: "Webhooks", exact: true }).click();
  await heading(page, "Webhooks");
  assert.equal(await page.getByRole("link", { name: "Webhooks", exact: true }).getAttribute("aria-current"), "page");
  await page.getByText("No webhooks yet").waitFor();

  // Add: URL, description, two event types.
  const url = `${receiverBase}/hook`;
  const add = page.getByRole("button", { name: "Add webhook" });
  await add.click();
  const d = dialog(page, "Add webhook");
  await d.waitFor();
  assert.equal(await focusedName(page), "url", "focus starts in URL");
  assert.deepStrictEqual(
    await d.getByRole("checkbox").evaluateAll((boxes) => boxes.map((b) => [b.value, b.checked])),
    [
      "application.created",
      "application.updated",
      "application.revoked",
      "key.created",
      "key.updated",
      "key.disabled",
      "key.enabled",
      "key.regenerated",
      "key.revoked",
      "key.expiring",
      "key.leaked",
      "user.offboarded",
    ].map((type) => [type, false]),
    "every event type is offered, none checked",
  );
  await d.getByLabel("URL").fill(url);
  await d.getByLabel("Description").fill("Test receiver");
  await d.getByLabel("application.created").check();
  await d.getByLabel("key.created").check();
  await shot(page, "webhooks-add");
  const posted = page.waitForRequest((r) => r.method() === "POST" && r.url() === `${base}/webhooks`);
  await d.getByRole("button", { name: "Add webhook" }).click();
  const request = await posted;
  assert.deepStrictEqual(request.postDataJSON(), {
    url,
    description: "Test receiver",
    events: ["application.created", "key.created"],
  });
  assert.match(request.headers()["idempotency-key"], /^console-[0-9a-f]{32}$/);

  // The signing secret, once: Escape does not dismiss it; Close removes it.
  const secretDialog = dialog(page, "Your webhook's signing secret");
  await secretDialog.waitFor();
  const field = secretDialog.getByLabel("Signing secret");
  assert.equal(await field.evaluate((e) => e === document.activeElement), true, "focus starts on the secret");
  const secret = await field.inputValue();
  assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
  assert.match(await secretDialog.innerText(), /You will not see it again/);
  await secretDialog.getByRole("button", { name: "Copy" }).waitFor();
  await shot(page, "webhooks-secret");
  await page.keyboard.press("Escape");
  await secretDialog.getByText("Copy the secret first").waitFor();
  await secretDialog.getByRole("button", { name: "I have copied the secret — Close" }).click();
  await secretDialog.waitFor({ state: "detached" });
  assert.equal(await pageHolds(page, secret), false, "the secret is gone from the page after Close");
  await page.getByRole("status").getByText(`Webhook ${url} added.`).waitFor();
  assert.equal(await focusedName(page), "Add webhook", "focus is back on Add webhook");

  // The list: URL, its two events, Enabled, the description.
  const row = webhookRow(page, url);
  await row.waitFor();
  const text = await row.innerText();
  assert.match(text, /application\.created/);
  assert.match(text, /key\.created/);
  assert.match(text, /Enabled/);
  assert.match(text, /Test receiver/);
  await page.getByText("1 webhook", { exact: true }).waitFor();
  await shot(page, "webhooks");
  const listed = await call(alice, "GET", "/webhooks");
  assert.equal(listed.items.length, 1);
  assert.ok(!JSON.stringify(listed).includes(secret.slice(6)), "no read shows the secret");
  const webhookId = listed.items[0].id;

  // A reload does not bring it back either.
  await page.reload();
  await heading(page, "Webhooks");
  await webhookRow(page, url).waitFor();
  assert.equal(await pageHolds(page, secret), false, "the secret is not in the page after a reload");

  // Changes: an application (delivered), a rename (not subscribed), a key
  // (delivered). Deliveries go in commit order, so once the key's has come
  // the rename was passed over.
  const app = await call(alice, "POST", "/applications", { name: "Hooked" });
  const appEvent = await receivedEvent("/hook", "application.created");
  await call(alice, "PATCH", `/applications/${app.id}`, { name: "Hooked again" });
  await call(alice, "POST", `/applications/${app.id}/keys`, { name: "k" });
  const keyEvent = await receivedEvent("/hook", "key.created");
  const types = received.filter((r) => r.url === "/hook").map((r) => JSON.parse(r.body).type);
  assert.deepStrictEqual(types, ["application.created", "key.created"], "only the chosen types are sent");
  assert.equal(appEvent.method, "POST");
  assert.equal(JSON.parse(appEvent.body).object.id, app.id);
  // Signed with the secret the page showed.
  for (const event of [appEvent, keyEvent]) {
    assert.equal(event.headers["webhook-signature"], signature(secret, event));
  }

  // The webhook's page: its deliveries, newest first, delivered with 204.
  await webhookRow(page, url).getByRole("link", { name: url }).click();
  await heading(page, url);
  assert.equal(await page.locator("h1").getAttribute("data-webhook-id"), webhookId);
  await page.getByText("Test receiver").waitFor();
  // Refresh until both show as delivered (at least once: it keeps focus).
  let cells;
  for (let i = 0; ; i++) {
    await page.getByRole("button", { name: "Refresh" }).click();
    await page.getByRole("status").getByText("Deliveries refreshed.").waitFor();
    // Focus is back on Refresh once the page has re-rendered.
    await page.waitForFunction(() => document.activeElement?.textContent === "Refresh");
    cells = await deliveryCells(page);
    if (cells.length === 2 && cells.every((c) => c[2] === "Delivered")) break;
    assert.ok(i < 40, `the deliveries never showed as delivered: ${JSON.stringify(cells)}`);
    await sleep(250);
  }
  const [keyRow, appRow] = cells;
  // Event, event id, status, attempts, answer, error.
  assert.deepStrictEqual(appRow.slice(0, 6), ["application.created", appEvent.headers["webhook-id"], "Delivered", "1", "204", "—"]);
  assert.deepStrictEqual(keyRow.slice(0, 6), ["key.created", keyEvent.headers["webhook-id"], "Delivered", "1", "204", "—"]);
  assert.notEqual(appRow[6], "Not yet", "the last attempt's time is shown");
  assert.equal(appRow[7], "—", "no next attempt");
  await shot(page, "webhook-deliveries");

  // Edit: no event type checked is every type again (null in the PATCH).
  await page.getByRole("button", { name: "Edit webhook" }).click();
  const edit = dialog(page, "Edit webhook");
  assert.equal(await edit.getByLabel("URL").inputValue(), url);
  assert.equal(await edit.getByLabel("key.created").isChecked(), true);
  await edit.getByLabel("application.created").uncheck();
  await edit.getByLabel("key.created").uncheck();
  const patched = page.waitForRequest((r) => r.method() === "PATCH");
  await edit.getByRole("button", { name: "Save" }).click();
  assert.deepStrictEqual((await patched).postDataJSON(), { events: null });
  await edit.waitFor({ state: "detached" });
  await page.getByRole("status").getByText("Webhook saved.").waitFor();
  await page.locator("dl.facts").getByText("All events").waitFor();
  assert.deepStrictEqual((await call(alice, "GET", `/webhooks/${webhookId}`)).events, []);
  await close(opened);
});

test("the server's problems: an ftp URL at the URL field, and the webhook limit", async () => {
  const alice = await token("alice", "hooks-problems", { all: true });
  const opened = await signedIn(alice, "#/webhooks");
  const { page } = opened;
  await heading(page, "Webhooks");
  await page.getByRole("button", { name: "Add webhook" }).click();
  const d = dialog(page, "Add webhook");
  const urlField = d.getByLabel("URL");
  await urlField.fill("ftp://x");
  await d.getByRole("button", { name: "Add webhook" }).click();
  const alert = d.getByRole("alert");
  await alert.getByText("INVALID_WEBHOOK_URL").waitFor();
  // The server runs with KEYWARD_WEBHOOK_ALLOW_INSECURE, so http is allowed too.
  assert.match(await alert.innerText(), /Check the input: Url must use https or http\./);
  assert.equal(await focusedName(page), "url", "focus is on the URL");
  assert.equal(await urlField.getAttribute("aria-invalid"), "true");
  assert.ok((await urlField.getAttribute("aria-describedby")).split(" ").includes(await alert.getAttribute("id")));
  await shot(page, "webhooks-invalid-url");
  // Nothing was made.
  assert.equal((await call(alice, "GET", "/webhooks")).items.length, 0);
  await d.getByRole("button", { name: "Cancel" }).click();
  await d.waitFor({ state: "detached" });

  // The limit (10 by default): the 11th is refused with its `limit`, and
  // the page then shows it and disables Add webhook.
  for (let i = 1; i <= 10; i++) {
    await call(alice, "POST", "/webhooks", { url: `${receiverBase}/limit/${i}`, events: ["user.offboarded"] });
  }
  await page.reload();
  await heading(page, "Webhooks");
  await page.getByText("10 webhooks", { exact: true }).waitFor();
  await page.getByRole("button", { name: "Add webhook" }).click();
  await d.getByLabel("URL").fill(`${receiverBase}/limit/11`);
  await d.getByRole("button", { name: "Add webhook" }).click();
  await d.getByRole("alert").getByText("WEBHOOK_LIMIT_REACHED").waitFor();
  assert.match(await d.getByRole("alert").innerText(), /Not possible now: The account already has 10 webhooks/);
  await d.getByRole("button", { name: "Cancel" }).click();
  await page.getByText("Webhook limit reached").waitFor();
  await page.getByText("10 webhooks of at most 10").waitFor();
  assert.equal(await page.getByRole("button", { name: "Add webhook" }).isDisabled(), true);
  await close(opened);
});

test("disable, enable and delete from the list, each through its dialog", async () => {
  const alice = await token("alice", "hooks-lifecycle", { all: true });
  const url = `${receiverBase}/lifecycle`;
  const { webhook } = await call(alice, "POST", "/webhooks", { url, description: "To switch off" });
  const opened = await signedIn(alice, "#/webhooks");
  const { page } = opened;
  await heading(page, "Webhooks");
  const row = webhookRow(page, url);
  assert.match(await row.innerText(), /All events/);

  // Cancel changes nothing and focus goes back.
  const disable = row.getByRole("button", { name: `Disable ${url}` });
  await disable.click();
  const confirm = dialog(page, "Disable webhook?");
  await confirm.waitFor();
  assert.equal(await focusedName(page), "Cancel", "a confirmation starts on Cancel");
  await confirm.getByRole("button", { name: "Cancel" }).click();
  await confirm.waitFor({ state: "detached" });
  assert.equal(await focusedName(page), `Disable ${url}`);

  await throughDialog(page, disable, "Disable webhook?", "Disable webhook");
  await page.getByRole("status").getByText(`Webhook ${url} disabled.`).waitFor();
  await row.getByText("Disabled", { exact: true }).waitFor();
  assert.equal((await call(alice, "GET", `/webhooks/${webhook.id}`)).enabled, false);
  assert.equal(await focusedName(page), `Enable ${url}`, "focus is on the row's first button");
  await shot(page, "webhooks-disabled");

  await throughDialog(page, row.getByRole("button", { name: `Enable ${url}` }), "Enable webhook?", "Enable webhook");
  await row.getByText("Enabled", { exact: true }).waitFor();
  assert.equal((await call(alice, "GET", `/webhooks/${webhook.id}`)).enabled, true);

  // The audit log says what changed.
  await page.getByRole("link", { name: "Audit log", exact: true }).click();
  await heading(page, "Audit log");
  await page.locator("tbody tr").nth(2).waitFor();
  const audit = await page.locator("tbody tr").evaluateAll((rows) => rows.map((r) => r.innerText.replace(/\s+/g, " ")));
  assert.match(audit[0], /webhook\.updated webhook wh_\S+ disabled → enabled/);
  assert.match(audit[1], /webhook\.updated webhook wh_\S+ enabled → disabled/);
  assert.ok(audit[2].includes(`webhook.created webhook ${webhook.id} ${url}`), audit[2]);
  await page.getByRole("link", { name: "Webhooks", exact: true }).click();
  await heading(page, "Webhooks");

  await throughDialog(page, row.getByRole("button", { name: `Delete ${url}` }), "Delete webhook?", "Delete webhook");
  await page.getByRole("status").getByText(`Webhook ${url} deleted.`).waitFor();
  await page.getByText("No webhooks yet").waitFor();
  const gone = await get(alice, `/webhooks/${webhook.id}`);
  assert.equal(gone.status, 404);
  assert.equal(gone.json.code, "WEBHOOK_NOT_FOUND");

  // Its page is gone too, and says so.
  await page.evaluate((id) => {
    location.hash = `#/webhooks/${id}`;
  }, webhook.id);
  await page.getByRole("alert").getByText("WEBHOOK_NOT_FOUND").waitFor();
  await close(opened);
});

test("on a webhook's page: disable keeps focus on the toggle, delete goes back to the list", async () => {
  const alice = await token("alice", "hooks-page", { all: true });
  const url = `${receiverBase}/page`;
  const { webhook } = await call(alice, "POST", "/webhooks", { url });
  const opened = await signedIn(alice, `#/webhooks/${webhook.id}`);
  const { page } = opened;
  await heading(page, url);
  await page.getByText("No deliveries yet").waitFor();
  await throughDialog(page, page.getByRole("button", { name: "Disable webhook" }), "Disable webhook?", "Disable webhook");
  await page.getByRole("button", { name: "Enable webhook" }).waitFor();
  assert.equal(await focusedName(page), "Enable webhook");
  await page.locator("dl.facts").getByText("Disabled", { exact: true }).waitFor();
  await throughDialog(page, page.getByRole("button", { name: "Delete webhook" }), "Delete webhook?", "Delete webhook");
  await heading(page, "Webhooks");
  assert.ok(page.url().endsWith("#/webhooks"), page.url());
  await page.getByText("No webhooks yet").waitFor();
  await close(opened);
});

test("without webhooks:manage there is no Webhooks entry, and the page says why", async () => {
  const bob = await token("bob", "hooks-denied", { permissions: "applications:view" });
  const opened = await signedIn(bob);
  const { page } = opened;
  assert.equal(await page.getByRole("link", { name: "Webhooks", exact: true }).count(), 0);
  await page.evaluate(() => {
    location.hash = "#/webhooks";
  });
  await heading(page, "Webhooks");
  const alert = page.getByRole("alert");
  await alert.getByText("PERMISSION_DENIED").waitFor();
  assert.match(await alert.innerText(), /Not allowed: This action needs the permission webhooks:manage/);
  assert.match(await page.locator(".notice").innerText(), /Webhooks need the permission webhooks:manage/);
  assert.equal(await page.getByRole("button", { name: "Add webhook" }).count(), 0);
  await shot(page, "webhooks-denied");
  await close(opened);
});

test("the Webhooks pages and the Add webhook dialog reflow at 320 CSS px (1.4.10)", async () => {
  const alice = await token("alice", "hooks-reflow", { all: true });
  const long = `${receiverBase}/a/rather/long/path/for/a/narrow/window/${"x".repeat(80)}?with=query&and=more`;
  const { webhook } = await call(alice, "POST", "/webhooks", {
    url: long,
    description: "Deliveries to the warehouse system of the European subsidiaries",
    events: ["application.created", "key.created", "key.revoked"],
  });
  await call(alice, "POST", "/applications", { name: "Reflow" });
  await receivedEvent("/a/rather/long/path/for/a/narrow/window/" + "x".repeat(80) + "?with=query&and=more", "application.created");
  const opened = await signedIn(alice, "#/webhooks", { viewport: { width: 320, height: 640 } });
  const { page } = opened;
  const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  await heading(page, "Webhooks");
  await page.locator("table.webhooks").waitFor();
  await shot(page, "320-webhooks");
  assert.equal(await overflow(), 0, "Webhooks at 320 px scrolls sideways");
  await page.getByRole("button", { name: "Add webhook" }).click();
  const d = dialog(page, "Add webhook");
  await d.waitFor();
  await shot(page, "320-webhooks-add");
  assert.equal(await overflow(), 0, "the Add webhook dialog at 320 px scrolls sideways");
  assert.equal(await d.evaluate((e) => e.scrollWidth > e.clientWidth), false, "the dialog does not widen");
  await d.getByRole("button", { name: "Cancel" }).click();
  await page.evaluate((id) => {
    location.hash = `#/webhooks/${id}`;
  }, webhook.id);
  await heading(page, long);
  for (let i = 0; !(await page.locator("table.deliveries").count()); i++) {
    assert.ok(i < 40, "the delivery never showed");
    await sleep(250);
    await page.getByRole("button", { name: "Refresh" }).click();
  }
  await shot(page, "320-webhook");
  assert.equal(await overflow(), 0, "a webhook's page at 320 px scrolls sideways");
  await close(opened);
});
