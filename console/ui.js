// DOM helpers and the dialogs. Text always goes in as text nodes, never as
// HTML, so names and descriptions from the API cannot inject markup.

import { ApiProblem } from "./api.js";

/** `h("button", {class: "primary", onclick}, "Save")`. Props starting with
 * "on" are listeners; `true`/`false` toggle boolean attributes; others are
 * attributes. Children: nodes, strings, arrays; null and false are skipped. */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (value === true) {
      element.setAttribute(name, "");
    } else if (name === "value") {
      element.value = value;
    } else {
      element.setAttribute(name, String(value));
    }
  }
  append(element, children);
  return element;
}

function append(parent, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

let uniqueCounter = 0;
/** A fresh element id. */
export function uid(prefix) {
  uniqueCounter += 1;
  return `${prefix}-${uniqueCounter}`;
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
const timeFormat = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });

/** A `<time>` for an RFC 3339 string, in local time (the time of day on a
 * line of its own in tables); `none` when there is none. */
export function when(iso, none = "—") {
  if (!iso) return h("span", { class: "muted" }, none);
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return h("span", {}, iso);
  return h(
    "time",
    { datetime: iso, title: iso },
    dateFormat.format(date),
    h("span", { class: "time" }, timeFormat.format(date)),
  );
}

/**
 * A link to an address someone else gave (where a leaked key was found):
 * opened in a new tab, with no opener, no referrer, and no endorsement.
 * Anything but an http(s) URL (`javascript:`, a bare word) stays plain
 * text. `text` (the URL itself by default; a shortened one shows the
 * whole URL as its title) is text, never markup.
 */
export function externalLink(url, text = url) {
  let parsed = null;
  try {
    parsed = new URL(url);
  } catch {
    parsed = null;
  }
  if (!parsed || !["http:", "https:"].includes(parsed.protocol)) {
    return h("span", { class: "url", title: text === url ? null : url }, text);
  }
  return h(
    "a",
    { href: parsed.href, target: "_blank", rel: "noopener noreferrer nofollow", class: "url", title: text === url ? null : url },
    text,
    hidden(" (opens in a new tab)"),
  );
}

/** Visually hidden text that screen readers read (context for a button). */
export function hidden(text) {
  return h("span", { class: "visually-hidden" }, text);
}

/** A readable message for an error: an API problem (lead, detail, code) or
 * anything else. */
export function problemMessage(error) {
  if (error instanceof ApiProblem) {
    const detail = error.detail ? error.detail[0].toUpperCase() + error.detail.slice(1) : "";
    return [
      h("strong", {}, `${error.lead}: `),
      detail.endsWith(".") ? detail : `${detail}.`,
      " ",
      h("code", { class: "problem-code" }, error.code),
    ];
  }
  return [h("strong", {}, "Something went wrong: "), error?.message ?? String(error)];
}

/** A block that announces an error to assistive technology. */
export function problemBlock(error) {
  return h("div", { class: "problem", role: "alert" }, problemMessage(error));
}

/** Polite announcements ("Key disabled."), shown in the status line. */
export function announce(text) {
  const region = document.getElementById("status");
  region.textContent = "";
  // A fresh text node makes screen readers announce a repeated message.
  requestAnimationFrame(() => {
    region.textContent = text;
  });
}

/**
 * A modal dialog holding a form: `fields` (nodes), a Cancel button and a
 * submit button. `onSubmit(form)` runs on submit; while it runs the buttons
 * are disabled; if it throws, the message is shown in the dialog and it stays
 * open; if it returns, the dialog closes and the promise resolves with its
 * result. Cancel, Escape or the close button resolve `null`.
 *
 * `role="dialog"`, a label (its heading) and a description (`message`);
 * focus goes to the element with `autofocus`, else the first field, else
 * Cancel (the safe choice in a confirmation), and returns to where it was.
 *
 * `fieldProblem(error)` may name the field a problem is about (by its
 * `code`, see `showAtField`); the problem is then shown there instead of
 * under the form.
 */
export function formDialog({ title, message, fields = [], submitLabel, danger = false, onSubmit, fieldProblem }) {
  return new Promise((resolve) => {
    const titleId = uid("dialog-title");
    const messageId = uid("dialog-message");
    const errorArea = h("div", { class: "dialog-error" });
    const cancel = h("button", { type: "button", class: "secondary" }, "Cancel");
    const submit = h("button", { type: "submit", class: danger ? "danger" : "primary" }, submitLabel);
    const form = h(
      "form",
      { novalidate: false },
      h("h2", { id: titleId }, title),
      message ? h("div", { id: messageId, class: "dialog-message" }, message) : null,
      fields,
      errorArea,
      h("div", { class: "dialog-actions" }, cancel, submit),
    );
    const dialog = h(
      "dialog",
      {
        role: "dialog",
        "aria-modal": "true",
        "aria-labelledby": titleId,
        "aria-describedby": message ? messageId : null,
        class: danger ? "danger-dialog" : null,
      },
      form,
    );
    const returnFocus = document.activeElement;
    let busy = false;
    let result = null;
    let clearFieldProblem = () => {};

    cancel.addEventListener("click", () => dialog.close());
    dialog.addEventListener("cancel", (event) => {
      if (busy) event.preventDefault();
    });
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (returnFocus instanceof HTMLElement && returnFocus.isConnected) returnFocus.focus();
      resolve(result);
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (busy) return;
      if (!form.reportValidity()) return;
      busy = true;
      submit.disabled = true;
      cancel.disabled = true;
      form.setAttribute("aria-busy", "true");
      errorArea.replaceChildren();
      clearFieldProblem();
      clearFieldProblem = () => {};
      try {
        result = (await onSubmit(form)) ?? true;
        dialog.close();
      } catch (error) {
        busy = false;
        submit.disabled = false;
        cancel.disabled = false;
        form.removeAttribute("aria-busy");
        const spot = fieldProblem?.(error);
        if (spot) {
          clearFieldProblem = showAtField(spot, error);
        } else {
          errorArea.replaceChildren(problemBlock(error));
          submit.focus();
        }
      }
    });

    document.body.append(dialog);
    if (!form.querySelector("[autofocus]")) {
      const first = form.querySelector("input:not([type=hidden]), textarea, select");
      (first ?? cancel).setAttribute("autofocus", "");
    }
    dialog.showModal();
  });
}

