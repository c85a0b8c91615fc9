// The Notifications page: the notices about the keys the user created, by
// `kind`: expiring soon (one a day), found leaked (once, with where), and
// to be disabled for being unused (a week ahead; `day` is the disable's).

import { seg } from "./api.js";
import { keyHref } from "./keys.js";
import { ctx, loadPage, setPage } from "./page.js";
import { externalLink, h, when } from "./ui.js";

const dayFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeZone: "UTC" });

/** A `<time>` for a UTC day (`YYYY-MM-DD`), as the day itself. */
function utcDay(day) {
  const date = new Date(`${day}T00:00:00Z`);
  if (Number.isNaN(date.getTime())) return h("span", {}, day);
  return h("time", { datetime: day, title: `${day} (UTC)` }, dayFormat.format(date));
}

/** The notice's sentence, by its kind (none is an expiry notice, as from
 * a server before kinds). */
function noticeText(n) {
  const name = h("strong", {}, n.key_name);
  if (n.kind === "leaked") {
    return [
      "Key ",
      name,
      " was found leaked",
      n.url ? [" at ", externalLink(n.url)] : null,
      ". ",
      h("a", { href: keyHref(n.application_id, n.key_id) }, "Open the key"),
    ];
  }
  if (n.kind === "dormant") {
    return [
      "Key ",
      name,
      " will be disabled on ",
      utcDay(n.day),
      " (unused). Use it before then to keep it working, or delete it if nothing needs it.",
    ];
  }
  return [name, n.days_left <= 1 ? " expires within a day" : ` expires in ${n.days_left} days`, " (", when(n.expires_at), ")."];
}

export async function renderNotifications() {
  const notices = await loadPage("Notifications", () => ctx.api.listAll("/notifications"));
  if (!notices) return;
  const intro = h(
    "p",
    { class: "lead" },
    "keyward notifies a key's creator once a day while the key is about to expire, once when it is found leaked, and a week before it is disabled for being unused.",
  );
  const body = notices.length
    ? h(
        "ul",
        { class: "notices" },
        notices.map((n) =>
          h(
            "li",
            { class: `card notice-item notice-${n.kind ?? "expiring"}`, "data-notice-id": n.id },
            h("p", {}, noticeText(n)),
            h(
              "p",
              { class: "hint" },
              "Notice of ",
              // A dormant notice's day is the disable's; it was sent when made.
              n.kind === "dormant" ? (n.created_at ?? "").slice(0, 10) : n.day,
              " · ",
              h("a", { href: `#/applications/${seg(n.application_id)}` }, "Open its application"),
            ),
          ),
        ),
      )
    : h("p", { class: "empty" }, "No notices.");
  setPage("Notifications", intro, body);
}
