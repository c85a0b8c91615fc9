// Usage control in the console, in Chromium against the real `keyward
// serve` (the harness is console-harness.mjs): a key created with a rate
// limit, credits and an allowed address; their use, read back after
// verifications made from Node through POST /verify; editing and removing
// them (PATCH, `null` removes); the server's 422 problems shown next to
// the field they are about; and the focus of the rate-limit rows.
//
// Run by tests/console.sh.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  base,
  call,
  close,
  dialog,
  heading,
  keyRow,
  shot,
  signedIn,
  sleep,
  startAll,
  stopAll,
  takeSecret,
  token,
  verify,
} from "./console-harness.mjs";

before(startAll);
after(stopAll);

const DAY = 86_400;

/** Waits, when the UTC day ends within two minutes, for the next one: the
 * test's per-day limit and monthly refill must not reset halfway. */
async function awayFromMidnight() {
  const left = DAY - ((Date.now() / 1000) % DAY);
  if (left < 120) await sleep((left + 1) * 1000);
}

/** What has focus, as `name` attribute or text. */
function focusedName(page) {
  return page.evaluate(() => document.activeElement.getAttribute("name") ?? document.activeElement.textContent.trim());
}

/** Opens the usage-control disclosure of dialog `d`. */
async function openControls(d) {
  await d.getByText("Usage control", { exact: false }).click();
  await d.getByText("Rate limits", { exact: true }).waitFor();
}

/** The body of the next PATCH the page sends. */
function nextPatch(page) {
  return page.waitForRequest((request) => request.method() === "PATCH").then((request) => request.postDataJSON());
}

/** The key page's Credits "Remaining", and its rate-limit rows' cells. */
async function keyPage(page) {
  const remaining = await page.locator("dl.credits dd").first().innerText().catch(() => null);
  const limits = await page.locator("table.limits tbody tr").evaluateAll((rows) =>
    rows.map((row) => [...row.children].map((cell) => cell.innerText.trim())),
  );
  return { remaining, limits };
}

