// keyward console: the entry point. Signs in and out, draws the top bar,
// and routes to a page module. Routes live in the fragment (#/applications,
// #/applications/<id>, #/applications/<id>/keys/<key id>, #/notifications,
// #/webhooks, #/webhooks/<id>, #/audit) so the files work from any static
// host.

import { Api } from "./api.js";
import { renderApplications } from "./applications.js";
import { renderAudit } from "./audit.js";
import { renderKey } from "./key.js";
import { renderApplication } from "./keys.js";
import { renderNotifications } from "./notifications.js";
import { ctx, focusHeading, nextRender } from "./page.js";
import { Session, clearSession, lastAccountClaim, lastApi, loadSession, saveSession, takeFragmentToken } from "./session.js";
import { renderSignIn } from "./signin.js";
import { announce, h, problemBlock } from "./ui.js";
import { renderWebhook, renderWebhooks } from "./webhooks.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");

function signIn(session) {
  ctx.session = session;
  ctx.api = new Api(session, {
    onUnauthorized: (problem) => {
      signOut(problem);
    },
  });
  saveSession(session);
}

/** Back to sign-in; `problem` (a 401) says why. Sign-out by the button
 * puts focus on the sign-in heading, since the button is gone; after a
 * 401 the sign-in form focuses the token box itself. */
async function signOut(problem) {
  ctx.session = null;
  ctx.api = null;
  ctx.applicationLimit = null;
  ctx.webhookLimit = null;
  clearSession();
  if (!location.hash.startsWith("#/")) history.replaceState(null, "", "#/applications");
  await render(problem);
  if (!problem) focusHeading();
}

/** The sign-in form's success: the first page, its heading focused (the
 * form's button is gone). */
async function signedInThroughForm(session) {
  signIn(session);
  if (!location.hash.startsWith("#/")) history.replaceState(null, "", "#/applications");
  await render();
  focusHeading();
  announce(`Signed in as ${session.sub}.`);
}

// ---- chrome ------------------------------------------------------------

function renderChrome() {
  const { session } = ctx;
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
      session.has("webhooks:manage") ? h("li", {}, link("webhooks", "Webhooks")) : null,
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
      session.account ? [" · ", h("span", { class: "who-account" }, session.account)] : null,
    ),
    h("button", { type: "button", class: "secondary small", onclick: () => signOut() }, "Sign out"),
  );
}

// ---- routing -------------------------------------------------------------

async function render(problem) {
  nextRender();
  renderChrome();
  if (!ctx.session) {
    renderSignIn(problem, signedInThroughForm);
    return;
  }
  const [, section, id, part, partId] = location.hash.split("/");
  if (section === "applications" && id && part === "keys" && partId) {
    await renderKey(decodeURIComponent(id), decodeURIComponent(partId));
  } else if (section === "applications" && id) {
    await renderApplication(decodeURIComponent(id));
  } else if (section === "webhooks" && id) {
    await renderWebhook(decodeURIComponent(id));
  } else if (section === "webhooks") {
    await renderWebhooks();
  } else if (section === "notifications") {
    await renderNotifications();
  } else if (section === "audit") {
    await renderAudit();
  } else {
    if (section !== "applications") history.replaceState(null, "", "#/applications");
    await renderApplications();
  }
}
ctx.render = render;

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
    signIn(new Session(token, ctx.session?.api ?? lastApi(), ctx.session?.accountClaim ?? lastAccountClaim()));
  } catch (error) {
    ctx.session = null;
    renderChrome();
    renderSignIn(null, signedInThroughForm);
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
    const session = loadSession();
    if (session) signIn(session);
  }
  await render();
}

start();
