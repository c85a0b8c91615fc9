// The Notifications page: the expiry notices of the keys the user created.

import { seg } from "./api.js";
import { ctx, loadPage, setPage } from "./page.js";
import { h, when } from "./ui.js";

export async function renderNotifications() {
  const notices = await loadPage("Notifications", () => ctx.api.listAll("/notifications"));
  if (!notices) return;
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
