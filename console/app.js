// keyward console: sign-in, applications, keys, notifications, audit.
// Routes live in the fragment (#/applications, #/applications/<id>,
// #/notifications, #/audit) so the files work from any static host.

import { Api, ApiProblem, newIdempotencyKey, seg } from "./api.js";
import {
  Session,
  clearSession,
  lastApi,
  loadSession,
  saveSession,
  takeFragmentToken,
} from "./session.js";
import {
  announce,
  field,
  formDialog,
  h,
  hidden,
  problemBlock,
  secretDialog,
  when,
} from "./ui.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");

let session = null;
let api = null;
// The application limit, learnt from an APPLICATION_LIMIT_REACHED answer
// (the API does not publish its configuration).
let applicationLimit = null;
// Bumped on every render, so a slow answer for a page the user has left is
// dropped.
let renderId = 0;

function signIn(newSession) {
  session = newSession;
  api = new Api(session, {
    onUnauthorized: (problem) => {
      signOut(problem);
    },
  });
  saveSession(session);
}

function signOut(problem) {
  session = null;
  api = null;
  clearSession();
  applicationLimit = null;
  if (!location.hash.startsWith("#/")) history.replaceState(null, "", "#/applications");
  render(problem);
}

/** Replaces the page: `above` goes before the heading (a breadcrumb). */
function setPage(title, ...content) {
  document.title = `${title} · keyward console`;
  const heading = h("h1", { tabindex: "-1" }, title);
  const nodes = content.flat().filter((n) => n !== null && n !== undefined && n !== false);
  const above = nodes.filter((n) => n instanceof Element && n.classList.contains("breadcrumb"));
  main.replaceChildren(...above, heading, ...nodes.filter((n) => !above.includes(n)));
  return heading;
}

function focusHeading() {
  main.querySelector("h1")?.focus({ preventScroll: false });
}

/** Where focus is before an action's dialog: the button, and its key row. */
function rememberFocus() {
  const element = document.activeElement;
  return {
    keyId: element?.closest?.("tr[data-key-id]")?.dataset.keyId ?? null,
    text: element instanceof HTMLButtonElement ? element.textContent : null,
  };
}

/** After an action re-renders the page its button is gone: focus the same
 * key's row (its first button), else a button with the same name, else the
 * page heading, so keyboard users keep their place. */
function restoreFocus({ keyId, text }) {
  const row = keyId ? main.querySelector(`tr[data-key-id="${CSS.escape(keyId)}"]`) : null;
  const sameButton = [...main.querySelectorAll("button")].find((b) => b.textContent === text && !b.disabled);
  const target = row?.querySelector("button") ?? sameButton ?? main.querySelector("h1");
  target?.focus();
}

/** Re-renders after a change made in a dialog, keeps focus, announces. */
async function changed(spot, message) {
  await render();
  restoreFocus(spot);
  announce(message);
}

// ---- chrome ------------------------------------------------------------

function renderChrome() {
  if (!session) {
    nav.hidden = true;
    who.replaceChildren();
    return;
  }
  const route = location.hash.split("/")[1] ?? "applications";
  const link = (name, label) =>
    h(
      "a",
      { href: `#/${name}`, "aria-current": route === name ? "page" : null },
      label,
    );
  nav.replaceChildren(
    h(
      "ul",
      {},
      h("li", {}, link("applications", "Applications")),
      h("li", {}, link("notifications", "Notifications")),
      session.has("audit:view") ? h("li", {}, link("audit", "Audit log")) : null,
    ),
  );
  nav.hidden = false;
  who.replaceChildren(
    h(
      "span",
      { class: "who-name" },
      "Signed in as ",
      h("strong", {}, session.sub),
      session.account ? [" · ", h("span", {}, session.account)] : null,
    ),
    h("button", { type: "button", class: "secondary small", onclick: () => signOut() }, "Sign out"),
  );
}

// ---- sign-in -----------------------------------------------------------