test("a key with a rate limit, credits and an address: create, see the use go down, edit, remove", async () => {
  await awayFromMidnight();
  const alice = await token("alice", "usage", { all: true });
  const app = await call(alice, "POST", "/applications", { name: "Metered" });
  const opened = await signedIn(alice, `#/applications/${app.id}`);
  const { page } = opened;
  await heading(page, "Metered");

  // Create: the controls sit in a disclosure; Add rate limit focuses the
  // new row.
  await page.getByRole("button", { name: "New key" }).click();
  const create = dialog(page, "New key for Metered");
  await create.getByLabel("Name", { exact: true }).fill("metered");
  await openControls(create);
  await create.getByRole("button", { name: "Add rate limit" }).click();
  assert.equal(await focusedName(page), "limit_name", "focus is in the new row");
  await create.getByLabel("Limit name").fill("per-day");
  await create.getByLabel("Uses per window").fill("5");
  await create.getByLabel("Window (seconds)").fill(String(DAY));
  await create.getByLabel("Remaining credits").fill("10");
  await create.getByLabel("Refill to").fill("10");
  await create.getByLabel("Refill", { exact: true }).selectOption("monthly");
  await create.getByLabel("Allowed addresses").fill("203.0.113.0/24\n");
  await shot(page, "usage-new-key");
  const posted = page.waitForRequest((r) => r.method() === "POST" && r.url().endsWith(`/applications/${app.id}/keys`));
  await create.getByRole("button", { name: "Create key" }).click();
  assert.deepStrictEqual(
    (({ rate_limits, credits, allowed_ips }) => ({ rate_limits, credits, allowed_ips }))((await posted).postDataJSON()),
    {
      rate_limits: [{ name: "per-day", limit: 5, window_seconds: DAY }],
      credits: { remaining: 10, refill: { amount: 10, interval: "monthly" } },
      allowed_ips: ["203.0.113.0/24"],
    },
  );
  const secret = await takeSecret(page);
  const row = keyRow(page, "metered");
  await row.getByText("10 credits left").waitFor();
  assert.match(await row.innerText(), /per-day: 5 of 5 left/);
  assert.match(await row.innerText(), /From 203\.0\.113\.0\/24/);

  // Verifications from Node: an address outside the block is refused and
  // spends nothing; three from inside spend one credit and one use each.
  assert.equal((await verify({ key: secret, source_ip: "198.51.100.1" })).code, "IP_NOT_ALLOWED");
  for (let i = 1; i <= 3; i++) {
    const answer = await verify({ key: secret, source_ip: "203.0.113.7" });
    assert.equal(answer.code, "VALID", JSON.stringify(answer));
    assert.equal(answer.credits_remaining, 10 - i);
    assert.equal(answer.rate_limits[0].remaining, 5 - i);
  }
  await page.reload();
  await heading(page, "Metered");
  await keyRow(page, "metered").getByText("7 credits left").waitFor();
  assert.match(await keyRow(page, "metered").innerText(), /per-day: 2 of 5 left/);

  // The key's page: credits, the limit's use, the addresses.
  await keyRow(page, "metered").getByRole("link", { name: "metered" }).click();
  await heading(page, "metered");
  let shown = await keyPage(page);
  assert.equal(shown.remaining, "7");
  assert.equal(shown.limits.length, 1);
  assert.deepStrictEqual(shown.limits[0].slice(0, 3), ["per-day", "5 per day", "2 of 5"]);
  assert.notEqual(shown.limits[0][3], "—", "the window's end is shown");
  assert.match(await page.locator("dl.credits").innerText(), /To 10 on the 1st of each month/);
  await page.getByRole("listitem").filter({ hasText: "203.0.113.0/24" }).waitFor();
  await shot(page, "usage-key");

  // Refresh shows the next verification; focus stays on Refresh.
  assert.equal((await verify({ key: secret, source_ip: "203.0.113.8" })).credits_remaining, 6);
  await page.getByRole("button", { name: "Refresh" }).click();
  await page.getByRole("status").getByText("Usage refreshed.").waitFor();
  await page.locator("dl.credits dd").first().getByText("6", { exact: true }).waitFor();
  assert.deepStrictEqual((await keyPage(page)).limits[0].slice(0, 3), ["per-day", "5 per day", "1 of 5"]);
  assert.equal(await focusedName(page), "Refresh");

  // Edit: a higher limit, a new balance, no address any more. Only the
  // changed fields go in the PATCH; an emptied one is null.
  await page.getByRole("button", { name: "Edit key" }).click();
  const edit = dialog(page, "Edit key metered");
  await edit.getByText("Rate limits", { exact: true }).waitFor(); // open: the key has controls
  assert.equal(await edit.getByLabel("Remaining credits").inputValue(), "6");
  await edit.getByLabel("Uses per window").fill("50");
  await edit.getByLabel("Remaining credits").fill("100");
  await edit.getByLabel("Allowed addresses").fill("");
  let patch = nextPatch(page);
  await edit.getByRole("button", { name: "Save" }).click();
  assert.deepStrictEqual(await patch, {
    rate_limits: [{ name: "per-day", limit: 50, window_seconds: DAY }],
    credits: { remaining: 100, refill: { amount: 10, interval: "monthly" } },
    allowed_ips: null,
  });
  await edit.waitFor({ state: "detached" });
  await page.getByRole("status").getByText("Key metered saved.").waitFor();
  assert.equal(await focusedName(page), "Edit key");
  await page.getByText("Any address.").waitFor();
  shown = await keyPage(page);
  assert.equal(shown.remaining, "100");
  assert.deepStrictEqual(shown.limits[0].slice(0, 2), ["per-day", "50 per day"]);
  const anywhere = await verify({ key: secret, source_ip: "198.51.100.1" });
  assert.equal(anywhere.code, "VALID", "no address list: any address");
  assert.equal(anywhere.credits_remaining, 99);

  // Remove the limit and the credits: Remove leaves focus on Add.
  await page.getByRole("button", { name: "Edit key" }).click();
  await edit.getByRole("button", { name: "Remove rate limit 1" }).click();
  assert.equal(await focusedName(page), "Add rate limit");
  await edit.getByLabel("Remaining credits").fill("");
  await edit.getByLabel("Refill to").fill("");
  patch = nextPatch(page);
  await edit.getByRole("button", { name: "Save" }).click();
  assert.deepStrictEqual(await patch, { rate_limits: null, credits: null });
  await edit.waitFor({ state: "detached" });
  await page.getByText("No rate limits.").waitFor();
  await page.getByText("No credit balance.").waitFor();
  const view = await call(alice, "GET", `/keys/${(await page.locator("h1").getAttribute("data-key-id"))}`);
  for (const field of ["rate_limits", "credits", "allowed_ips", "usage"]) {
    assert.equal(view[field], undefined, `${field} is gone: ${JSON.stringify(view)}`);
  }
  const free = await verify({ key: secret });
  assert.equal(free.code, "VALID");
  assert.equal(free.credits_remaining, undefined);

  // Back on the application's page the row says so.
  await page.getByRole("link", { name: "← Metered" }).click();
  await heading(page, "Metered");
  await keyRow(page, "metered").getByText("No limits").waitFor();
  await close(opened);
});

