// The Webhooks page (#/webhooks): the account's webhook endpoints, Add
// webhook (its signing secret shown once), Disable, Enable and Delete; and
// a webhook's own page (#/webhooks/<id>) with its recent deliveries, Edit
// webhook and the same actions. Every call needs `webhooks:manage`; without
// it the API answers 403 and the page says so.

import { ApiProblem, newIdempotencyKey, seg } from "./api.js";
import { changed, ctx, distinguishers, loadPage, rememberFocus, setPage } from "./page.js";
import { field, formDialog, h, hidden, problemBlock, secretDialog, uid, when } from "./ui.js";

const PERMISSION = "webhooks:manage";

/** The event types, as the API names them (functions/src/events/mod.rs),
 * in its order. */
export const EVENT_TYPES = [
  "application.created",
  "application.updated",
  "application.revoked",
  "key.created",
  "key.updated",
  "key.disabled",
  "key.enabled",
  "key.regenerated",
  "key.revoked",
  "key.expiring",
  "key.leaked",
  "user.offboarded",
];

const DELIVERY_STATUS_TEXT = { pending: "Pending", delivered: "Delivered", failed: "Failed" };

/** Why an attempt failed (the API's `error`), in words. */
const ATTEMPT_ERROR_TEXT = {
  HTTP_STATUS: "The receiver answered with an error status",
  REDIRECT_NOT_FOLLOWED: "The receiver answered with a redirect, which is not followed",
  TIMEOUT: "No answer within 15 seconds",
  CONNECTION_FAILED: "The connection failed",
  ADDRESS_NOT_PUBLIC: "The URL's host is not a public address",
  INVALID_URL: "The URL does not parse",
  SECRET_UNAVAILABLE: "The signing secret could not be opened; nothing was sent",
  WEBHOOK_DISABLED: "The webhook was disabled or deleted; nothing was sent",
};

const INTRO =
  "keyward sends each change in this account (applications, keys, offboarded users) as a signed POST to these URLs, and tries a failed delivery again for about a day.";

const back = () => h("p", { class: "breadcrumb" }, h("a", { href: "#/webhooks" }, "← Webhooks"));

/** `fetch()`, with a 403 (no `webhooks:manage`) as `{denied}` instead of
 * a failure, so the page can explain it. */
async function unlessDenied(fetch) {
  try {
    return await fetch();
  } catch (error) {
    if (error instanceof ApiProblem && error.status === 403) return { denied: error };
    throw error;
  }
}

/** The page of a caller the API refused: why, and what to ask for. */
function showDenied(title, error, above = []) {
  setPage(
    title,
    above,
    h("p", { class: "lead" }, INTRO),
    problemBlock(error),
    h(
      "p",
      { class: "notice" },
      h("strong", {}, "Webhooks need the permission "),
      h("code", {}, PERMISSION),
      h("strong", {}, ". "),
      "Ask an administrator of this account to add it to your token's permissions, then sign in again.",
    ),
  );
}

/** The events a webhook gets: a list of types, or "All events". */
function eventsOf(webhook) {
  return webhook.events.length
    ? h("ul", { class: "scopes" }, webhook.events.map((type) => h("li", {}, h("code", {}, type))))
    : h("span", {}, "All events");
}

function enabledBadge(webhook) {
  return webhook.enabled
    ? h("span", { class: "badge status-active" }, "Enabled")
    : h("span", { class: "badge status-disabled" }, "Disabled");
}

// ---- the list ----------------------------------------------------------

