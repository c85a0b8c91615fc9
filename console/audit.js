// The Audit log page: the account's events, newest first, 50 at a time.

import { keyHref } from "./keys.js";
import { DORMANT_ACTOR } from "./leaks.js";
import { ctx, loadPage, setPage } from "./page.js";
import { externalLink, h, when } from "./ui.js";

/** What a `key.leaked` event did, by the deployment's action. */
const LEAK_ACTIONS = {
  revoke: "Revoked as leaked",
  disable: "Disabled as leaked",
  notify: "Reported leaked; left working, creator notified",
};

/** A `key.leaked` event: the action taken, the status change, and where
 * the key was found (a link, never markup). */
function leakChange(event) {
  const leak = event.after?.leak ?? {};
  const before = event.before?.status;
  const after = event.after?.status;
  return [
    LEAK_ACTIONS[leak.action] ?? `Reported leaked (${leak.action ?? "no action"})`,
    before && after && before !== after ? ` (${before} → ${after})` : null,
    h(
      "span",
      { class: "hint block" },
      leak.url ? ["Found at ", externalLink(leak.url)] : "No URL reported",
    ),
  ];
}

function auditChange(event) {
  if (event.action === "key.leaked") return leakChange(event);
  const before = event.before?.status;
  const after = event.after?.status;
  if (before && after && before !== after) {
    // The dormant-key policy disables keys unused for too long.
    return event.actor === DORMANT_ACTOR && after === "disabled" ? `${before} → ${after} (unused)` : `${before} → ${after}`;
  }
  // Webhooks have no status or name: `enabled` and `url` instead.
  const onOff = (value) => (value ? "enabled" : "disabled");
  const [was, is] = [event.before?.enabled, event.after?.enabled];
  if (typeof was === "boolean" && typeof is === "boolean" && was !== is) return `${onOff(was)} → ${onOff(is)}`;
  if (!event.before && event.after?.url) return event.after.url;
  if (!event.before && event.after?.name) return `“${event.after.name}”`;
  if (event.before?.name && event.after?.name && event.before.name !== event.after.name) {
    return `“${event.before.name}” → “${event.after.name}”`;
  }
  return "";
}

/** The target's id; a key's links to its page, the one way to a revoked
 * key (lists leave revoked keys out). */
function target(event) {
  const id = h("code", { class: "id" }, event.target_id);
  const appId = event.after?.application_id ?? event.before?.application_id;
  return event.target_type === "key" && appId ? h("a", { href: keyHref(appId, event.target_id) }, id) : id;
}

function eventRow(event, { first }) {
  // The first of a batch of older events can take focus (by script only):
  // after "Load older events" the button is gone, and reading goes on there.
  return h(
    "tr",
    { tabindex: first ? "-1" : null, "data-first-older": first ? "" : null },
    h("td", {}, when(event.at)),
    h("td", {}, event.actor),
    h("td", {}, h("code", {}, event.action)),
    h("td", {}, `${event.target_type} `, target(event)),
    h("td", { class: "change" }, auditChange(event)),
  );
}

/** The first page, or with `cursor` the next one after `earlier` (the
 * events shown so far, kept on the page). */
export async function renderAudit(cursor = null, earlier = []) {
  const page = await loadPage("Audit log", () => ctx.api.page("/audit", { limit: 50, cursor }), {
    quiet: Boolean(cursor),
  });
  if (!page) return;
  const events = [...earlier, ...page.items];
  const more = page.next_cursor
    ? h(
        "button",
        {
          type: "button",
          class: "secondary",
          onclick: () => renderAudit(page.next_cursor, events),
        },
        "Load older events",
      )
    : null;
  const body = events.length
    ? h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          {},
          h("caption", { class: "visually-hidden" }, "Audit events, newest first"),
          h(
            "thead",
            {},
            h("tr", {}, ["When", "Who", "Action", "Target", "Change"].map((c) => h("th", { scope: "col" }, c))),
          ),
          h(
            "tbody",
            {},
            events.map((e, i) => eventRow(e, { first: cursor !== null && i === earlier.length })),
          ),
        ),
      )
    : h("p", { class: "empty" }, "No events yet.");
  const heading = setPage("Audit log", h("p", { class: "lead" }, "Who changed what in this account."), body, more);
  if (cursor) (document.querySelector("tr[data-first-older]") ?? more ?? heading).focus();
}
