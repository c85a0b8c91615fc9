// How a key's usage controls and their live use read: a short summary for
// the keys table, and the sections of the key's page. The live numbers are
// the API's (`usage`, `credits`); the console never computes a window or a
// balance itself.

import { h } from "./ui.js";

const number = new Intl.NumberFormat();
const resetTime = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });
const resetDateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

export const INTERVAL_TEXT = {
  daily: "every day at 00:00 UTC",
  monthly: "on the 1st of each month at 00:00 UTC",
};

/** "per minute", "per 2 hours", "per 90 seconds": a window as people say
 * it. */
export function perWindow(seconds) {
  for (const [unit, size] of [
    ["day", 86_400],
    ["hour", 3_600],
    ["minute", 60],
    ["second", 1],
  ]) {
    if (seconds % size === 0) {
      const n = seconds / size;
      return n === 1 ? `per ${unit}` : `per ${number.format(n)} ${unit}s`;
    }
  }
  return `per ${seconds} seconds`;
}

/** The credits left now, or null for a key without credits. */
export function creditsLeft(key) {
  return key.usage?.credits_remaining ?? key.credits?.remaining ?? null;
}

/** Each configured rate limit with its live use (`remaining`, `reset_at`,
 * null when the API did not report it), in the key's order. */
export function limitUses(key) {
  const live = new Map((key.usage?.rate_limits ?? []).map((use) => [use.name, use]));
  return (key.rate_limits ?? []).map((limit) => ({
    ...limit,
    remaining: live.get(limit.name)?.remaining ?? null,
    reset_at: live.get(limit.name)?.reset_at ?? null,
  }));
}

/** A `<time>` for when a window ends: the time to the second (windows can
 * be a second long), with the date when it is not today. */
function resetsAt(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return h("span", {}, iso);
  const today = date.toDateString() === new Date().toDateString();
  return h("time", { datetime: iso, title: iso }, (today ? resetTime : resetDateTime).format(date));
}

/** "7 of 10 left", or "10 per minute" when the API reported no use. */
function limitUseText(use) {
  if (use.remaining === null) return `${number.format(use.limit)} ${perWindow(use.window_seconds)}`;
  return `${number.format(use.remaining)} of ${number.format(use.limit)} left`;
}

/**
 * The keys table's Usage cell, short enough to keep the row's buttons in
 * view: credits left, each limit's use, the allowed address (or how many),
 * or "No limits". The key's page has the rest (when each window resets,
 * the refill, every address).
 */
export function usageCell(key) {
  const left = creditsLeft(key);
  const uses = limitUses(key);
  const addresses = key.allowed_ips ?? [];
  if (left === null && uses.length === 0 && addresses.length === 0) {
    return h("span", { class: "muted" }, "No limits");
  }
  return h(
    "ul",
    { class: "usage" },
    left === null ? null : h("li", {}, left === 1 ? "1 credit left" : `${number.format(left)} credits left`),
    uses.map((use) => h("li", {}, h("code", {}, use.name), ": ", limitUseText(use))),
    addresses.length === 1 ? h("li", {}, "From ", h("code", {}, addresses[0])) : null,
    addresses.length > 1 ? h("li", {}, `From ${addresses.length} addresses`) : null,
  );
}

/** The key page's sections: credits, rate limits, allowed addresses (a
 * flat list of nodes, as setPage takes them). */
export function usageSections(key) {
  return [creditsSection(key), limitsSection(key), addressesSection(key)].flat(Infinity);
}

function creditsSection(key) {
  const left = creditsLeft(key);
  const refill = key.credits?.refill;
  return [
    h("h2", {}, "Credits"),
    left === null
      ? h("p", { class: "muted" }, "No credit balance.")
      : h(
          "dl",
          { class: "facts credits" },
          h("dt", {}, "Remaining"),
          h("dd", {}, number.format(left)),
          h("dt", {}, "Refill"),
          h(
            "dd",
            {},
            refill
              ? `To ${number.format(refill.amount)} ${INTERVAL_TEXT[refill.interval] ?? refill.interval}`
              : h("span", { class: "muted" }, "None: the credits run out"),
          ),
        ),
  ];
}

function limitsSection(key) {
  const uses = limitUses(key);
  if (uses.length === 0) {
    return [h("h2", {}, "Rate limits"), h("p", { class: "muted" }, "No rate limits.")];
  }
  return [
    h("h2", {}, "Rate limits"),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "limits" },
        h("caption", { class: "visually-hidden" }, `Rate limits of ${key.name}`),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Name", "Limit", "Remaining", "Resets at"].map((c) => h("th", { scope: "col" }, c)),
          ),
        ),
        h(
          "tbody",
          {},
          uses.map((use) =>
            h(
              "tr",
              {},
              h("th", { scope: "row" }, h("code", {}, use.name)),
              h("td", {}, `${number.format(use.limit)} ${perWindow(use.window_seconds)}`),
              h(
                "td",
                {},
                use.remaining === null
                  ? h("span", { class: "muted" }, "—")
                  : `${number.format(use.remaining)} of ${number.format(use.limit)}`,
              ),
              h("td", {}, use.reset_at ? resetsAt(use.reset_at) : h("span", { class: "muted" }, "—")),
            ),
          ),
        ),
      ),
    ),
  ];
}

function addressesSection(key) {
  const addresses = key.allowed_ips ?? [];
  return [
    h("h2", {}, "Allowed addresses"),
    addresses.length
      ? [
          h("p", { class: "hint" }, "Verification accepts this key only from these addresses."),
          h("ul", { class: "addresses" }, addresses.map((address) => h("li", {}, h("code", {}, address)))),
        ]
      : h("p", { class: "muted" }, "Any address."),
  ];
}
