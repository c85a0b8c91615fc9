// The Applications page, and the application dialogs (also offered on an
// application's own page).

import { ApiProblem, newIdempotencyKey, seg } from "./api.js";
import { changed, ctx, distinguishers, loadPage, rememberFocus, setPage } from "./page.js";
import { field, formDialog, h, hidden, when } from "./ui.js";

export async function renderApplications() {
  const apps = await loadPage("Applications", () => ctx.api.listAll("/applications"));
  if (!apps) return;
  const { session, applicationLimit } = ctx;
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
  const suffixes = distinguishers(apps);
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
          h("tbody", {}, apps.map((app) => applicationRow(app, suffixes.get(app.id)))),
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

/** `suffix` tells the row's buttons apart from a same-named application's. */
function applicationRow(app, suffix) {
  const { session } = ctx;
  const actions = h("div", { class: "row-actions" });
  if (session.has("applications:edit")) {
    actions.append(
      h(
        "button",
        { type: "button", class: "secondary small", onclick: () => editApplication(app) },
        "Edit",
        hidden(` ${app.name}${suffix}`),
      ),
    );
  }
  if (session.has("applications:revoke")) {
    actions.append(
      h(
        "button",
        { type: "button", class: "danger small", onclick: () => revokeApplication(app) },
        "Revoke",
        hidden(` ${app.name}${suffix}`),
      ),
    );
  }
  return h(
    "tr",
    // Focusable by script only: focus lands here when a neighbour row goes.
    { "data-row-id": app.id, tabindex: "-1" },
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

/** `count`: the applications the page shows, the limit's best guess when a
 * refusal carries no `limit`. */
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
        return await ctx.api.post("/applications", body, idempotencyKey);
      } catch (error) {
        if (error instanceof ApiProblem && error.code === "APPLICATION_LIMIT_REACHED") {
          ctx.applicationLimit = error.limit ?? count;
        }
        throw error;
      }
    },
  });
  if (created) await changed(spot, `Application ${created.name} created.`);
  // The limit notice appears with a re-render, also after a refused create.
  else if (ctx.applicationLimit !== null) await changed(spot, "");
}

export async function editApplication(app) {
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
      return ctx.api.patch(`/applications/${seg(app.id)}`, body);
    },
  });
  if (saved) await changed(spot, `Application ${saved.name} saved.`);
}

export async function revokeApplication(app) {
  const spot = rememberFocus();
  const done = await formDialog({
    title: `Revoke ${app.name}?`,
    message: [
      h("p", {}, "Every key of this application stops working at once, and the application cannot be restored."),
    ],
    submitLabel: "Revoke application",
    danger: true,
    onSubmit: () => ctx.api.post(`/applications/${seg(app.id)}/revoke`),
  });
  if (done) {
    if (location.hash !== "#/applications") history.replaceState(null, "", "#/applications");
    await changed(spot, `Application ${app.name} revoked.`);
  }
}
