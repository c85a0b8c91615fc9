// A key's own page (#/applications/<id>/keys/<key id>): why it stopped
// when it was found leaked (leaks.js), its facts, its usage (credits left,
// each rate limit's use, the allowed addresses), Refresh, and Edit key
// (name, description and the usage control).

import { seg } from "./api.js";
import { controlFields } from "./controls.js";
import { statusBadge } from "./keys.js";
import { disabledByText, leakSection, leakedTag } from "./leaks.js";
import { changed, ctx, loadPage, rememberFocus, setPage } from "./page.js";
import { field, formDialog, h, when } from "./ui.js";
import { usageSections } from "./usage.js";

export async function renderKey(appId, keyId) {
  const backLink = h("a", { href: `#/applications/${seg(appId)}` }, "← Application");
  const back = h("p", { class: "breadcrumb" }, backLink);
  const loaded = await loadPage(
    "Key",
    async () => {
      const [app, key] = await Promise.all([
        ctx.api.get(`/applications/${seg(appId)}`),
        ctx.api.get(`/keys/${seg(keyId)}`),
      ]);
      return { app, key };
    },
    { above: [back] },
  );
  if (!loaded) return;
  const { app, key } = loaded;
  backLink.textContent = `← ${app.name}`;
  const tag = leakedTag(key);
  const disabledBy = disabledByText(key);

  const facts = h(
    "dl",
    { class: "facts" },
    h("dt", {}, "Status"),
    h(
      "dd",
      {},
      statusBadge(key),
      tag ? [" ", tag] : null,
      key.replaced_by && key.revoke_at ? [" Replaced; works until ", when(key.revoke_at)] : null,
      disabledBy ? h("span", { class: "hint block disabled-by" }, disabledBy) : null,
    ),
    h("dt", {}, "Key id"),
    h("dd", {}, h("code", { class: "id" }, key.id)),
    h("dt", {}, "Scopes"),
    h(
      "dd",
      {},
      key.scopes.length
        ? key.scopes.map((scope, i) => [i ? " " : "", h("code", {}, scope)])
        : h("span", { class: "muted" }, "none"),
    ),
    h("dt", {}, "Created by"),
    h("dd", {}, key.created_by),
    h("dt", {}, "Created"),
    h("dd", {}, when(key.created_at)),
    h("dt", {}, "Expires"),
    h("dd", {}, when(key.expires_at)),
    h("dt", {}, "Last used"),
    h("dd", {}, when(key.last_used_at, "Never")),
  );
  const toolbar = h(
    "div",
    { class: "toolbar" },
    h("button", { type: "button", class: "secondary", onclick: refresh }, "Refresh"),
  );
  // Only a key that can still work is worth editing.
  if (["active", "disabled"].includes(key.status) && ctx.session.can("keys:edit", app)) {
    toolbar.prepend(h("button", { type: "button", class: "primary", onclick: () => editKey(key) }, "Edit key"));
  }
  const heading = setPage(
    key.name,
    back,
    key.description ? h("p", { class: "lead description" }, key.description) : null,
    leakSection(key),
    facts,
    toolbar,
    usageSections(key),
  );
  heading.setAttribute("data-key-id", key.id);
}

/** The live use again (it changes with every verification); focus stays
 * on Refresh. */
async function refresh() {
  await changed(rememberFocus(), "Usage refreshed.");
}

async function editKey(key) {
  const spot = rememberFocus();
  const name = h("input", { name: "name", required: true, maxlength: "64", value: key.name });
  const description = h("textarea", { name: "description", rows: "2", maxlength: "512" });
  description.value = key.description ?? "";
  const controls = controlFields(key);
  const saved = await formDialog({
    title: `Edit key ${key.name}`,
    fields: [
      field("Name", name, "1 to 64 characters."),
      field("Description", description, "Optional, at most 512 characters."),
      controls.nodes,
    ],
    submitLabel: "Save",
    fieldProblem: controls.problemSpot,
    onSubmit: async () => {
      const body = controls.changes();
      if (name.value !== key.name) body.name = name.value;
      if (description.value !== (key.description ?? "")) body.description = description.value;
      if (Object.keys(body).length === 0) return key;
      return ctx.api.patch(`/keys/${seg(key.id)}`, body);
    },
  });
  if (saved) await changed(spot, `Key ${saved.name ?? key.name} saved.`);
}
