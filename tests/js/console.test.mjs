// The web console end to end (the harness is console-harness.mjs): every
// page and dialog in Chromium against the real `keyward serve`, and every
// verdict checked through POST /verify from Node. A copy of console/ on a
// second origin covers the static-host case and the API's CORS.
// Screenshots of each page go to target/console-screenshots/.
//
// Run by tests/console.sh.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  BIN,
  base,
  buttonsOf,
  call,
  close,
  dataDir,
  dialog,
  extraOrigins,
  heading,
  hs256,
  inSeconds,
  keyRow,
  openPage,
  run,
  shot,
  showsStatus,
  signedIn,
  sleep,
  startAll,
  startServer,
  staticBase,
  statusOf,
  stopAll,
  takeSecret,
  throughDialog,
  token,
  verdict,
} from "./console-harness.mjs";

before(startAll);
after(stopAll);

// ---- the tests -------------------------------------------------------------

test("keyward serve sends the console with its security headers", async () => {
  const page = await fetch(`${base}/`);
  assert.equal(page.status, 200);
  assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
  assert.equal(page.headers.get("x-content-type-options"), "nosniff");
  const csp = page.headers.get("content-security-policy");
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /connect-src 'self'/);
  assert.doesNotMatch(csp, /unsafe/);
  assert.match(await page.text(), /<script type="module" src="app.js">/);
  const script = await fetch(`${base}/app.js`);
  assert.equal(script.headers.get("content-type"), "text/javascript; charset=utf-8");
  // The API's own 404 stays a problem.
  const missing = await fetch(`${base}/nope.js`);
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).code, "ROUTE_NOT_FOUND");
});

test("the #token= link signs in, leaves the address bar, and sign-out forgets it", async () => {
  const bearer = await token("alice", "fragment", { all: true });
  const opened = await signedIn(bearer);
  const { page } = opened;
  assert.ok(!page.url().includes("token"), `the token left the URL: ${page.url()}`);
  assert.ok(page.url().endsWith("#/applications"));
  await page.getByText("Signed in as").waitFor();
  // A reload keeps the session (this tab's sessionStorage).
  await page.reload();
  await heading(page, "Applications");
  await page.getByRole("button", { name: "Sign out" }).click();
  await heading(page, "Sign in");
  assert.equal(await page.evaluate(() => Object.values(sessionStorage).some((v) => v.includes("eyJ"))), false);
  // The entry before this one is the blank tab: the link's entry was
  // replaced, so Back cannot bring the token back.
  await page.goBack();
  assert.ok(!page.url().includes("token"), `Back led to ${page.url()}`);
  await close(opened);
});

test("the sign-in box shows why a token is refused, then signs in", async () => {
  const opened = await openPage(`${base}/`);
  const { page } = opened;
  await heading(page, "Sign in");
  await shot(page, "sign-in");
  const box = page.getByLabel("Bearer token");
  const alert = page.getByRole("alert");

  await box.fill("not a token");
  await page.getByRole("button", { name: "Sign in" }).click();
  await alert.getByText("not a JWT").waitFor();

  // Well-formed, signed with another secret: the API's problem, verbatim.
  await box.fill(await token("alice", "signin", { all: true, secret: randomBytes(24).toString("hex") }));
  await page.getByRole("button", { name: "Sign in" }).click();
  await alert.getByText("TOKEN_INVALID").waitFor();
  assert.match(await alert.innerText(), /Not signed in: The bearer token was rejected/);

  await box.fill(await token("alice", "signin", { all: true }));
  await page.getByRole("button", { name: "Sign in" }).click();
  await heading(page, "Applications");
  await close(opened);
});

