// The sign-in page: a bearer token, and for a console hosted away from its
// API, the API's address and the name of the account claim.

import { Api } from "./api.js";
import { Session, configuredAccountClaim, lastAccountClaim, lastApi } from "./session.js";
import { field, h, problemBlock } from "./ui.js";

const main = document.getElementById("main");

/** Shows the form (with `problem`, why the last session ended, if any);
 * `onSignedIn(session)` runs once the API has accepted the token. */
export function renderSignIn(problem, onSignedIn) {
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
  const claimInput = h("input", {
    name: "account_claim",
    autocomplete: "off",
    spellcheck: "false",
    value: lastAccountClaim(),
  });
  const errorArea = h("div", {}, problem ? problemBlock(problem) : null);
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  const customised = lastApi() !== "" || lastAccountClaim() !== configuredAccountClaim();
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
      { open: customised ? true : null },
      h("summary", {}, "API address and account claim"),
      field(
        "API base URL",
        apiInput,
        "Leave empty when this console is served by the API (keyward serve). Set it when the console is hosted elsewhere, e.g. https://abc123.execute-api.eu-west-1.amazonaws.com.",
      ),
      field(
        "Account claim",
        claimInput,
        "The token claim that names your account: the API's KEYWARD_ACCOUNT_CLAIM (keyward serve fills this in; default account).",
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
      candidate = new Session(token.value.trim().replace(/^Bearer\s+/i, ""), apiInput.value, claimInput.value);
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
    await onSignedIn(candidate);
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