export async function renderWebhooks() {
  const loaded = await loadPage("Webhooks", () => unlessDenied(() => ctx.api.listAll("/webhooks")));
  if (!loaded) return;
  if (loaded.denied) {
    showDenied("Webhooks", loaded.denied);
    return;
  }
  const webhooks = loaded;
  const { webhookLimit } = ctx;
  const atLimit = webhookLimit !== null && webhooks.length >= webhookLimit;
  const toolbar = h(
    "div",
    { class: "toolbar" },
    h(
      "button",
      {
        type: "button",
        class: "primary",
        disabled: atLimit,
        "aria-describedby": atLimit ? "webhook-limit" : null,
        onclick: () => addWebhook(webhooks.length),
      },
      "Add webhook",
    ),
  );
  const count = h(
    "p",
    { class: "count" },
    webhooks.length === 1 ? "1 webhook" : `${webhooks.length} webhooks`,
    webhookLimit !== null ? ` of at most ${webhookLimit}` : "",
  );
  const limitNotice = atLimit
    ? h(
        "p",
        { class: "notice", id: "webhook-limit" },
        h("strong", {}, "Webhook limit reached: "),
        `this account has ${webhooks.length} webhooks, the most allowed (${webhookLimit}). Delete one to add another.`,
      )
    : null;
  // Row buttons are named by URL; same URLs are told apart like same names.
  const suffixes = distinguishers(webhooks.map((w) => ({ ...w, name: w.url })));
  const body = webhooks.length
    ? [
        h("p", { class: "hint" }, "Choose a webhook's URL to see its recent deliveries."),
        h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "webhooks" },
            h("caption", { class: "visually-hidden" }, "Webhooks"),
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                ["URL", "Events", "Status", "Description", "Created"].map((c) => h("th", { scope: "col" }, c)),
                h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")),
              ),
            ),
            h("tbody", {}, webhooks.map((webhook) => webhookRow(webhook, suffixes.get(webhook.id)))),
          ),
        ),
      ]
    : h("p", { class: "empty" }, "No webhooks yet. Add one to receive this account's events.");
  setPage("Webhooks", h("p", { class: "lead" }, INTRO), toolbar, count, limitNotice, body);
}

/** The route of a webhook's own page. */
function webhookHref(id) {
  return `#/webhooks/${seg(id)}`;
}

/** `suffix` tells the row's buttons apart from a same-URL webhook's. */
function webhookRow(webhook, suffix) {
  const button = (label, kind, onclick) =>
    h("button", { type: "button", class: `${kind} small`, onclick }, label, hidden(` ${webhook.url}${suffix}`));
  const actions = h(
    "div",
    { class: "row-actions" },
    webhook.enabled
      ? button("Disable", "secondary", () => changeWebhook(webhook, "disable"))
      : button("Enable", "secondary", () => changeWebhook(webhook, "enable")),
    button("Delete", "danger", () => changeWebhook(webhook, "delete")),
  );
  return h(
    "tr",
    // Focusable by script only: focus lands here when a neighbour row goes.
    { "data-row-id": webhook.id, tabindex: "-1" },
    h("th", { scope: "row", class: "url" }, h("a", { href: webhookHref(webhook.id) }, webhook.url)),
    h("td", {}, eventsOf(webhook)),
    h("td", {}, enabledBadge(webhook)),
    h("td", { class: "description" }, webhook.description || h("span", { class: "muted" }, "—")),
    h("td", {}, when(webhook.created_at)),
    h("td", {}, actions),
  );
}

// ---- a webhook's page and its deliveries ---------------------------------

/** The webhook and the first page of its deliveries, or with `cursor` the
 * next page after `earlier` (the deliveries shown so far, kept). */