test("applications, a key's secret once, disable, enable, regenerate and delete, each through its dialog", async () => {
  const alice = await token("alice", "acme", { all: true, permissions: "sims:*" });
  const opened = await signedIn(alice);
  const { page } = opened;

  // Keyboard: the dialog opens on Enter, Escape closes it, focus returns.
  const newApp = page.getByRole("button", { name: "New application" });
  await newApp.focus();
  await page.keyboard.press("Enter");
  const appDialog = dialog(page, "New application");
  await appDialog.waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.getAttribute("name")), "name", "focus starts in Name");
  await page.keyboard.press("Escape");
  await appDialog.waitFor({ state: "detached" });
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "New application");

  // Create an application.
  await newApp.click();
  await appDialog.getByLabel("Name").fill("Billing");
  await appDialog.getByLabel("Description").fill("Invoices and payment runs");
  await appDialog.getByLabel("Key prefix").fill("bill");
  await appDialog.getByRole("button", { name: "Create application" }).click();
  await appDialog.waitFor({ state: "detached" });
  await page.getByRole("status").getByText("Application Billing created.").waitFor();
  await page.getByRole("cell", { name: "Invoices and payment runs" }).waitFor();
  assert.equal(
    await page.evaluate(() => document.activeElement.textContent),
    "New application",
    "focus is back on the button after the page re-rendered",
  );
  await shot(page, "applications");

  // Its keys page, and a new key.
  await page.getByRole("link", { name: "Billing" }).click();
  await heading(page, "Billing");
  await page.getByText("No keys yet").waitFor();
  await page.getByRole("button", { name: "New key" }).click();
  const keyDialog = dialog(page, "New key for Billing");
  await keyDialog.waitFor();
  await keyDialog.getByLabel("Name").fill("ci");
  await keyDialog.getByLabel("Description").fill("CI pipeline");
  // Only the scopes the user holds are offered.
  assert.deepStrictEqual(await keyDialog.getByRole("checkbox").evaluateAll((boxes) => boxes.map((b) => b.value)), ["sims:*"]);
  await keyDialog.getByLabel("Narrower scopes").fill("sims:read");
  await keyDialog.getByRole("button", { name: "Create key" }).click();

  // The secret, once: Copy works, Escape does not dismiss it.
  const secretDialog = dialog(page, "Your new key");
  await secretDialog.waitFor();
  await opened.context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  await secretDialog.getByRole("button", { name: "Copy" }).click();
  await secretDialog.getByText("Copied to the clipboard.").waitFor();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  await shot(page, "new-key-secret");
  await page.keyboard.press("Escape");
  await secretDialog.getByText("Copy the key first").waitFor();
  const first = await takeSecret(page);
  assert.equal(copied, first, "Copy put the key on the clipboard");
  assert.ok(first.startsWith("bill_"));
  assert.equal(await verdict(first, ["sims:read"]), "VALID");

  const row = keyRow(page, "ci");
  assert.equal(await statusOf(row), "Active");
  assert.match(await row.innerText(), /sims:read/);
  assert.match(await row.innerText(), /CI pipeline/);
  assert.deepStrictEqual(await buttonsOf(row), ["Disable", "Regenerate", "Delete"]);

  // Last used appears once the server has noted the verification.
  for (let i = 0; ; i++) {
    await page.reload();
    await heading(page, "Billing");
    if (!(await keyRow(page, "ci").innerText()).includes("Never")) break;
    assert.ok(i < 20, "last used never appeared");
    await sleep(500);
  }
  await shot(page, "keys");

  // Cancel changes nothing; focus goes back to the button.
  const disable = row.getByRole("button", { name: "Disable ci" });
  await disable.click();
  const disableDialog = dialog(page, "Disable key ci?");
  await disableDialog.waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Cancel", "a confirmation starts on Cancel");
  await shot(page, "disable-dialog");
  await disableDialog.getByRole("button", { name: "Cancel" }).click();
  await disableDialog.waitFor({ state: "detached" });
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Disable ci");
  assert.equal(await statusOf(row), "Active");
  assert.equal(await verdict(first), "VALID");

  // Disable, then enable.
  await throughDialog(page, disable, "Disable key ci?", "Disable key");
  await page.getByRole("status").getByText("Key ci disabled.").waitFor();
  await showsStatus(keyRow(page, "ci"), "Disabled");
  assert.deepStrictEqual(await buttonsOf(keyRow(page, "ci")), ["Enable", "Delete"]);
  assert.equal(await verdict(first), "DISABLED");
  await throughDialog(page, keyRow(page, "ci").getByRole("button", { name: "Enable ci" }), "Enable key ci?", "Enable key");
  await showsStatus(keyRow(page, "ci"), "Active");
  assert.equal(await verdict(first), "VALID");

  // Regenerate: a new secret once; the old key is revoked at once.
  await throughDialog(page, keyRow(page, "ci").getByRole("button", { name: "Regenerate ci" }), "Regenerate key ci?", "Get new key");
  const second = await takeSecret(page);
  assert.notEqual(second, first);
  assert.equal(await verdict(first), "REVOKED");
  assert.equal(await verdict(second, ["sims:read"]), "VALID");
  await page.getByRole("status").getByText("the old key no longer works").waitFor();
  assert.equal(await keyRow(page, "ci").count(), 1, "the revoked key left the list");

  // Regenerate with a grace period: both work until it ends.
  await keyRow(page, "ci").getByRole("button", { name: "Regenerate ci" }).click();
  const regenerate = dialog(page, "Regenerate key ci?");
  await regenerate.getByLabel("The current key stops working").selectOption({ label: "In 1 hour" });
  await regenerate.getByRole("button", { name: "Get new key" }).click();
  await regenerate.waitFor({ state: "detached" });
  const third = await takeSecret(page);
  assert.equal(await verdict(second), "VALID");
  assert.equal(await verdict(third), "VALID");
  const replaced = keyRow(page, "ci", { hasText: "Replaced; works until" });
  await replaced.waitFor();
  assert.equal(await keyRow(page, "ci").count(), 2);
  assert.deepStrictEqual(await buttonsOf(replaced), ["Disable", "Delete"], "a replaced key cannot be regenerated again");

  // Delete both.
  await throughDialog(page, replaced.getByRole("button", { name: "Delete ci" }), "Delete key ci?", "Delete key");
  await replaced.waitFor({ state: "detached" });
  assert.equal(await verdict(second), "REVOKED");
  assert.equal(await verdict(third), "VALID");
  await throughDialog(page, keyRow(page, "ci").getByRole("button", { name: "Delete ci" }), "Delete key ci?", "Delete key");
  assert.equal(await verdict(third), "REVOKED");
  await page.getByText("No keys yet").waitFor();

  // Edit and revoke the application.
  await page.getByRole("button", { name: "Edit application" }).click();
  const edit = dialog(page, "Edit Billing");
  await edit.getByLabel("Name").fill("Billing EU");
  await edit.getByRole("button", { name: "Save" }).click();
  await heading(page, "Billing EU");
  await throughDialog(page, page.getByRole("button", { name: "Revoke application" }), "Revoke Billing EU?", "Revoke application");
  await heading(page, "Applications");
  await page.getByText("No applications yet").waitFor();
  await close(opened);
});