function renderSignIn(problem) {
  const token = h("textarea", {
    name: "token",
    rows: "4",
    required: true,
    autocomplete: "off",
    spellcheck: "false",
    class: "mono",
  });
  const apiInput = h("input", {
    name: "api",
    type: "url",
    placeholder: "This page's origin",
    autocomplete: "url",
    value: lastApi(),
  });
  const errorArea = h("div", {}, problem ? problemBlock(problem) : null);
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h(
    "form",
    { class: "card sign-in", "aria-labelledby": "sign-in-title" },
    field(
      "Bearer token",
      token,
      "An access token (JWT) from your identity provider, or from keyward token. It stays in this browser tab and is sent only to the API.",
    ),
    h(
      "details",
      { open: lastApi() ? true : null },
      h("summary", {}, "API address"),
      field(
        "API base URL",
        apiInput,
        "Leave empty when this console is served by the API (keyward serve). Set it when the console is hosted elsewhere, e.g. https://abc123.execute-api.eu-west-1.amazonaws.com.",
      ),
    ),
    errorArea,
    h("div", { class: "actions" }, submit),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errorArea.replaceChildren();
    let candidate;
    try {
      candidate = new Session(token.value.trim().replace(/^Bearer\s+/i, ""), apiInput.value);
    } catch (error) {
      errorArea.replaceChildren(problemBlock(error));
      token.focus();
      return;
    }
    submit.disabled = true;
    try {
      // Any route that every signed-in user may call: it proves the API
      // accepts the token before the console shows anything.
      await new Api(candidate).page("/notifications", { limit: 1 });
    } catch (error) {
      submit.disabled = false;
      errorArea.replaceChildren(problemBlock(error));
      token.focus();
      return;
    }
    signIn(candidate);
    if (!location.hash.startsWith("#/")) history.replaceState(null, "", "#/applications");
    render();
    announce(`Signed in as ${candidate.sub}.`);
  });
  document.title = "Sign in · keyward console";
  main.replaceChildren(
    h("h1", { tabindex: "-1", id: "sign-in-title" }, "Sign in"),
    h(
      "p",
      { class: "lead" },
      "Manage your applications and API keys. Sign in with a bearer token; the API checks it on every call.",
    ),
    form,
  );
  if (problem) token.focus();
}

// ---- applications --------------------------------------------------------

function limitFrom(problem, fallback) {
  const n = Number(/(\d+)/.exec(problem.detail ?? "")?.[1]);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

async function renderApplications() {
  const id = renderId;
  setPage("Applications", h("p", { class: "muted" }, "Loading…"));
  let apps;
  try {
    apps = await api.listAll("/applications");
  } catch (error) {
    if (id !== renderId) return;
    setPage("Applications", problemBlock(error));
    return;
  }
  if (id !== renderId) return;
  const atLimit = applicationLimit !== null && apps.length >= applicationLimit;
  const toolbar = h("div", { class: "toolbar" });
  if (session.has("applications:create")) {
    toolbar.append(
      h(
        "button",
        {
          type: "button",
          class: "primary",
          disabled: atLimit,
          "aria-describedby": atLimit ? "application-limit" : null,
          onclick: () => newApplication(apps.length),
        },
        "New application",
      ),
    );
  }
  const count = h(
    "p",
    { class: "count" },
    apps.length === 1 ? "1 active application" : `${apps.length} active applications`,
    applicationLimit !== null ? ` of at most ${applicationLimit}` : "",
  );
  const limitNotice = atLimit
    ? h(
        "p",
        { class: "notice", id: "application-limit" },
        h("strong", {}, "Application limit reached: "),
        `this account has ${apps.length} active applications, the most allowed (${applicationLimit}). Revoke one to create another.`,
      )
    : null;
  const body = apps.length
    ? h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          {},
          h("caption", { class: "visually-hidden" }, "Active applications"),
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["Name", "Description", "Key prefix", "Created by", "Created"].map((c) =>
                h("th", { scope: "col" }, c),
              ),
              h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")),
            ),
          ),
          h("tbody", {}, apps.map(applicationRow)),
        ),
      )
    : h(
        "p",
        { class: "empty" },
        session.has("applications:create")
          ? "No applications yet. Create one to start issuing keys."
          : "No applications you can see.",
      );
  setPage("Applications", toolbar, count, limitNotice, body);
}

