// The usage-control fields of the New key and Edit key dialogs: rate limits
// (a row each, up to 5), credits, and the addresses a key may be used from;
// the request fields they give; and which field a server problem about
// them belongs to. The bounds here only help the user type: the server
// validates every field and its 422 problem is what the user finally sees.

import { ApiProblem } from "./api.js";
import { field, h, uid } from "./ui.js";

// The API's bounds (functions/src/usage/controls.rs).
const MAX_RATE_LIMITS = 5;
const MAX_LIMIT = "1000000000";
const MAX_WINDOW_SECONDS = "86400";
const MAX_CREDITS = "1000000000000";

const INTERVALS = [
  ["daily", "Every day (00:00 UTC)"],
  ["monthly", "Every month (the 1st, 00:00 UTC)"],
];

function numberInput(name, min, max, value) {
  return h("input", {
    type: "number",
    name,
    min,
    max,
    step: "1",
    inputmode: "numeric",
    value: value ?? "",
  });
}

/** "" stays null (not 0): an empty field means "none". */
function numberOf(input) {
  return input.value.trim() === "" ? null : Number(input.value);
}

/** A problem's spot (see ui.js showAtField): a slot under a field. */
function problemSlot() {
  return h("div", { class: "field-problem" });
}

/** The rate limits: a fieldset of rows, Add rate limit and Remove. Focus
 * goes to a new row's first field, and after Remove to the next row (else
 * the previous one, else Add), so it never falls to the dialog. */
function rateLimitFields(limits) {
  const rows = h("div", { class: "limit-rows" });
  const add = h("button", { type: "button", class: "secondary small" }, "Add rate limit");
  const slot = problemSlot();
  const hintId = uid("hint");
  const group = h(
    "fieldset",
    { class: "limits-field", "aria-describedby": hintId },
    h("legend", {}, "Rate limits"),
    h(
      "p",
      { class: "hint", id: hintId },
      `Up to ${MAX_RATE_LIMITS}, names of a-z 0-9 _ . - unique per key. Each allows that many uses (1 per verification, or its cost) per window; a 60-second window starts at each whole minute UTC. Past it, verification answers RATE_LIMITED.`,
    ),
    rows,
    add,
    slot,
  );
  const rowsNow = () => [...rows.children];
  const renumber = () => {
    rowsNow().forEach((row, i) => {
      row.querySelector("legend").textContent = `Rate limit ${i + 1}`;
      row.querySelector(".remove-label").textContent = ` rate limit ${i + 1}`;
    });
    add.disabled = rowsNow().length >= MAX_RATE_LIMITS;
  };
  const addRow = (limit = {}) => {
    const name = h("input", {
      name: "limit_name",
      maxlength: "32",
      pattern: "[a-z0-9_.\\-]{1,32}",
      autocomplete: "off",
      spellcheck: "false",
      value: limit.name ?? "",
    });
    const remove = h(
      "button",
      { type: "button", class: "secondary small" },
      "Remove",
      h("span", { class: "visually-hidden remove-label" }),
    );
    const row = h(
      "fieldset",
      { class: "limit-row" },
      h("legend", { class: "visually-hidden" }),
      field("Limit name", name),
      field("Uses per window", numberInput("limit", "1", MAX_LIMIT, limit.limit)),
      field("Window (seconds)", numberInput("window_seconds", "1", MAX_WINDOW_SECONDS, limit.window_seconds)),
      h("div", { class: "limit-remove" }, remove),
    );
    for (const input of row.querySelectorAll("input")) input.required = true;
    remove.addEventListener("click", () => {
      const next = row.nextElementSibling ?? row.previousElementSibling;
      row.remove();
      renumber();
      (next?.querySelector("input") ?? add).focus();
    });
    rows.append(row);
    renumber();
    return name;
  };
  for (const limit of limits) addRow(limit);
  add.addEventListener("click", () => {
    if (rowsNow().length < MAX_RATE_LIMITS) addRow().focus();
  });
  renumber();
  return {
    group,
    value: () =>
      rowsNow().map((row) => {
        const [name, limit, window] = row.querySelectorAll("input");
        return { name: name.value.trim(), limit: numberOf(limit), window_seconds: numberOf(window) };
      }),
    spot: () => ({ control: group, slot, focus: rows.querySelector("input") ?? add }),
  };
}