test("the server's problem is shown next to the field it is about, by its code", async () => {
  const alice = await token("alice", "usage-problems", { all: true });
  const app = await call(alice, "POST", "/applications", { name: "Checked" });
  const opened = await signedIn(alice, `#/applications/${app.id}`);
  const { page } = opened;
  await heading(page, "Checked");

  // A bad CIDR: the server's detail and code under Allowed addresses,
  // which has focus, is marked invalid and is described by the problem.
  const bad = { name: "edge", allowed_ips: ["10.0.0.0/33"] };
  const problem = await fetch(`${base}/applications/${app.id}/keys`, {
    method: "POST",
    headers: { Authorization: `Bearer ${alice}`, "Content-Type": "application/json" },
    body: JSON.stringify(bad),
  }).then(async (r) => ({ status: r.status, ...(await r.json()) }));
  assert.equal(problem.status, 422);
  assert.equal(problem.code, "INVALID_ALLOWED_IPS");
  await page.getByRole("button", { name: "New key" }).click();
  const create = dialog(page, "New key for Checked");
  await create.getByLabel("Name", { exact: true }).fill(bad.name);
  await openControls(create);
  const addresses = create.getByLabel("Allowed addresses");
  await addresses.fill(bad.allowed_ips[0]);
  await create.getByRole("button", { name: "Create key" }).click();
  const alert = create.getByRole("alert");
  await alert.getByText("INVALID_ALLOWED_IPS").waitFor();
  assert.ok((await alert.innerText()).includes(problem.detail.slice(1)), await alert.innerText());
  assert.equal(await focusedName(page), "allowed_ips");
  assert.equal(await addresses.getAttribute("aria-invalid"), "true");
  const alertId = await alert.getAttribute("id");
  assert.ok((await addresses.getAttribute("aria-describedby")).split(" ").includes(alertId));
  assert.equal(await create.locator(".dialog-error").innerText(), "", "not under the form");
  await shot(page, "usage-problem");
  // Fixed, the create goes through and the marks are gone.
  await addresses.fill("10.0.0.0/8");
  await create.getByRole("button", { name: "Create key" }).click();
  await takeSecret(page);
  await keyRow(page, "edge").getByText("10.0.0.0/8").waitFor();

  // A problem with other wording (a translation, say) still lands at its
  // field: a duplicate limit name, under Rate limits, focus on its first
  // field.
  const { key } = await call(alice, "POST", `/applications/${app.id}/keys`, {
    name: "limited",
    rate_limits: [{ name: "burst", limit: 10, window_seconds: 1 }],
  });
  await page.route(`${base}/keys/${key.id}`, async (route) => {
    if (route.request().method() !== "PATCH") return route.continue();
    const response = await route.fetch();
    const json = await response.json();
    assert.equal(json.code, "INVALID_RATE_LIMITS");
    json.detail = "Zwei Grenzen heißen gleich";
    await route.fulfill({ response, json });
  });
  await page.evaluate((href) => {
    location.hash = href;
  }, `#/applications/${app.id}/keys/${key.id}`);
  await heading(page, "limited");
  await page.getByRole("button", { name: "Edit key" }).click();
  const edit = dialog(page, "Edit key limited");
  await edit.getByRole("button", { name: "Add rate limit" }).click();
  await edit.getByLabel("Limit name").nth(1).fill("burst");
  await edit.getByLabel("Uses per window").nth(1).fill("20");
  await edit.getByLabel("Window (seconds)").nth(1).fill("60");
  await edit.getByRole("button", { name: "Save" }).click();
  const limitsAlert = edit.getByRole("alert");
  await limitsAlert.getByText("INVALID_RATE_LIMITS").waitFor();
  assert.match(await limitsAlert.innerText(), /Zwei Grenzen heißen gleich/);
  const group = edit.getByRole("group", { name: "Rate limits" });
  assert.ok((await group.getAttribute("aria-describedby")).split(" ").includes(await limitsAlert.getAttribute("id")));
  assert.equal(await edit.getByLabel("Limit name").first().evaluate((e) => e === document.activeElement), true);
  await edit.getByRole("button", { name: "Cancel" }).click();
  await edit.waitFor({ state: "detached" });
  await close(opened);
});

