// The console's accessibility, in Chromium against the real `keyward
// serve` (the harness is console-harness.mjs): reflow at 320 CSS px and at
// 200 % zoom (WCAG 1.4.10), where focus lands after actions that remove
// the focused element (2.4.3), the non-text contrast of form controls
// (1.4.11), the secret dialog's first focus, and unique names for the row
// buttons of same-named keys. The usage control's own checks are in
// console-usage.test.mjs. Screenshots go to target/console-screenshots/.
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
  openPage,
  shot,
  signedIn,
  startAll,
  stopAll,
  throughDialog,
  token,
} from "./console-harness.mjs";

before(startAll);
after(stopAll);

/** How far the page scrolls sideways: 0 when it reflows. */
function overflow(page) {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
}

/** What has focus: its tag, its text, and its key row's id if any. */
function focused(page) {
  return page.evaluate(() => {
    const element = document.activeElement;
    return {
      tag: element.tagName,
      text: element.textContent.trim(),
      rowId: element.closest("tr")?.dataset.rowId ?? null,
    };
  });
}

/** Waits (a little) for focus to leave <body>, where a test then finds
 * it if the page never moves it. */
async function settled(page) {
  await page.waitForFunction(() => document.activeElement !== document.body, null, { timeout: 3000 }).catch(() => {});
}

/** An application with keys whose names, scopes and description are long
 * enough to need the keys table's sideways scroll. */
async function busyApplication(bearer) {
  const app = await call(bearer, "POST", "/applications", {
    name: "Reflow",
    description: "Payment runs of the European subsidiaries",
  });
  for (const name of ["warehouse-sync", "twin", "twin"]) {
    await call(bearer, "POST", `/applications/${app.id}/keys`, {
      name,
      description: "Nightly export of the stock levels to the warehouse system",
      scopes: ["sims:read", "sims:write"],
    });
  }
  return app;
}

test("at 320 CSS px every signed-in page reflows, top bar included (1.4.10)", async () => {
  const alice = await token("alice", "reflow-320", { all: true, permissions: "sims:*" });
  const app = await busyApplication(alice);
  const opened = await signedIn(alice, "", { viewport: { width: 320, height: 640 } });
  const { page } = opened;
  for (const [route, title, name] of [
    ["#/applications", "Applications", "applications"],
    [`#/applications/${app.id}`, "Reflow", "keys"],
    ["#/notifications", "Notifications", "notifications"],
    ["#/audit", "Audit log", "audit"],
  ]) {
    await page.evaluate((r) => {
      location.hash = r;
    }, route);
    await heading(page, title);
    await page.waitForLoadState("networkidle");
    await shot(page, `320-${name}`);
    assert.equal(await overflow(page), 0, `${title} at 320 px scrolls sideways`);
  }
  // The top bar stays within the width, Sign out included.
  const signOut = await page.getByRole("button", { name: "Sign out" }).boundingBox();
  assert.ok(signOut.x >= 0 && signOut.x + signOut.width <= 320, `Sign out at ${JSON.stringify(signOut)}`);
  await close(opened);
});

test("a key's page with usage control reflows at 320 CSS px, its Edit key dialog too (1.4.10)", async () => {
  const alice = await token("alice", "reflow-key", { all: true, permissions: "sims:*" });
  const app = await call(alice, "POST", "/applications", { name: "Reflow key" });
  const { key } = await call(alice, "POST", `/applications/${app.id}/keys`, {
    name: "a-rather-long-key-name-for-a-narrow-window",
    scopes: ["sims:read", "sims:write"],
    rate_limits: [
      { name: "per-second-burst-allowance", limit: 1_000_000, window_seconds: 1 },
      { name: "daily", limit: 100_000, window_seconds: 86_400 },
    ],
    credits: { remaining: 1_000_000_000_000, refill: { amount: 1_000_000_000_000, interval: "monthly" } },
    allowed_ips: ["2001:db8:1234:5678:9abc:def0:1234:5678/128", "203.0.113.0/24"],
  });
  const opened = await signedIn(alice, `#/applications/${app.id}/keys/${key.id}`, { viewport: { width: 320, height: 640 } });
  const { page } = opened;
  await heading(page, key.name);
  await page.locator("table.limits").waitFor();
  await shot(page, "320-key");
  assert.equal(await overflow(page), 0, "the key's page at 320 px scrolls sideways");
  await page.getByRole("button", { name: "Edit key" }).click();
  const edit = dialog(page, `Edit key ${key.name}`);
  await edit.getByLabel("Allowed addresses").waitFor();
  await shot(page, "320-edit-key");
  assert.equal(await overflow(page), 0, "the Edit key dialog at 320 px scrolls sideways");
  const wide = await edit.evaluate((d) => d.scrollWidth > d.clientWidth);
  assert.equal(wide, false, "the dialog's rows wrap instead of widening it");
  await close(opened);
});