export async function renderWebhook(id, cursor = null, earlier = []) {
  const above = [back()];
  // The webhook must load; its deliveries may fail on their own (the page
  // then shows the webhook and the deliveries' problem).
  const loaded = await loadPage(
    "Webhook",
    () =>
      unlessDenied(async () => {
        const webhook = await ctx.api.get(`/webhooks/${seg(id)}`);
        try {
          const page = await ctx.api.page(`/webhooks/${seg(id)}/deliveries`, { limit: 50, cursor });
          return { webhook, page, problem: null };
        } catch (error) {
          return { webhook, page: null, problem: error };
        }
      }),
    { above, quiet: Boolean(cursor) },
  );
  if (!loaded) return;
  if (loaded.denied) {
    showDenied("Webhook", loaded.denied, above);
    return;
  }
  const { webhook, page, problem } = loaded;

  const facts = h(
    "dl",
    { class: "facts" },
    h("dt", {}, "Status"),
    h("dd", {}, enabledBadge(webhook)),
    h("dt", {}, "Events"),
    h("dd", {}, eventsOf(webhook)),
    h("dt", {}, "Webhook id"),
    h("dd", {}, h("code", { class: "id" }, webhook.id)),
    h("dt", {}, "Created by"),
    h("dd", {}, webhook.created_by),
    h("dt", {}, "Created"),
    h("dd", {}, when(webhook.created_at)),
    h("dt", {}, "Changed"),
    h("dd", {}, when(webhook.updated_at)),
  );
  const toolbar = h(
    "div",
    { class: "toolbar" },
    webhook.enabled
      ? h("button", { type: "button", class: "secondary", onclick: () => changeWebhook(webhook, "disable") }, "Disable webhook")
      : h("button", { type: "button", class: "secondary", onclick: () => changeWebhook(webhook, "enable") }, "Enable webhook"),
    h("button", { type: "button", class: "secondary", onclick: () => editWebhook(webhook) }, "Edit webhook"),
    h("button", { type: "button", class: "danger", onclick: () => changeWebhook(webhook, "delete") }, "Delete webhook"),
    h("button", { type: "button", class: "secondary", onclick: refresh }, "Refresh"),
  );

  const deliveries = page ? [...earlier, ...page.items] : earlier;
  let deliveriesBlock;
  if (problem) {
    deliveriesBlock = problemBlock(problem);
  } else if (deliveries.length === 0) {
    deliveriesBlock = h(
      "p",
      { class: "empty" },
      webhook.enabled
        ? "No deliveries yet. Each change in this account is delivered here as it happens."
        : "No deliveries. The webhook is disabled: changes are not delivered to it.",
    );
  } else {
    deliveriesBlock = h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "deliveries" },
        h("caption", { class: "visually-hidden" }, `Deliveries to ${webhook.url}, newest first`),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Event", "Event id", "Status", "Attempts", "Answer", "Error", "Last attempt", "Next attempt"].map((c) =>
              h("th", { scope: "col" }, c),
            ),
          ),
        ),
        h(
          "tbody",
          {},
          deliveries.map((d, i) => deliveryRow(d, { first: cursor !== null && i === earlier.length })),
        ),
      ),
    );
  }
  const more =
    page?.next_cursor && !problem
      ? h(
          "button",
          { type: "button", class: "secondary", onclick: () => renderWebhook(id, page.next_cursor, deliveries) },
          "Load older deliveries",
        )
      : null;
  const heading = setPage(
    webhook.url,
    above,
    webhook.description ? h("p", { class: "lead description" }, webhook.description) : null,
    facts,
    toolbar,
    h("h2", {}, "Recent deliveries"),
    h(
      "p",
      { class: "hint" },
      "Newest first. A failed attempt is tried again after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h; then the delivery is marked failed.",
    ),
    deliveriesBlock,
    more,
  );
  heading.classList.add("url");
  heading.setAttribute("data-webhook-id", webhook.id);
  if (cursor) (document.querySelector("tr[data-first-older]") ?? more ?? heading).focus();
}