function applicationRow(app) {
  const actions = h("div", { class: "row-actions" });
  if (session.has("applications:edit")) {
    actions.append(
      h(
        "button",
        { type: "button", class: "secondary small", onclick: () => editApplication(app) },
        "Edit",
        hidden(` ${app.name}`),
      ),
    );
  }
  if (session.has("applications:revoke")) {
    actions.append(
      h(
        "button",
        { type: "button", class: "danger small", onclick: () => revokeApplication(app) },
        "Revoke",
        hidden(` ${app.name}`),
      ),
    );
  }
  return h(
    "tr",
    {},
    h("th", { scope: "row" }, h("a", { href: `#/applications/${seg(app.id)}` }, app.name)),
    h("td", { class: "description" }, app.description || h("span", { class: "muted" }, "—")),
    h("td", {}, h("code", {}, app.key_prefix)),
    h("td", {}, app.created_by),
    h("td", {}, when(app.created_at)),
    h("td", {}, actions),
  );
}

function applicationFields(app = {}) {
  const name = h("input", { name: "name", required: true, maxlength: "64", value: app.name ?? "" });
  const description = h("textarea", { name: "description", rows: "3", maxlength: "512" });
  description.value = app.description ?? "";
  return { name, description };
}

async function newApplication(count) {
  const spot = rememberFocus();
  const { name, description } = applicationFields();
  const prefix = h("input", {
    name: "key_prefix",
    pattern: "[a-z][a-z0-9]{0,15}",
    maxlength: "16",
    placeholder: "kw",
    autocomplete: "off",
    spellcheck: "false",
  });
  const idempotencyKey = newIdempotencyKey();
  const created = await formDialog({
    title: "New application",
    message: "An application groups the API keys of one integration or customer system.",
    fields: [
      field("Name", name, "1 to 64 characters."),
      field("Description", description, "Optional, at most 512 characters."),
      field(
        "Key prefix",
        prefix,
        "Optional: starts every key of this application (a lower-case letter, then up to 15 lower-case letters or digits). Default kw.",
      ),
    ],
    submitLabel: "Create application",
    onSubmit: async () => {
      const body = { name: name.value, description: description.value };
      if (prefix.value.trim()) body.key_prefix = prefix.value.trim();
      try {
        return await api.post("/applications", body, idempotencyKey);
      } catch (error) {
        if (error instanceof ApiProblem && error.code === "APPLICATION_LIMIT_REACHED") {
          applicationLimit = limitFrom(error, count);
        }
        throw error;
      }
    },
  });
  if (created) await changed(spot, `Application ${created.name} created.`);
  // The limit notice appears with a re-render, also after a refused create.
  else if (applicationLimit !== null) await changed(spot, "");
}

async function editApplication(app) {
  const spot = rememberFocus();
  const { name, description } = applicationFields(app);
  const saved = await formDialog({
    title: `Edit ${app.name}`,
    fields: [
      field("Name", name, "1 to 64 characters."),
      field("Description", description, "Optional, at most 512 characters."),
    ],
    submitLabel: "Save",
    onSubmit: async () => {
      const body = {};
      if (name.value !== app.name) body.name = name.value;
      if (description.value !== app.description) body.description = description.value;
      if (Object.keys(body).length === 0) return app;
      return api.patch(`/applications/${seg(app.id)}`, body);
    },
  });
  if (saved) await changed(spot, `Application ${saved.name} saved.`);
}

async function revokeApplication(app) {
  const spot = rememberFocus();
  const done = await formDialog({
    title: `Revoke ${app.name}?`,
    message: [
      h("p", {}, "Every key of this application stops working at once, and the application cannot be restored."),
    ],
    submitLabel: "Revoke application",
    danger: true,
    onSubmit: () => api.post(`/applications/${seg(app.id)}/revoke`),
  });
  if (done) {
    if (location.hash !== "#/applications") history.replaceState(null, "", "#/applications");
    await changed(spot, `Application ${app.name} revoked.`);
  }
}

// ---- keys ----------------------------------------------------------------

const STATUS_TEXT = { active: "Active", disabled: "Disabled", expired: "Expired", revoked: "Revoked" };

// A live key that verification refuses for a reason above the key itself
// (the API's `verdict`): shown instead of its status, so the page never
// shows a key as working that POST /verify refuses.
const REFUSED_TEXT = {
  APPLICATION_REVOKED: "Application revoked",
  OWNER_DELETED: "Owner offboarded",
};