test("the keys page does not widen at 640 px, nor at 200 % zoom (1.4.10)", async () => {
  const alice = await token("alice", "reflow-640", { all: true, permissions: "sims:*" });
  const app = await busyApplication(alice);
  // A 640 px window, then the same window at 200 % zoom: 320 CSS px, each
  // two device pixels wide.
  for (const [viewport, deviceScaleFactor, name] of [
    [{ width: 640, height: 800 }, 1, "640"],
    [{ width: 320, height: 400 }, 2, "640-zoom-200"],
  ]) {
    const opened = await signedIn(alice, `#/applications/${app.id}`, { viewport, deviceScaleFactor });
    const { page } = opened;
    await heading(page, "Reflow");
    await keyRow(page, "warehouse-sync").waitFor();
    await shot(page, `keys-${name}`);
    assert.equal(await overflow(page), 0, `the keys page at ${name} scrolls sideways`);
    // The table itself scrolls inside its box (data tables may).
    const table = await page.locator(".table-wrap").evaluate((wrap) => wrap.scrollWidth > wrap.clientWidth);
    assert.equal(table, true, "the keys table is wider than the window and scrolls in its box");
    await close(opened);
  }
});

test("focus stays on the page after Load older events, Sign out and the sign-in form (2.4.3)", async () => {
  const alice = await token("alice", "focus", { all: true });
  // 60 events: one page of 50, then the older 10.
  const app = await call(alice, "POST", "/applications", { name: "Busy" });
  const { key } = await call(alice, "POST", `/applications/${app.id}/keys`, { name: "flip" });
  for (let i = 0; i < 29; i++) {
    await call(alice, "POST", `/keys/${key.id}/disable`);
    await call(alice, "POST", `/keys/${key.id}/enable`);
  }
  const opened = await signedIn(alice, "#/audit");
  const { page } = opened;
  await heading(page, "Audit log");
  await page.locator("tbody tr").nth(49).waitFor();
  assert.equal(await page.locator("tbody tr").count(), 50);
  const more = page.getByRole("button", { name: "Load older events" });
  await more.focus();
  await page.keyboard.press("Enter");
  await page.locator("tbody tr").nth(59).waitFor();
  const afterMore = await focused(page);
  assert.equal(afterMore.tag, "TR", `after Load older events focus is on ${JSON.stringify(afterMore)}`);
  const rows = await page.locator("tbody tr").evaluateAll((trs) => trs.indexOf(document.activeElement));
  assert.equal(rows, 50, "focus is on the first of the older events");

  await page.getByRole("button", { name: "Sign out" }).focus();
  await page.keyboard.press("Enter");
  await heading(page, "Sign in");
  assert.deepStrictEqual(await focused(page), { tag: "H1", text: "Sign in", rowId: null }, "after Sign out");

  await page.getByLabel("Bearer token").fill(alice);
  await page.getByRole("button", { name: "Sign in" }).focus();
  await page.keyboard.press("Enter");
  // Signing in again returns to the page the user left, once it loaded.
  await heading(page, "Audit log");
  await page.locator("tbody tr").first().waitFor();
  await settled(page);
  assert.deepStrictEqual(await focused(page), { tag: "H1", text: "Audit log", rowId: null }, "after signing in");
  await close(opened);
});

/** The WCAG contrast ratio of two `rgb()`/`rgba()` colours (alpha ignored:
 * the test checks that the colours it compares are opaque). */
