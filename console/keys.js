// An application's page: its facts, its keys, and the key dialogs (new,
// regenerate, disable, enable, delete). A key's own page is key.js.

import { newIdempotencyKey, seg } from "./api.js";
import { editApplication, revokeApplication } from "./applications.js";
import { controlFields } from "./controls.js";
import { leakedTag, statusLines } from "./leaks.js";
import { changed, ctx, distinguishers, loadPage, rememberFocus, setPage } from "./page.js";
import { field, formDialog, h, hidden, problemBlock, secretDialog, when } from "./ui.js";
import { usageCell } from "./usage.js";

const STATUS_TEXT = { active: "Active", disabled: "Disabled", expired: "Expired", revoked: "Revoked" };

// A live key that verification refuses for a reason above the key itself
// (the API's `verdict`): shown instead of its status, so the page never
// shows a key as working that POST /verify refuses.
const REFUSED_TEXT = {
  APPLICATION_REVOKED: "Application revoked",
  OWNER_DELETED: "Owner offboarded",
};

export async function renderApplication(appId) {
  const back = h("p", { class: "breadcrumb" }, h("a", { href: "#/applications" }, "← Applications"));
  // The application must load; its keys may fail on their own (the page
  // then shows the application and the keys' problem).
  const loaded = await loadPage(
    "Application",
    async () => {
      const app = await ctx.api.get(`/applications/${seg(appId)}`);
      try {
        return { app, keys: await ctx.api.listAll(`/applications/${seg(appId)}/keys`), keysProblem: null };
      } catch (error) {
        return { app, keys: null, keysProblem: error };
      }
    },
    { above: [back] },
  );
  if (!loaded) return;
  const { app, keys, keysProblem } = loaded;
  const { session } = ctx;

  const facts = h(
    "dl",
    { class: "facts" },
    h("dt", {}, "Key prefix"),
    h("dd", {}, h("code", {}, app.key_prefix)),
    h("dt", {}, "Created by"),
    h("dd", {}, app.created_by),
    h("dt", {}, "Created"),
    h("dd", {}, when(app.created_at)),
    app.owner_status === "deleted" ? [h("dt", {}, "Owner"), h("dd", {}, "Offboarded")] : null,
  );
  const toolbar = h("div", { class: "toolbar" });
  if (session.can("keys:create", app)) {
    toolbar.append(
      h("button", { type: "button", class: "primary", onclick: () => newKey(app) }, "New key"),
    );
  }
  if (session.has("applications:edit")) {
    toolbar.append(
      h("button", { type: "button", class: "secondary", onclick: () => editApplication(app) }, "Edit application"),
    );
  }
  if (session.has("applications:revoke")) {
    toolbar.append(
      h("button", { type: "button", class: "danger", onclick: () => revokeApplication(app) }, "Revoke application"),
    );
  }
  let keysBlock;
  if (keysProblem) {
    keysBlock = problemBlock(keysProblem);
  } else if (keys.length === 0) {
    keysBlock = h(
      "p",
      { class: "empty" },
      session.can("keys:create", app) ? "No keys yet. Create one with New key." : "No keys.",
    );
  } else {
    const suffixes = distinguishers(keys);
    keysBlock = h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "keys" },
        h("caption", { class: "visually-hidden" }, `Keys of ${app.name}`),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Name", "Description", "Status", "Scopes", "Usage", "Created", "Expires", "Last used"].map((c) =>
              h("th", { scope: "col" }, c),
            ),
            h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")),
          ),
        ),
        h("tbody", {}, keys.map((key) => keyRow(app, key, suffixes.get(key.id)))),
      ),
    );
  }
  const heading = setPage(
    app.name,
    back,
    app.description ? h("p", { class: "lead description" }, app.description) : null,
    facts,
    toolbar,
    h("h2", {}, "Keys"),
    keysBlock,
  );
  heading.setAttribute("data-application-id", app.id);
}

/** The route of a key's own page. */
export function keyHref(appId, keyId) {
  return `#/applications/${seg(appId)}/keys/${seg(keyId)}`;
}

/** A key's status as verification sees it: a key refused above itself
 * shows why instead of its stored status. */
export function statusBadge(key) {
  const refused = REFUSED_TEXT[key.verdict];
  return refused
    ? h("span", { class: "badge status-refused", title: `Verification answers ${key.verdict}` }, refused)
    : h("span", { class: `badge status-${key.status}` }, STATUS_TEXT[key.status] ?? key.status);
}