async function renderApplication(appId) {
  const id = renderId;
  const back = h("p", { class: "breadcrumb" }, h("a", { href: "#/applications" }, "← Applications"));
  setPage("Application", back, h("p", { class: "muted" }, "Loading…"));
  let app;
  try {
    app = await api.get(`/applications/${seg(appId)}`);
  } catch (error) {
    if (id !== renderId) return;
    setPage("Application", back, problemBlock(error));
    return;
  }
  let keys = null;
  let keysProblem = null;
  try {
    keys = await api.listAll(`/applications/${seg(appId)}/keys`);
  } catch (error) {
    keysProblem = error;
  }
  if (id !== renderId) return;

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
            ["Name", "Description", "Status", "Scopes", "Created", "Expires", "Last used"].map((c) =>
              h("th", { scope: "col" }, c),
            ),
            h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")),
          ),
        ),
        h("tbody", {}, keys.map((key) => keyRow(app, key))),
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

function keyRow(app, key) {
  const actions = h("div", { class: "row-actions" });
  const button = (label, kind, onclick) =>
    h("button", { type: "button", class: `${kind} small`, onclick }, label, hidden(` ${key.name}`));
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
  const badge = refused
    ? h("span", { class: "badge status-refused", title: `Verification answers ${key.verdict}` }, refused)
    : h("span", { class: `badge status-${key.status}` }, STATUS_TEXT[key.status] ?? key.status);
  const status = h(
    "td",
    {},
    badge,
    inGrace && key.revoke_at
      ? h("span", { class: "hint block" }, "Replaced; works until ", when(key.revoke_at))
      : null,
  );
  return h(
    "tr",
    { "data-key-id": key.id },
    h("th", { scope: "row" }, key.name),
    h("td", { class: "description" }, key.description || h("span", { class: "muted" }, "—")),
    status,
    h(
      "td",
      {},
      key.scopes.length
        ? h("ul", { class: "scopes" }, key.scopes.map((s) => h("li", {}, h("code", {}, s))))
        : h("span", { class: "muted" }, "none"),
    ),
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
  const held = session.grantableScopes();
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
  const idempotencyKey = newIdempotencyKey();
  const created = await formDialog({
    title: `New key for ${app.name}`,
    fields: [
      field("Name", name, "1 to 64 characters, e.g. the system that will use it."),
      field("Description", description, "Optional, at most 512 characters."),
      scopes,
      field("Expires", expiry),
      customField,
    ],
    submitLabel: "Create key",
    onSubmit: async () => {
      const chosen = checkboxes.filter((b) => b.checked).map((b) => b.value);
      const typed = more.value.split(/[\s,]+/).filter(Boolean);
      const body = {
        name: name.value,
        description: description.value,
        scopes: [...new Set([...chosen, ...typed])],
      };
      if (expiry.value === "custom") {
        const date = new Date(customDate.value);
        if (Number.isNaN(date.getTime())) throw new Error("Choose the expiry date and time.");
        body.expires_at = rfc3339(date);
      } else if (expiry.value) {
        body.expires_at = rfc3339(new Date(Date.now() + Number(expiry.value) * 86_400_000));
      }
      return api.post(`/applications/${seg(app.id)}/keys`, body, idempotencyKey);
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
      "You get a new key with the same name, description and scopes, and a fresh validity. The current key stops working when you choose below; calls that use it then fail.",
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
      return api.post(`/keys/${seg(key.id)}/regenerate`, body, idempotencyKey);
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
    request: (key) => api.post(`/keys/${seg(key.id)}/disable`),
    done: (key) => `Key ${key.name} disabled.`,
  },
  enable: {
    title: (key) => `Enable key ${key.name}?`,
    message: "Calls that present this key are accepted again.",
    label: "Enable key",
    request: (key) => api.post(`/keys/${seg(key.id)}/enable`),
    done: (key) => `Key ${key.name} enabled.`,
  },
  delete: {
    title: (key) => `Delete key ${key.name}?`,
    message: "The key stops working at once and cannot be restored.",
    label: "Delete key",
    danger: true,
    request: (key) => api.request("DELETE", `/keys/${seg(key.id)}`),
    done: (key) => `Key ${key.name} deleted.`,
  },
};

async function changeKey(app, key, change) {
  const spot = rememberFocus();
  const spec = CHANGES[change];
  const done = await formDialog({
    title: spec.title(key),
    message: h("p", {}, spec.message),
    submitLabel: spec.label,
    danger: Boolean(spec.danger),
    onSubmit: () => spec.request(key),
  });
  if (!done) return;
  await changed(spot, spec.done(key));
}

// ---- notifications and audit ---------------------------------------------

async function renderNotifications() {
  const id = renderId;
  setPage("Notifications", h("p", { class: "muted" }, "Loading…"));
  let notices;
  try {
    notices = await api.listAll("/notifications");
  } catch (error) {
    if (id !== renderId) return;
    setPage("Notifications", problemBlock(error));
    return;
  }
  if (id !== renderId) return;
  const intro = h(
    "p",
    { class: "lead" },
    "keyward notifies a key's creator once a day while the key is about to expire.",
  );
  const body = notices.length
    ? h(
        "ul",
        { class: "notices" },
        notices.map((n) =>
          h(
            "li",
            { class: "card notice-item" },
            h(
              "p",
              {},
              h("strong", {}, n.key_name),
              n.days_left <= 1 ? " expires within a day" : ` expires in ${n.days_left} days`,
              " (",
              when(n.expires_at),
              ").",
            ),
            h(
              "p",
              { class: "hint" },
              "Notice of ",
              n.day,
              " · ",
              h("a", { href: `#/applications/${seg(n.application_id)}` }, "Open its application"),
            ),
          ),
        ),
      )
    : h("p", { class: "empty" }, "No expiry notices.");
  setPage("Notifications", intro, body);
}

function auditChange(event) {
  const before = event.before?.status;
  const after = event.after?.status;
  if (before && after && before !== after) return `${before} → ${after}`;
  if (!event.before && event.after?.name) return `“${event.after.name}”`;
  if (event.before?.name && event.after?.name && event.before.name !== event.after.name) {
    return `“${event.before.name}” → “${event.after.name}”`;
  }
  return "";
}

async function renderAudit(cursor = null, earlier = []) {
  const id = renderId;
  if (!cursor) setPage("Audit log", h("p", { class: "muted" }, "Loading…"));
  let page;
  try {
    page = await api.page("/audit", { limit: 50, cursor });
  } catch (error) {
    if (id !== renderId) return;
    setPage("Audit log", problemBlock(error));
    return;
  }
  if (id !== renderId) return;
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
            events.map((e) =>
              h(
                "tr",
                {},
                h("td", {}, when(e.at)),
                h("td", {}, e.actor),
                h("td", {}, h("code", {}, e.action)),
                h("td", {}, `${e.target_type} `, h("code", { class: "id" }, e.target_id)),
                h("td", {}, auditChange(e)),
              ),
            ),
          ),
        ),
      )
    : h("p", { class: "empty" }, "No events yet.");
  setPage("Audit log", h("p", { class: "lead" }, "Who changed what in this account."), body, more);
}

