// What every page shares: the signed-in state, replacing the page, the one
// load helper (loading, stale answers, errors), and keeping keyboard focus
// in place when a page re-renders under it.

import { announce, h, problemBlock } from "./ui.js";

/** The signed-in state the pages read. `render` is set by app.js (the
 * router), so a page can re-render itself after a change without importing
 * the router. */
export const ctx = {
  session: null,
  api: null,
  // The application limit, from an APPLICATION_LIMIT_REACHED problem's
  // `limit` (the API does not publish its configuration otherwise).
  applicationLimit: null,
  // The webhook limit, from a WEBHOOK_LIMIT_REACHED problem's `limit`.
  webhookLimit: null,
  render: async () => {},
};

const main = document.getElementById("main");

// Bumped on every render, so a slow answer for a page the user has left is
// dropped.
let renderId = 0;

export function nextRender() {
  renderId += 1;
}

/** Replaces the page. A `.breadcrumb` in `content` goes before the heading. */
export function setPage(title, ...content) {
  document.title = `${title} · keyward console`;
  const heading = h("h1", { tabindex: "-1" }, title);
  const nodes = content.flat().filter((n) => n !== null && n !== undefined && n !== false);
  const above = nodes.filter((n) => n instanceof Element && n.classList.contains("breadcrumb"));
  main.replaceChildren(...above, heading, ...nodes.filter((n) => !above.includes(n)));
  return heading;
}

/**
 * The prelude of every page: shows `title` (after `above`, a breadcrumb)
 * with "Loading…" unless `quiet` (more of a page already shown), awaits
 * `fetch()`, and returns its result. Returns null instead when the user
 * moved on meanwhile (the answer is dropped) or when `fetch` threw (the
 * page then shows the problem), so `fetch` must not resolve to null.
 */
export async function loadPage(title, fetch, { above = [], quiet = false } = {}) {
  const id = renderId;
  if (!quiet) setPage(title, above, h("p", { class: "muted" }, "Loading…"));
  try {
    const data = await fetch();
    return id === renderId ? data : null;
  } catch (error) {
    if (id === renderId) setPage(title, above, problemBlock(error));
    return null;
  }
}

export function focusHeading() {
  main.querySelector("h1")?.focus();
}

/** Where focus is before an action's dialog: the button, its table row
 * (`data-row-id`), and the rows around it, in case the action removes it. */
export function rememberFocus() {
  const element = document.activeElement;
  const row = element?.closest?.("tr[data-row-id]");
  return {
    rowId: row?.dataset.rowId ?? null,
    nextRowId: row?.nextElementSibling?.dataset.rowId ?? null,
    previousRowId: row?.previousElementSibling?.dataset.rowId ?? null,
    text: element instanceof HTMLButtonElement && !row ? element.textContent : null,
  };
}

function rowById(id) {
  return id ? main.querySelector(`tr[data-row-id="${CSS.escape(id)}"]`) : null;
}

/** After an action re-renders the page its button is gone. Focus goes to
 * the same row's first button; if the row is gone (a delete), to the row
 * after it, else the one before (the row itself, not a button: Enter on a
 * same-named key's Delete would act on another key); for a button outside
 * any row, a button with the same text; else the page heading. */
export function restoreFocus({ rowId, nextRowId, previousRowId, text }) {
  const row = rowById(rowId);
  const neighbour = row ? null : (rowById(nextRowId) ?? rowById(previousRowId));
  const sameButton = text
    ? [...main.querySelectorAll("button")].find((b) => b.textContent === text && !b.disabled && !b.closest("tr"))
    : null;
  const target = row?.querySelector("button") ?? neighbour ?? sameButton ?? main.querySelector("h1");
  target?.focus();
}

/** Re-renders after a change made in a dialog, keeps focus, announces. */
export async function changed(spot, message) {
  await ctx.render();
  restoreFocus(spot);
  announce(message);
}

/**
 * Text that makes each item's row-button names unique (“Delete ci” is
 * ambiguous when two keys are called ci): "" for a name no other item has,
 * else its creation time to the second, and its id when that is shared
 * too. Returns a Map from item id to the suffix.
 */
export function distinguishers(items) {
  const created = (item) => `created ${new Date(item.created_at).toLocaleString()}`;
  const count = (key) => {
    const counts = new Map();
    for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
    return (item) => counts.get(key(item));
  };
  const sameName = count((item) => item.name);
  const sameNameAndTime = count((item) => `${created(item)}\n${item.name}`);
  return new Map(
    items.map((item) => {
      if (sameName(item) === 1) return [item.id, ""];
      if (sameNameAndTime(item) === 1) return [item.id, `, ${created(item)}`];
      return [item.id, `, ${created(item)}, id ${item.id}`];
    }),
  );
}