function deliveryRow(delivery, { first }) {
  const status = delivery.status;
  const error = delivery.error;
  // The first of a batch of older deliveries can take focus (by script
  // only): after "Load older deliveries" the button is gone.
  return h(
    "tr",
    { tabindex: first ? "-1" : null, "data-first-older": first ? "" : null, "data-delivery-id": delivery.id },
    h("td", {}, h("code", {}, delivery.event_type)),
    h("td", {}, h("code", { class: "id" }, delivery.event_id)),
    h("td", {}, h("span", { class: `badge delivery-${status}` }, DELIVERY_STATUS_TEXT[status] ?? status)),
    h("td", {}, String(delivery.attempts)),
    h("td", {}, delivery.response_status ?? h("span", { class: "muted" }, "—")),
    h(
      "td",
      { class: "description" },
      error
        ? [ATTEMPT_ERROR_TEXT[error] ?? error, h("span", { class: "hint block" }, h("code", {}, error))]
        : h("span", { class: "muted" }, "—"),
    ),
    h("td", {}, when(delivery.last_attempt_at, "Not yet")),
    h("td", {}, when(delivery.next_attempt_at)),
  );
}

/** The deliveries again (they change with every attempt); focus stays on
 * Refresh. */
async function refresh() {
  await changed(rememberFocus(), "Deliveries refreshed.");
}

// ---- dialogs -------------------------------------------------------------

/** A problem's spot under a field (see ui.js showAtField). */
function problemSlot() {
  return h("div", { class: "field-problem" });
}

/** The fields of Add webhook and Edit webhook, the chosen event types, and
 * which field a server problem is about (by its code). */
function webhookFields(webhook = {}) {
  const url = h("input", {
    name: "url",
    type: "url",
    required: true,
    maxlength: "2048",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "https://hooks.example.com/keyward",
    value: webhook.url ?? "",
  });
  const description = h("textarea", { name: "description", rows: "2", maxlength: "512" });
  description.value = webhook.description ?? "";
  const held = new Set(webhook.events ?? []);
  const boxes = EVENT_TYPES.map((type) =>
    h("input", { type: "checkbox", name: "event", value: type, id: uid("event"), checked: held.has(type) }),
  );
  const hintId = uid("hint");
  const slots = { url: problemSlot(), description: problemSlot(), events: problemSlot() };
  const events = h(
    "fieldset",
    { class: "events-field", "aria-describedby": hintId },
    h("legend", {}, "Events"),
    h(
      "p",
      { class: "hint", id: hintId },
      "The event types sent to this URL. None checked: every type, including types added later.",
    ),
    h(
      "div",
      { class: "checks" },
      boxes.map((box) => h("div", { class: "check" }, box, h("label", { for: box.id }, h("code", {}, box.value)))),
    ),
    slots.events,
  );
  const nodes = [
    field(
      "URL",
      url,
      "Where keyward POSTs each event: an https URL of a public host, at most 2,048 characters.",
    ),
    slots.url,
    field("Description", description, "Optional, at most 512 characters."),
    slots.description,
    events,
  ];
  const problemSpot = (error) => {
    if (!(error instanceof ApiProblem)) return null;
    if (error.code === "INVALID_WEBHOOK_URL") return { control: url, slot: slots.url };
    if (error.code === "INVALID_DESCRIPTION") return { control: description, slot: slots.description };
    if (error.code === "INVALID_EVENT_TYPES") return { control: events, slot: slots.events, focus: boxes[0] };
    return null;
  };
  const chosen = () => boxes.filter((b) => b.checked).map((b) => b.value);
  return { url, description, nodes, chosen, problemSpot };
}

/** The signing secret, once, as a new key's secret is shown. */
function showSigningSecret(webhook, secret) {
  return secretDialog({
    title: "Your webhook's signing secret",
    secret,
    what: "secret",
    label: "Signing secret",
    doneLabel: "I have copied the secret — Close",
    message: [
      "Copy the signing secret of ",
      h("strong", { class: "url" }, webhook.url),
      " now and give it to your receiver: it checks each delivery's webhook-signature header with it (Standard Webhooks). ",
      h("strong", {}, "You will not see it again:"),
      " keyward keeps it sealed and never shows it a second time.",
    ],
  });
}

/** `count`: the webhooks the page shows, the limit's best guess when a
 * refusal carries no `limit`. */