// ---- routing -------------------------------------------------------------

async function render(problem) {
  renderId += 1;
  renderChrome();
  if (!session) {
    renderSignIn(problem);
    return;
  }
  const [, section, id] = location.hash.split("/");
  if (section === "applications" && id) await renderApplication(decodeURIComponent(id));
  else if (section === "notifications") await renderNotifications();
  else if (section === "audit") await renderAudit();
  else {
    if (section !== "applications") history.replaceState(null, "", "#/applications");
    await renderApplications();
  }
}

window.addEventListener("hashchange", async () => {
  // The last announcement belongs to the page being left.
  document.getElementById("status").textContent = "";
  const fragmentToken = takeFragmentToken();
  if (fragmentToken) await adoptToken(fragmentToken);
  await render();
  focusHeading();
});

async function adoptToken(token) {
  try {
    signIn(new Session(token, session?.api ?? lastApi()));
  } catch (error) {
    session = null;
    renderChrome();
    renderSignIn();
    main.querySelector("form")?.prepend(problemBlock(error));
    return false;
  }
  return true;
}

async function start() {
  const fragmentToken = takeFragmentToken();
  if (fragmentToken) {
    if (!(await adoptToken(fragmentToken))) return;
  } else {
    session = loadSession();
    if (session) signIn(session);
  }
  await render();
}

start();