test("rate-limit rows: at most 5, numbered, and Remove never drops focus", async () => {
  const alice = await token("alice", "usage-rows", { all: true });
  const app = await call(alice, "POST", "/applications", { name: "Rows" });
  const opened = await signedIn(alice, `#/applications/${app.id}`);
  const { page } = opened;
  await heading(page, "Rows");
  await page.getByRole("button", { name: "New key" }).click();
  const d = dialog(page, "New key for Rows");
  await openControls(d);
  const add = d.getByRole("button", { name: "Add rate limit" });
  for (let i = 1; i <= 5; i++) {
    await add.click();
    await d.getByLabel("Limit name").nth(i - 1).fill(`l${i}`);
  }
  assert.equal(await add.isDisabled(), true, "a sixth is not offered");
  const names = () => d.getByLabel("Limit name").evaluateAll((inputs) => inputs.map((e) => e.value));
  const groups = () => d.getByRole("group", { name: /^Rate limit \d$/ }).evaluateAll((gs) => gs.map((g) => g.querySelector("legend").textContent));
  assert.deepStrictEqual(await groups(), ["Rate limit 1", "Rate limit 2", "Rate limit 3", "Rate limit 4", "Rate limit 5"]);

  // Remove the third: focus goes to the row that took its place, and the
  // rows are numbered again.
  await d.getByRole("button", { name: "Remove rate limit 3" }).click();
  assert.deepStrictEqual(await names(), ["l1", "l2", "l4", "l5"]);
  assert.equal(await page.evaluate(() => document.activeElement.value), "l4");
  assert.deepStrictEqual(await groups(), ["Rate limit 1", "Rate limit 2", "Rate limit 3", "Rate limit 4"]);
  assert.equal(await add.isDisabled(), false);
  // The last: focus goes to the one before.
  await d.getByRole("button", { name: "Remove rate limit 4" }).click();
  assert.equal(await page.evaluate(() => document.activeElement.value), "l4");
  for (let left = 3; left >= 1; left--) await d.getByRole("button", { name: `Remove rate limit ${left}` }).click();
  assert.equal(await focusedName(page), "Add rate limit");
  await d.getByRole("button", { name: "Cancel" }).click();
  await d.waitFor({ state: "detached" });
  await close(opened);
});
