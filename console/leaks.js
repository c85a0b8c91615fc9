// A key found leaked, or disabled by someone or by a policy, in words: the
// key page's section on the leak, the keys list's "leaked" tag and status
// lines, and the reporters' names for the audit log. The API's side is in
// docs/ARCHITECTURE.md, "Leak response": a key view's `leak` {at,
// found_by, url, action} and, while disabled, its `disabled_by`.

import { externalLink, h, uid, when } from "./ui.js";

/** Who reports leaks (`leak.found_by`, the actor of `key.leaked`). */
const FINDERS = {
  "secret-scanning:github": "GitHub secret scanning",
  "leak-report": "a leak report",
};

/** The actor that disables keys unused for too long. */
export const DORMANT_ACTOR = "policy:dormant";

/** Who found a leak, readable; a reporter this console does not know as
 * the API names it. */
export function finderName(foundBy) {
  return FINDERS[foundBy] ?? foundBy;
}

/** `finderName` to start a sentence or a field. */
function finderTitle(foundBy) {
  const name = finderName(foundBy);
  return FINDERS[foundBy] ? name[0].toUpperCase() + name.slice(1) : name;
}

/** The longest URL the keys list shows whole (the key page shows all of
 * it; a report may carry 2,048 characters). */
const SHORT_URL = 60;

function shortened(url) {
  return url.length > SHORT_URL ? `${url.slice(0, SHORT_URL - 1)}…` : url;
}

/** Whether verification accepts the key as it stands. */
function works(key) {
  return (key.verdict ?? (key.status === "active" ? "VALID" : "")) === "VALID";
}

/**
 * What the leak did to the key and where that leaves it: `stopped` (the
 * key no longer works), `short` (the keys list's line) and `long` (the key
 * page's explanation). The action is the deployment's
 * (KEYWARD_LEAK_ACTION); the key may have changed since (enabled again,
 * deleted, expired).
 */
export function leakOutcome(key) {
  const { action } = key.leak;
  const working = works(key);
  if (action === "revoke") {
    return {
      stopped: true,
      short: "Revoked as leaked",
      long: "Revoked at once because it was found leaked: it no longer works and cannot be enabled again. Give whoever used it a new key.",
    };
  }
  if (action === "disable") {
    if (key.status === "active") {
      return {
        stopped: !working,
        short: "Disabled as leaked, enabled again since",
        long: "Disabled when it was found leaked, and enabled again since: it works again, for whoever found it too. Regenerate or delete it.",
      };
    }
    return {
      stopped: true,
      short: "Disabled as leaked",
      long:
        key.status === "disabled"
          ? "Disabled because it was found leaked: calls with it are refused. Give whoever used it a new key rather than enabling this one again, since whoever found it could use it too."
          : "Disabled when it was found leaked.",
    };
  }
  if (action === "notify" && working) {
    return {
      stopped: false,
      short: "Still works, but reported leaked",
      long: "Reported leaked, and left working (this deployment only notifies its creator): it still works, for whoever found it too. Regenerate or delete it.",
    };
  }
  return {
    stopped: !working,
    short: "Reported leaked",
    long: action === "notify" ? "Reported leaked, and left working at the time." : `Reported leaked (action: ${action}).`,
  };
}

/** The small "leaked" tag next to a key's status; null for a key never
 * reported. */
export function leakedTag(key) {
  if (!key.leak) return null;
  return h("span", { class: "tag tag-leaked", title: `Reported leaked by ${finderName(key.leak.found_by)}` }, "leaked");
}

/** Where it was found: a link (text only for anything but http(s)), or
 * that the report did not say. */
function where(url, text = url) {
  return url ? externalLink(url, text) : h("span", { class: "muted" }, "Not reported");
}

/** Who disabled a disabled key, when the API says and no leak explains it:
 * a user, or the dormant-key policy. Null otherwise. */
export function disabledByText(key) {
  if (key.status !== "disabled" || !key.disabled_by) return null;
  if (key.leak && key.disabled_by === key.leak.found_by) return null;
  if (key.disabled_by === DORMANT_ACTOR) return "Disabled for being unused (no calls for too long); enable it to use it again.";
  if (FINDERS[key.disabled_by]) return `Disabled by ${finderName(key.disabled_by)}.`;
  return `Disabled by ${key.disabled_by}.`;
}

/** The keys list's lines under a key's status: why a leaked key stopped
 * (or still works), who found it, when and where; who disabled it. */
export function statusLines(key) {
  const lines = [];
  if (key.leak) {
    const { leak } = key;
    lines.push(
      h(
        "span",
        { class: "hint block leak-line" },
        `${leakOutcome(key).short}: found by ${finderName(leak.found_by)}, `,
        when(leak.at),
      ),
    );
    if (leak.url) lines.push(h("span", { class: "hint block leak-where" }, "At ", where(leak.url, shortened(leak.url))));
  }
  const disabledBy = disabledByText(key);
  if (disabledBy) lines.push(h("span", { class: "hint block disabled-by" }, disabledBy));
  return lines;
}

/** The key page's section on a leak: what was done and why, who found
 * it, when, and where. Null for a key never reported. */
export function leakSection(key) {
  if (!key.leak) return null;
  const { leak } = key;
  const outcome = leakOutcome(key);
  const headingId = uid("leak");
  return h(
    "section",
    { class: `leak-notice ${outcome.stopped ? "stopped" : "working"}`, "aria-labelledby": headingId },
    h("h2", { id: headingId }, outcome.stopped ? outcome.short : "Reported leaked"),
    h("p", {}, outcome.long),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Found by"),
      h("dd", {}, finderTitle(leak.found_by)),
      h("dt", {}, "Reported"),
      h("dd", {}, when(leak.at)),
      h("dt", {}, "Where"),
      h("dd", {}, where(leak.url)),
    ),
  );
}