test("an expired key offers only Delete", async () => {
  const alice = await token("alice", "expiry", { all: true });
  const app = await call(alice, "POST", "/applications", { name: "Short-lived" });
  const { key, secret } = await call(alice, "POST", `/applications/${app.id}/keys`, {
    name: "temp",
    expires_at: inSeconds(3),
  });
  const opened = await signedIn(alice, `#/applications/${app.id}`);
  const { page } = opened;
  await heading(page, "Short-lived");
  assert.equal(await statusOf(keyRow(page, "temp")), "Active");
  await sleep(Math.max(0, Date.parse(key.expires_at) - Date.now()) + 1000);
  assert.equal(await verdict(secret), "EXPIRED");
  await page.reload();
  await heading(page, "Short-lived");
  const row = keyRow(page, "temp");
  assert.equal(await statusOf(row), "Expired");
  assert.deepStrictEqual(await buttonsOf(row), ["Delete"]);
  await shot(page, "expired-key");
  await throughDialog(page, row.getByRole("button", { name: "Delete temp" }), "Delete key temp?", "Delete key");
  assert.equal(await verdict(secret), "REVOKED");
  await page.getByText("No keys yet").waitFor();
  await close(opened);
});

test("a key that verification refuses above itself is not shown as Active", async () => {
  const alice = await token("alice", "offboard", { all: true });
  const bob = await token("bob", "offboard", { all: true });
  const app = await call(bob, "POST", "/applications", { name: "Bob's" });
  const { key, secret } = await call(alice, "POST", `/applications/${app.id}/keys`, { name: "alice's" });
  await call(alice, "DELETE", "/users/bob");
  assert.equal(await verdict(secret), "OWNER_DELETED");
  const view = await call(alice, "GET", `/keys/${key.id}`);
  assert.equal(view.status, "active");
  assert.equal(view.verdict, "OWNER_DELETED");
  const opened = await signedIn(alice, `#/applications/${app.id}`);
  const { page } = opened;
  await heading(page, "Bob's");
  const row = keyRow(page, "alice's");
  assert.equal(await statusOf(row), "Owner offboarded");
  assert.deepStrictEqual(await buttonsOf(row), ["Delete"]);
  await close(opened);
});