/** `suffix` tells the row's buttons apart from a same-named key's. */
function keyRow(app, key, suffix) {
  const { session } = ctx;
  const actions = h("div", { class: "row-actions" });
  const button = (label, kind, onclick) =>
    h("button", { type: "button", class: `${kind} small`, onclick }, label, hidden(` ${key.name}${suffix}`));
  const inGrace = Boolean(key.replaced_by);
  const refused = REFUSED_TEXT[key.verdict];
  // A key refused above itself can only be deleted, like an expired one.
  if (key.status === "active" && !refused && session.can("keys:edit", app)) {
    actions.append(button("Disable", "secondary", () => changeKey(app, key, "disable")));
  }
  if (key.status === "disabled" && !refused && session.can("keys:edit", app)) {
    actions.append(button("Enable", "secondary", () => changeKey(app, key, "enable")));
  }
  if (key.status === "active" && !refused && !inGrace && session.canRegenerate(app)) {
    actions.append(button("Regenerate", "secondary", () => regenerateKey(app, key)));
  }
  // Expired keys offer only this.
  if (session.can("keys:revoke", app)) {
    actions.append(button("Delete", "danger", () => changeKey(app, key, "delete")));
  }
  const tag = leakedTag(key);
  const status = h(
    "td",
    {},
    statusBadge(key),
    tag ? [" ", tag] : null,
    inGrace && key.revoke_at
      ? h("span", { class: "hint block" }, "Replaced; works until ", when(key.revoke_at))
      : null,
    statusLines(key),
  );
  return h(
    "tr",
    // Focusable by script only: focus lands here when a neighbour row goes.
    { "data-row-id": key.id, tabindex: "-1" },
    h("th", { scope: "row" }, h("a", { href: keyHref(app.id, key.id) }, key.name)),
    h("td", { class: "description" }, key.description || h("span", { class: "muted" }, "—")),
    status,
    h(
      "td",
      {},
      key.scopes.length
        ? h("ul", { class: "scopes" }, key.scopes.map((s) => h("li", {}, h("code", {}, s))))
        : h("span", { class: "muted" }, "none"),
    ),
    h("td", {}, usageCell(key)),
    h("td", {}, when(key.created_at)),
    h("td", {}, when(key.expires_at)),
    h("td", {}, when(key.last_used_at, "Never")),
    h("td", {}, actions),
  );
}

const EXPIRY_CHOICES = [
  ["", "Server default (usually 1 year)"],
  ["7", "In 7 days"],
  ["30", "In 30 days"],
  ["90", "In 90 days"],
  ["180", "In 180 days"],
  ["custom", "On a date…"],
];