function contrast(a, b) {
  const luminance = (css) => {
    const [r, g, b] = css.match(/[\d.]+/g).slice(0, 3).map(Number).map((v) => {
      const c = v / 255;
      return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (light + 0.05) / (dark + 0.05);
}

/** Each visible input, textarea and select in `scope`: its border colour,
 * its own background and the background around it (the first opaque one
 * of its ancestors). */
function controlColours(locator) {
  return locator.evaluate((scope) => {
    const opaque = (colour) => !/rgba\(.*,\s*0\)$/.test(colour) && colour !== "transparent";
    const around = (element) => {
      for (let e = element.parentElement; e; e = e.parentElement) {
        const colour = getComputedStyle(e).backgroundColor;
        if (opaque(colour)) return colour;
      }
      return "rgb(255, 255, 255)";
    };
    return [...scope.querySelectorAll("input:not([type=checkbox]), textarea, select")]
      .filter((e) => e.getClientRects().length > 0)
      .map((e) => {
        const style = getComputedStyle(e);
        return {
          name: e.name,
          border: style.borderTopColor,
          inside: style.backgroundColor,
          outside: around(e),
        };
      });
  });
}

test("form control borders have 3:1 contrast with what is inside and around them (1.4.11)", async () => {
  const alice = await token("alice", "contrast", { all: true, permissions: "sims:*" });
  const app = await call(alice, "POST", "/applications", { name: "Contrast" });
  const opened = await openPage(`${base}/`);
  const { page } = opened;
  await heading(page, "Sign in");
  await page.getByText("API address").click();
  const controls = [...(await controlColours(page.locator("main")))];
  await page.getByLabel("Bearer token").fill(alice);
  await page.getByRole("button", { name: "Sign in" }).click();
  await heading(page, "Applications");
  await page.evaluate((id) => {
    location.hash = `#/applications/${id}`;
  }, app.id);
  await heading(page, "Contrast");
  await page.getByRole("button", { name: "New key" }).click();
  const keyDialog = dialog(page, "New key for Contrast");
  await keyDialog.waitFor();
  // The usage control, open, with a rate-limit row.
  await keyDialog.getByText("Usage control").click();
  await keyDialog.getByRole("button", { name: "Add rate limit" }).click();
  controls.push(...(await controlColours(keyDialog)));
  assert.deepStrictEqual(
    controls.map((c) => c.name).sort(),
    [
      "account_claim",
      "allowed_ips",
      "api",
      "credits_remaining",
      "description",
      "expiry",
      "limit",
      "limit_name",
      "more_scopes",
      "name",
      "refill_amount",
      "refill_interval",
      "token",
      "window_seconds",
    ],
    "every kind of control was measured",
  );
  for (const c of controls) {
    for (const colour of [c.border, c.inside, c.outside]) assert.doesNotMatch(colour, /rgba/, `${c.name}: ${colour}`);
    const ratio = Math.min(contrast(c.border, c.inside), contrast(c.border, c.outside));
    assert.ok(ratio >= 3, `${c.name}: border ${c.border} is ${ratio.toFixed(2)}:1 against ${c.inside} / ${c.outside}`);
  }
  await close(opened);
});

test("the secret dialog starts on the secret: Enter, Enter does not close it unseen", async () => {
  const alice = await token("alice", "secret-focus", { all: true });
  const app = await call(alice, "POST", "/applications", { name: "Keyboard" });
  const opened = await signedIn(alice, `#/applications/${app.id}`);
  const { page } = opened;
  await heading(page, "Keyboard");
  await page.getByRole("button", { name: "New key" }).click();
  const keyDialog = dialog(page, "New key for Keyboard");
  await keyDialog.getByLabel("Name").fill("typed");
  // Enter submits the form; a second Enter, pressed out of habit, lands in
  // the secret dialog.
  await page.keyboard.press("Enter");
  const secretDialog = dialog(page, "Your new key");
  await secretDialog.waitFor();
  const field = secretDialog.getByLabel("Your key");
  assert.equal(await field.evaluate((e) => e === document.activeElement), true, "focus starts on the secret");
  assert.equal(
    await field.evaluate((e) => e.value.slice(e.selectionStart, e.selectionEnd) === e.value && e.value !== ""),
    true,
    "the secret is selected, ready to copy",
  );
  await page.keyboard.press("Enter");
  await page.keyboard.press("Enter");
  assert.equal(await secretDialog.isVisible(), true, "the dialog is still open");
  assert.match(await field.inputValue(), /^kw_/);
  await close(opened);
});

test("same-named keys: row buttons have unique names, and a delete leaves focus off the twin's Delete", async () => {
  const alice = await token("alice", "twins", { all: true });
  const app = await call(alice, "POST", "/applications", { name: "Twins" });
  for (const name of ["twin", "twin", "solo"]) await call(alice, "POST", `/applications/${app.id}/keys`, { name });
  const opened = await signedIn(alice, `#/applications/${app.id}`);
  const { page } = opened;
  await heading(page, "Twins");
  const twins = keyRow(page, "twin");
  assert.equal(await twins.count(), 2);

  // Accessible names as the accessibility tree has them.
  const snapshot = await page.locator("table.keys tbody").ariaSnapshot();
  const names = [...snapshot.matchAll(/- button "([^"]*)"/g)].map((m) => m[1]);
  assert.equal(names.length, 9, `three buttons per key:\n${snapshot}`);
  assert.equal(new Set(names).size, names.length, `row button names are unique:\n${names.join("\n")}`);
  assert.ok(names.includes("Delete solo"), "a name no other key has is left as it is");
  assert.ok(names.filter((n) => n.startsWith("Delete twin, created ")).length === 2, names.join("\n"));

  // The rows in table order; the deleted twin's place goes to the row
  // after it (or before it, when it was the last).
  const order = await page.locator("table.keys tbody tr").evaluateAll((rows) => rows.map((r) => r.dataset.rowId));
  const first = await twins.first().evaluate((r) => r.dataset.rowId);
  const at = order.indexOf(first);
  const neighbour = order[at + 1] ?? order[at - 1];
  await throughDialog(page, twins.first().getByRole("button", { name: "Delete twin" }), "Delete key twin?", "Delete key");
  await page.getByRole("status").getByText("Key twin deleted.").waitFor();
  await settled(page);
  const after = await focused(page);
  assert.equal(after.tag, "TR", `focus after the delete is on ${JSON.stringify(after)}`);
  assert.equal(after.rowId, neighbour, "focus is on the row that took the deleted key's place");
  // Enter there does nothing: no dialog opens for the other twin.
  await page.keyboard.press("Enter");
  assert.equal(await page.getByRole("dialog").count(), 0);
  assert.equal(await keyRow(page, "twin").count(), 1);
  await close(opened);
});