async function addWebhook(count) {
  const spot = rememberFocus();
  const fields = webhookFields();
  const idempotencyKey = newIdempotencyKey();
  const created = await formDialog({
    title: "Add webhook",
    message: "keyward signs each delivery with a secret you get once, when the webhook is added.",
    fields: fields.nodes,
    submitLabel: "Add webhook",
    fieldProblem: fields.problemSpot,
    onSubmit: async () => {
      const body = { url: fields.url.value.trim(), description: fields.description.value };
      const events = fields.chosen();
      if (events.length) body.events = events;
      try {
        return await ctx.api.post("/webhooks", body, idempotencyKey);
      } catch (error) {
        if (error instanceof ApiProblem && error.code === "WEBHOOK_LIMIT_REACHED") {
          ctx.webhookLimit = error.limit ?? count;
        }
        throw error;
      }
    },
  });
  if (created) {
    await showSigningSecret(created.webhook, created.secret);
    await changed(spot, `Webhook ${created.webhook.url} added.`);
  } else if (ctx.webhookLimit !== null) {
    // The limit notice appears with a re-render, also after a refused add.
    await changed(spot, "");
  }
}

async function editWebhook(webhook) {
  const spot = rememberFocus();
  const fields = webhookFields(webhook);
  const saved = await formDialog({
    title: "Edit webhook",
    fields: fields.nodes,
    submitLabel: "Save",
    fieldProblem: fields.problemSpot,
    onSubmit: async () => {
      const body = {};
      const url = fields.url.value.trim();
      if (url !== webhook.url) body.url = url;
      if (fields.description.value !== webhook.description) body.description = fields.description.value;
      const events = fields.chosen();
      const same = events.length === webhook.events.length && events.every((e) => webhook.events.includes(e));
      // None checked is every type: `null` in a PATCH.
      if (!same) body.events = events.length ? events : null;
      if (Object.keys(body).length === 0) return webhook;
      return ctx.api.patch(`/webhooks/${seg(webhook.id)}`, body);
    },
  });
  if (saved) await changed(spot, "Webhook saved.");
}

const CHANGES = {
  disable: {
    title: "Disable webhook?",
    message:
      "keyward stops sending events to this URL. Events of the time it is disabled are not sent later, and deliveries waiting for a retry are given up.",
    label: "Disable webhook",
    request: (webhook) => ctx.api.patch(`/webhooks/${seg(webhook.id)}`, { enabled: false }),
    done: (webhook) => `Webhook ${webhook.url} disabled.`,
  },
  enable: {
    title: "Enable webhook?",
    message: "keyward sends this URL the events that happen from now on.",
    label: "Enable webhook",
    request: (webhook) => ctx.api.patch(`/webhooks/${seg(webhook.id)}`, { enabled: true }),
    done: (webhook) => `Webhook ${webhook.url} enabled.`,
  },
  delete: {
    title: "Delete webhook?",
    message: "keyward stops sending events to this URL at once. The webhook cannot be restored.",
    label: "Delete webhook",
    danger: true,
    request: (webhook) => ctx.api.request("DELETE", `/webhooks/${seg(webhook.id)}`),
    done: (webhook) => `Webhook ${webhook.url} deleted.`,
  },
};

async function changeWebhook(webhook, change) {
  const spot = rememberFocus();
  // On the webhook's page the toggle comes back as its opposite.
  const opposite = { "Disable webhook": "Enable webhook", "Enable webhook": "Disable webhook" };
  if (opposite[spot.text]) spot.text = opposite[spot.text];
  const spec = CHANGES[change];
  const done = await formDialog({
    title: spec.title,
    message: [h("p", {}, h("strong", { class: "url" }, webhook.url)), h("p", {}, spec.message)],
    submitLabel: spec.label,
    danger: Boolean(spec.danger),
    onSubmit: () => spec.request(webhook),
  });
  if (!done) return;
  // A deleted webhook's page is gone: back to the list.
  if (change === "delete" && location.hash !== "#/webhooks") history.replaceState(null, "", "#/webhooks");
  await changed(spot, spec.done(webhook));
}