test("buttons follow the user's permissions, any and own", async () => {
  const alice = await token("alice", "perms", { all: true });
  const app = await call(alice, "POST", "/applications", { name: "Shared" });
  await call(alice, "POST", `/applications/${app.id}/keys`, { name: "k1" });

  // Bob may only look.
  const bob = await token("bob", "perms", { permissions: "applications:view keys:view:any" });
  let opened = await signedIn(bob);
  let { page } = opened;
  await page.getByRole("link", { name: "Shared" }).waitFor();
  assert.equal(await page.getByRole("button", { name: "New application" }).count(), 0);
  assert.equal(await page.getByRole("button", { name: /^(Edit|Revoke)/ }).count(), 0);
  assert.equal(await page.getByRole("link", { name: "Audit log" }).count(), 0, "no Audit without audit:view");
  await page.getByRole("link", { name: "Shared" }).click();
  await heading(page, "Shared");
  const row = keyRow(page, "k1");
  assert.equal(await statusOf(row), "Active");
  assert.deepStrictEqual(await buttonsOf(row), [], "no Disable (or any) button without keys:edit");
  assert.equal(await page.getByRole("button", { name: /^(New key|Edit application|Revoke application)$/ }).count(), 0);
  await shot(page, "read-only");
  await close(opened);

  // Carol may edit, create and revoke keys of her own applications only.
  const carol = await token("carol", "perms", {
    permissions: "applications:view applications:create keys:view:any keys:create:own keys:edit:own keys:revoke:own",
  });
  const own = await call(carol, "POST", "/applications", { name: "Carol's" });
  await call(carol, "POST", `/applications/${own.id}/keys`, { name: "mine" });
  opened = await signedIn(carol, `#/applications/${app.id}`);
  page = opened.page;
  await heading(page, "Shared");
  assert.deepStrictEqual(await buttonsOf(keyRow(page, "k1")), []);
  assert.equal(await page.getByRole("button", { name: "New key" }).count(), 0);
  await page.evaluate((id) => {
    location.hash = `#/applications/${id}`;
  }, own.id);
  await heading(page, "Carol's");
  assert.deepStrictEqual(await buttonsOf(keyRow(page, "mine")), ["Disable", "Regenerate", "Delete"]);
  await page.getByRole("button", { name: "New key" }).waitFor();
  await close(opened);
});