/**
 * Shows a new key's secret once: a read-only field, a Copy button, and an
 * "I have copied my key — Close" step. Escape does not dismiss it by
 * accident. When it closes, the secret is removed from the page. Focus
 * starts on the secret (selected), not on Close: an Enter meant for the
 * form before must not throw away a secret never seen.
 *
 * Another secret shown once (a webhook's signing secret) passes `what`
 * ("secret"), the field's `label`, its own `message` (nodes) and
 * `doneLabel`; the defaults are a key's.
 */
export function secretDialog({
  title,
  keyName,
  secret,
  what = "key",
  label = "Your key",
  message = null,
  doneLabel = "I have copied my key — Close",
}) {
  return new Promise((resolve) => {
    const titleId = uid("dialog-title");
    const messageId = uid("dialog-message");
    const fieldId = uid("secret");
    const copyStatus = h("p", { class: "copy-status", role: "status" });
    const field = h("input", {
      id: fieldId,
      class: "secret",
      type: "text",
      readonly: true,
      autocomplete: "off",
      spellcheck: "false",
      "aria-describedby": messageId,
      autofocus: true,
    });
    field.value = secret;
    field.addEventListener("focus", () => field.select());
    const copy = h("button", { type: "button", class: "secondary" }, "Copy");
    const done = h("button", { type: "button", class: "primary" }, doneLabel);
    const dialog = h(
      "dialog",
      { role: "dialog", "aria-modal": "true", "aria-labelledby": titleId, "aria-describedby": messageId, class: "secret-dialog" },
      h("h2", { id: titleId }, title),
      h(
        "p",
        { id: messageId, class: "dialog-message" },
        message ?? [
          "Copy the key for ",
          h("strong", {}, keyName),
          " now and keep it somewhere safe. keyward stores only its hash: this is the only time it is shown.",
        ],
      ),
      h("label", { for: fieldId }, label),
      h("div", { class: "secret-row" }, field, copy),
      copyStatus,
      h("div", { class: "dialog-actions" }, done),
    );
    const returnFocus = document.activeElement;

    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(field.value);
        copyStatus.textContent = "Copied to the clipboard.";
      } catch {
        // No clipboard API here (or no permission): select the text so
        // the user can copy it with the keyboard.
        field.focus();
        field.select();
        const copied = document.execCommand?.("copy");
        copyStatus.textContent = copied
          ? "Copied to the clipboard."
          : `Select the ${what} and copy it with Ctrl+C (⌘C).`;
      }
    });
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      copyStatus.textContent = `Copy the ${what} first, then choose “${doneLabel}”.`;
    });
    // The secret leaves the page at once; "close" fires a task later.
    const forget = () => {
      field.value = "";
      field.remove();
    };
    done.addEventListener("click", () => {
      forget();
      dialog.close();
    });
    dialog.addEventListener("close", () => {
      forget();
      dialog.remove();
      if (returnFocus instanceof HTMLElement && returnFocus.isConnected) returnFocus.focus();
      resolve();
    });

    document.body.append(dialog);
    dialog.showModal();
  });
}

/**
 * Shows `error` next to the field it is about: in `slot`, as an alert the
 * `control` (a field, or a fieldset for a group) names in its
 * aria-describedby, aria-invalid on a field, and focus on `focus` (the
 * control, or the group's first field), inside any closed `<details>`
 * opened. Returns what undoes it, for the next submit.
 */
export function showAtField({ control, slot, focus = control }, error) {
  const block = problemBlock(error);
  block.id = uid("problem");
  slot.replaceChildren(block);
  const describedBy = control.getAttribute("aria-describedby");
  control.setAttribute("aria-describedby", describedBy ? `${describedBy} ${block.id}` : block.id);
  // aria-invalid belongs to fields, not to groups (ARIA 1.2).
  const invalid = !(control instanceof HTMLFieldSetElement);
  if (invalid) control.setAttribute("aria-invalid", "true");
  for (let details = slot.closest("details"); details; details = details.parentElement.closest("details")) {
    details.open = true;
  }
  focus.focus();
  return () => {
    slot.replaceChildren();
    if (describedBy) control.setAttribute("aria-describedby", describedBy);
    else control.removeAttribute("aria-describedby");
    control.removeAttribute("aria-invalid");
  };
}

/** A labelled field: `<label>` + control (+ hint), wired by ids. */
export function field(label, control, hint) {
  const id = control.id || uid("field");
  control.id = id;
  let hintNode = null;
  if (hint) {
    const hintId = uid("hint");
    hintNode = h("p", { id: hintId, class: "hint" }, hint);
    control.setAttribute("aria-describedby", hintId);
  }
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hintNode);
}