/** RFC 3339 without fractions, for `expires_at`. */
function rfc3339(date) {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

async function newKey(app) {
  const spot = rememberFocus();
  const name = h("input", { name: "name", required: true, maxlength: "64" });
  const description = h("textarea", { name: "description", rows: "2", maxlength: "512" });
  const held = ctx.session.grantableScopes();
  const checkboxes = held.map((scope) =>
    h("input", { type: "checkbox", name: "scope", value: scope }),
  );
  const more = h("input", {
    name: "more_scopes",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: held.length ? held[0].replace(/\*$/, "read") : "",
  });
  const scopes = h(
    "fieldset",
    { class: "scopes-field" },
    h("legend", {}, "Scopes"),
    held.length
      ? [
          h("p", { class: "hint" }, "What calls with this key may do. You can grant only scopes you hold."),
          h(
            "div",
            { class: "checks" },
            checkboxes.map((box) => {
              box.id = `scope-${box.value}`;
              return h("div", { class: "check" }, box, h("label", { for: box.id }, h("code", {}, box.value)));
            }),
          ),
          field(
            "Narrower scopes",
            more,
            "Optional, separated by spaces; each must be covered by a scope you hold (sims:* covers sims:read).",
          ),
        ]
      : h("p", { class: "hint" }, "Your token holds no scopes to grant, so this key will have none."),
  );
  const expiry = h(
    "select",
    { name: "expiry" },
    EXPIRY_CHOICES.map(([value, label]) => h("option", { value }, label)),
  );
  const customDate = h("input", { type: "datetime-local", name: "expires_at" });
  const customField = field("Expires at (your local time)", customDate);
  customField.hidden = true;
  expiry.addEventListener("change", () => {
    customField.hidden = expiry.value !== "custom";
    customDate.required = expiry.value === "custom";
  });
  const controls = controlFields();
  const idempotencyKey = newIdempotencyKey();
  const created = await formDialog({
    title: `New key for ${app.name}`,
    fields: [
      field("Name", name, "1 to 64 characters, e.g. the system that will use it."),
      field("Description", description, "Optional, at most 512 characters."),
      scopes,
      field("Expires", expiry),
      customField,
      controls.nodes,
    ],
    submitLabel: "Create key",
    fieldProblem: controls.problemSpot,
    onSubmit: async () => {
      const chosen = checkboxes.filter((b) => b.checked).map((b) => b.value);
      const typed = more.value.split(/[\s,]+/).filter(Boolean);
      const body = {
        name: name.value,
        description: description.value,
        scopes: [...new Set([...chosen, ...typed])],
        ...controls.forCreate(),
      };
      if (expiry.value === "custom") {
        const date = new Date(customDate.value);
        if (Number.isNaN(date.getTime())) throw new Error("Choose the expiry date and time.");
        body.expires_at = rfc3339(date);
      } else if (expiry.value) {
        body.expires_at = rfc3339(new Date(Date.now() + Number(expiry.value) * 86_400_000));
      }
      return ctx.api.post(`/applications/${seg(app.id)}/keys`, body, idempotencyKey);
    },
  });
  if (!created) return;
  await secretDialog({ title: "Your new key", keyName: created.key.name, secret: created.secret });
  await changed(spot, `Key ${created.key.name} created.`);
}

const GRACE_CHOICES = [
  ["0", "At once"],
  ["3600", "In 1 hour"],
  ["86400", "In 24 hours"],
  ["604800", "In 7 days"],
];

async function regenerateKey(app, key) {
  const spot = rememberFocus();
  const grace = h(
    "select",
    { name: "grace_seconds" },
    GRACE_CHOICES.map(([value, label]) => h("option", { value }, label)),
  );
  const idempotencyKey = newIdempotencyKey();
  const created = await formDialog({
    title: `Regenerate key ${key.name}?`,
    message: h(
      "p",
      {},
      "You get a new key with the same name, description, scopes and usage control, and a fresh validity. The current key stops working when you choose below; calls that use it then fail.",
    ),
    fields: [
      field(
        "The current key stops working",
        grace,
        "A grace period lets your systems move to the new key first (at most 7 days).",
      ),
    ],
    submitLabel: "Get new key",
    onSubmit: () => {
      const body = {};
      if (grace.value !== "0") body.grace_seconds = Number(grace.value);
      return ctx.api.post(`/keys/${seg(key.id)}/regenerate`, body, idempotencyKey);
    },
  });
  if (!created) return;
  await secretDialog({ title: "Your new key", keyName: created.key.name, secret: created.secret });
  const graceLabel = GRACE_CHOICES.find(([value]) => value === grace.value)[1];
  await changed(
    spot,
    grace.value === "0"
      ? `Key ${key.name} regenerated; the old key no longer works.`
      : `Key ${key.name} regenerated; the old key stops working ${graceLabel.toLowerCase()}.`,
  );
}

const CHANGES = {
  disable: {
    title: (key) => `Disable key ${key.name}?`,
    message: "Calls that present this key are refused until you enable it again.",
    label: "Disable key",
    request: (key) => ctx.api.post(`/keys/${seg(key.id)}/disable`),
    done: (key) => `Key ${key.name} disabled.`,
  },
  enable: {
    title: (key) => `Enable key ${key.name}?`,
    message: (key) =>
      key.leak
        ? [
            h("strong", {}, "This key was found leaked. "),
            "Calls that present it are accepted again, from whoever found it too. Consider giving its users a new key instead.",
          ]
        : "Calls that present this key are accepted again.",
    label: "Enable key",
    request: (key) => ctx.api.post(`/keys/${seg(key.id)}/enable`),
    done: (key) => `Key ${key.name} enabled.`,
  },
  delete: {
    title: (key) => `Delete key ${key.name}?`,
    message: "The key stops working at once and cannot be restored.",
    label: "Delete key",
    danger: true,
    request: (key) => ctx.api.request("DELETE", `/keys/${seg(key.id)}`),
    done: (key) => `Key ${key.name} deleted.`,
  },
};

async function changeKey(app, key, change) {
  const spot = rememberFocus();
  const spec = CHANGES[change];
  const done = await formDialog({
    title: spec.title(key),
    message: h("p", {}, typeof spec.message === "function" ? spec.message(key) : spec.message),
    submitLabel: spec.label,
    danger: Boolean(spec.danger),
    onSubmit: () => spec.request(key),
  });
  if (!done) return;
  await changed(spot, spec.done(key));
}