test("API problems are shown as readable messages", async () => {
  const alice = await token("alice", "problems", { all: true, permissions: "sims:*" });
  const app = await call(alice, "POST", "/applications", { name: "Errors" });
  const markup = '<img src=x onerror="window.pwned=1">';
  await call(alice, "POST", "/applications", { name: markup, description: `<script>window.pwned=2</script>` });
  const opened = await signedIn(alice);
  const { page } = opened;
  // Names and descriptions from the API are text, never markup.
  await page.getByRole("link", { name: markup }).waitFor();
  await page.getByRole("cell", { name: "<script>window.pwned=2</script>" }).waitFor();
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  assert.equal(await page.locator("main img, main script").count(), 0);
  await page.getByRole("link", { name: "Errors" }).click();
  await heading(page, "Errors");

  // A scope the user does not hold: the dialog stays open with the reason.
  await page.getByRole("button", { name: "New key" }).click();
  const keyDialog = dialog(page, "New key for Errors");
  await keyDialog.getByLabel("Name").fill("too much");
  await keyDialog.getByLabel("Narrower scopes").fill("billing:write");
  await keyDialog.getByRole("button", { name: "Create key" }).click();
  const alert = keyDialog.getByRole("alert");
  await alert.getByText("SCOPE_NOT_HELD").waitFor();
  assert.match(await alert.innerText(), /Check the input: You cannot grant the scope "billing:write"/);
  await shot(page, "error");
  await keyDialog.getByRole("button", { name: "Cancel" }).click();
  await keyDialog.waitFor({ state: "detached" });
  await page.getByText("No keys yet").waitFor();

  // A page whose object does not exist.
  await page.evaluate(() => {
    location.hash = "#/applications/app_nope";
  });
  await page.getByRole("alert").getByText("APPLICATION_NOT_FOUND").waitFor();
  await close(opened);

  // A permission the user lacks.
  const bob = await token("bob", "problems", { permissions: "applications:view" });
  const bobs = await signedIn(bob, "#/audit");
  await bobs.page.getByRole("alert").getByText("PERMISSION_DENIED").waitFor();
  assert.match(await bobs.page.getByRole("alert").innerText(), /Not allowed: This action needs the permission audit:view/);
  await close(bobs);

  // An expired token (past the server's 30 s leeway): the first call
  // answers 401, and the console goes back to sign-in with the reason.
  const now = Math.floor(Date.now() / 1000);
  const expired = hs256({ sub: "alice", account: "problems", permissions: "applications:view", iat: now - 600, exp: now - 300 });
  const stale = await openPage(`${base}/#token=${expired}`);
  await heading(stale.page, "Sign in");
  await stale.page.getByRole("alert").getByText("TOKEN_EXPIRED").waitFor();
  assert.match(await stale.page.getByRole("alert").innerText(), /Not signed in: The bearer token has expired/);
  await close(stale);
});

test("the application limit is shown when it is reached", async () => {
  const admin = await token("admin", "full", { all: true });
  for (let i = 1; i <= 10; i++) await call(admin, "POST", "/applications", { name: `app ${i}` });
  const opened = await signedIn(admin);
  const { page } = opened;
  await page.getByText("10 active applications").waitFor();
  await page.getByRole("button", { name: "New application" }).click();
  const d = dialog(page, "New application");
  await d.getByLabel("Name").fill("one too many");
  await d.getByRole("button", { name: "Create application" }).click();
  await d.getByRole("alert").getByText("APPLICATION_LIMIT_REACHED").waitFor();
  assert.match(await d.getByRole("alert").innerText(), /already has 10 active applications/);
  await d.getByRole("button", { name: "Cancel" }).click();
  await page.getByText("Application limit reached").waitFor();
  assert.match(await page.locator(".notice").innerText(), /the most allowed \(10\)/);
  assert.equal(await page.getByRole("button", { name: "New application" }).isDisabled(), true);
  await shot(page, "application-limit");
  await close(opened);
});

test("notifications and the audit log", async () => {
  const alice = await token("alice", "notes", { all: true });
  const app = await call(alice, "POST", "/applications", { name: "Notify" });
  await call(alice, "POST", `/applications/${app.id}/keys`, { name: "soon", expires_at: inSeconds(2 * 86_400 - 600) });
  await run(BIN, ["notify-expiring", "--data", dataDir], { env: { ...process.env, KEYWARD_LOG: "warn" } });

  const opened = await signedIn(alice, "#/notifications");
  const { page } = opened;
  await heading(page, "Notifications");
  await page.getByText("soon expires in 2 days").waitFor();
  await shot(page, "notifications");
  await page.getByRole("link", { name: "Open its application" }).click();
  await heading(page, "Notify");

  await page.getByRole("link", { name: "Audit log" }).click();
  await heading(page, "Audit log");
  await page.getByRole("cell", { name: "key.created" }).waitFor();
  await page.getByRole("cell", { name: "application.created" }).waitFor();
  assert.match(await page.locator("tbody").innerText(), /alice/);
  await shot(page, "audit");
  await close(opened);
});