/** Credits: the balance, and an optional refill (amount and interval). A
 * refill needs a balance, so Remaining becomes required with one. */
function creditFields(credits, editing) {
  const remaining = numberInput("credits_remaining", "0", MAX_CREDITS, credits?.remaining);
  const amount = numberInput("refill_amount", "1", MAX_CREDITS, credits?.refill?.amount);
  const interval = h(
    "select",
    { name: "refill_interval" },
    INTERVALS.map(([value, label]) => h("option", { value }, label)),
  );
  interval.value = credits?.refill?.interval ?? "daily";
  const needsBalance = () => {
    remaining.required = amount.value.trim() !== "";
  };
  amount.addEventListener("input", needsBalance);
  needsBalance();
  const slot = problemSlot();
  const group = h(
    "fieldset",
    { class: "credits-field" },
    h("legend", {}, "Credits"),
    field(
      "Remaining credits",
      remaining,
      editing
        ? "The balance when this dialog opened. Saving changed credits sets the balance to this number. Empty: no credits."
        : "Each verification spends 1 (or its cost); with none left it answers USAGE_EXCEEDED. Empty: no credits.",
    ),
    h(
      "div",
      { class: "pair" },
      field("Refill to", amount, "Optional: the balance is set back to this amount at each refill."),
      field("Refill", interval),
    ),
    slot,
  );
  return {
    group,
    value: () => {
      const left = numberOf(remaining);
      if (left === null) return null;
      const refillTo = numberOf(amount);
      if (refillTo === null) return { remaining: left };
      return { remaining: left, refill: { amount: refillTo, interval: interval.value } };
    },
    spot: () => ({ control: remaining, slot }),
  };
}

/** The allowed addresses, one per line (spaces and commas also separate). */
function addressFields(addresses) {
  const text = h("textarea", { name: "allowed_ips", rows: "3", autocomplete: "off", spellcheck: "false" });
  text.value = addresses.join("\n");
  const slot = problemSlot();
  return {
    group: h(
      "div",
      {},
      field(
        "Allowed addresses",
        text,
        "One IPv4 or IPv6 address or CIDR block per line (203.0.113.0/24, 2001:db8::/32), at most 50. Verification from any other address answers IP_NOT_ALLOWED. Empty: any address.",
      ),
      slot,
    ),
    value: () => text.value.split(/[\s,]+/).filter(Boolean),
    spot: () => ({ control: text, slot }),
  };
}

/**
 * The fields for `key`'s controls (none for a new key), in a disclosure
 * that starts open when the key has any. Returns `{ nodes, forCreate,
 * changes, problemSpot }`:
 * - `forCreate()`: the create body's fields, only those set;
 * - `changes()`: the PATCH body's fields, only those changed since the
 *   dialog opened, `null` for one emptied (which removes it);
 * - `problemSpot(error)`: the field a 422 about them belongs to, by its
 *   `code` (never by its wording), for formDialog's `fieldProblem`.
 */
export function controlFields(key = null) {
  const limits = rateLimitFields(key?.rate_limits ?? []);
  const credits = creditFields(key?.credits ?? null, key !== null);
  const addresses = addressFields(key?.allowed_ips ?? []);
  const values = () => ({
    rate_limits: limits.value(),
    credits: credits.value(),
    allowed_ips: addresses.value(),
  });
  const isSet = (value) => (Array.isArray(value) ? value.length > 0 : value !== null);
  const before = values();
  const nodes = h(
    "details",
    { class: "controls", open: Object.values(before).some(isSet) },
    h("summary", {}, "Usage control: rate limits, credits, allowed addresses"),
    limits.group,
    credits.group,
    addresses.group,
  );
  const spots = {
    INVALID_RATE_LIMITS: limits.spot,
    INVALID_CREDITS: credits.spot,
    INVALID_ALLOWED_IPS: addresses.spot,
  };
  return {
    nodes,
    forCreate: () => Object.fromEntries(Object.entries(values()).filter(([, value]) => isSet(value))),
    changes: () =>
      Object.fromEntries(
        Object.entries(values())
          .filter(([name, value]) => JSON.stringify(value) !== JSON.stringify(before[name]))
          .map(([name, value]) => [name, isSet(value) ? value : null]),
      ),
    problemSpot: (error) => (error instanceof ApiProblem ? (spots[error.code]?.() ?? null) : null),
  };
}