test("a copy of console/ on another origin signs in with the API base URL (CORS)", async () => {
  const alice = await token("alice", "static", { all: true });
  await call(alice, "POST", "/applications", { name: "From S3" });
  const opened = await openPage(`${staticBase}/`);
  const { page } = opened;
  await heading(page, "Sign in");
  await page.getByLabel("Bearer token").fill(alice);
  // Same origin by default: this host has no API, so the sign-in fails.
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").getByText("HTTP_404").waitFor();
  await page.getByText("API address").click();
  await page.getByLabel("API base URL").fill(base);
  await page.getByRole("button", { name: "Sign in" }).click();
  await heading(page, "Applications");
  await page.getByRole("link", { name: "From S3" }).waitFor();
  await close(opened);
});

test("the application limit comes from the problem's limit member, not its wording", async () => {
  const admin = await token("admin", "limit-member", { all: true });
  for (let i = 1; i <= 9; i++) await call(admin, "POST", "/applications", { name: `app ${i}` });
  const opened = await signedIn(admin);
  const { page } = opened;
  await page.getByText("9 active applications").waitFor();
  // Someone else takes the last place meanwhile: the page shows 9, the
  // limit is 10. The detail is reworded (as a translation or a new wording
  // would be), so only the `limit` member can tell the console the limit.
  await call(admin, "POST", "/applications", { name: "app 10" });
  await page.route(`${base}/applications`, async (route) => {
    const response = await route.fetch();
    const problem = await response.json();
    assert.equal(problem.limit, 10);
    problem.detail = "There is no room for another application in this account.";
    await route.fulfill({ response, json: problem });
  });
  await page.getByRole("button", { name: "New application" }).click();
  const d = dialog(page, "New application");
  await d.getByLabel("Name").fill("one too many");
  await d.getByRole("button", { name: "Create application" }).click();
  await d.getByRole("alert").getByText("APPLICATION_LIMIT_REACHED").waitFor();
  await d.getByRole("button", { name: "Cancel" }).click();
  await page.getByText("10 active applications of at most 10").waitFor();
  assert.match(await page.locator(".notice").innerText(), /the most allowed \(10\)/);
  await close(opened);
});

test("the account is read from the claim the server names (KEYWARD_ACCOUNT_CLAIM)", async () => {
  // A second server whose tokens carry the account in `tenant`.
  const data = mkdtempSync(join(tmpdir(), "keyward-console-claim-"));
  const tenantServer = await startServer(staticBase, { env: { KEYWARD_ACCOUNT_CLAIM: "tenant" }, data });
  extraOrigins.add(tenantServer.url);
  try {
    const page0 = await (await fetch(`${tenantServer.url}/`)).text();
    assert.match(page0, /<meta name="keyward-account-claim" content="tenant">/);
    const bearer = await token("alice", "acme-tenant", { all: true, accountClaim: "tenant" });
    assert.equal(JSON.parse(Buffer.from(bearer.split(".")[1], "base64url")).account, undefined);

    // Served by that server: the page knows the claim.
    let opened = await openPage(`${tenantServer.url}/#token=${bearer}`);
    await heading(opened.page, "Applications");
    assert.match(await opened.page.locator("#who").innerText(), /Signed in as alice · acme-tenant/);
    await close(opened);

    // On a static host (its index.html names the default claim): the
    // sign-in form takes the API address and the claim.
    opened = await openPage(`${staticBase}/`);
    const { page } = opened;
    await heading(page, "Sign in");
    await page.getByLabel("Bearer token").fill(bearer);
    await page.getByText("API address").click();
    await page.getByLabel("API base URL").fill(tenantServer.url);
    assert.equal(await page.getByLabel("Account claim").inputValue(), "account");
    await page.getByLabel("Account claim").fill("tenant");
    await page.getByRole("button", { name: "Sign in" }).click();
    await heading(page, "Applications");
    assert.match(await page.locator("#who").innerText(), /Signed in as alice · acme-tenant/);
    await shot(page, "account-claim");
    // A reload keeps the claim with the session.
    await page.reload();
    await heading(page, "Applications");
    assert.match(await page.locator("#who").innerText(), /· acme-tenant/);
    await close(opened);
  } finally {
    extraOrigins.delete(tenantServer.url);
    const exited = new Promise((resolve) => tenantServer.child.once("exit", resolve));
    tenantServer.child.kill("SIGTERM");
    await exited;
    rmSync(data, { recursive: true, force: true });
  }
});
