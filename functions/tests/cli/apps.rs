//! `keyward apps …`: every verb's table and `--json`, and lists that take
//! more than one page.

use crate::harness::{Setup, detail, has_detail, items, row, table};

#[test]
fn apps_create_get_update_and_revoke_print_the_application() {
    let s = Setup::start();
    let out = s.cli.ok(&[
        "apps",
        "create",
        "--name",
        "Billing",
        "--description",
        "Invoices",
        "--prefix",
        "acme",
    ]);
    let id = detail(&out, "id");
    assert!(id.starts_with("app_"), "{out}");
    assert_eq!(detail(&out, "name"), "Billing");
    assert_eq!(detail(&out, "description"), "Invoices");
    assert_eq!(detail(&out, "key prefix"), "acme");
    assert_eq!(detail(&out, "status"), "active");
    assert_eq!(detail(&out, "owner"), "alice");
    assert!(!has_detail(&out, "revoked"), "no revocation yet:\n{out}");

    let app = s.cli.json(&["apps", "create", "--name", "Search"]);
    assert_eq!(app["name"], "Search");
    assert_eq!(app["key_prefix"], "kw", "the default prefix");
    assert_eq!(app["created_by"], "alice");

    let out = s.cli.ok(&["apps", "get", &id]);
    assert_eq!(detail(&out, "id"), id);
    assert_eq!(detail(&out, "name"), "Billing");
    let got = s.cli.json(&["apps", "get", &id]);
    assert_eq!(got["id"], id.as_str());
    assert_eq!(got["description"], "Invoices");

    let out = s.cli.ok(&["apps", "update", &id, "--name", "Invoicing"]);
    assert_eq!(detail(&out, "name"), "Invoicing");
    assert_eq!(detail(&out, "description"), "Invoices", "unchanged");
    let updated = s
        .cli
        .json(&["apps", "update", &id, "--description", "Bills"]);
    assert_eq!(updated["name"], "Invoicing");
    assert_eq!(updated["description"], "Bills");

    let out = s.cli.ok(&["apps", "revoke", &id]);
    assert_eq!(detail(&out, "status"), "revoked");
    assert!(has_detail(&out, "revoked"), "{out}");
    let search = app["id"].as_str().unwrap();
    let revoked = s.cli.json(&["apps", "revoke", search, "--yes"]);
    assert_eq!(revoked["status"], "revoked");
    assert!(revoked["revoked_at"].is_string());
}

#[test]
fn apps_list_is_a_table_or_the_json_list() {
    let s = Setup::start();
    assert_eq!(s.cli.ok(&["apps", "list"]).trim(), "No applications.");
    let empty = s.cli.json(&["apps", "list"]);
    assert!(items(&empty).is_empty());
    assert!(empty["next_cursor"].is_null());

    let billing = s.app("Billing");
    let search = s.app("Search");
    let out = s.cli.ok(&["apps", "list"]);
    let rows = table(&out);
    assert_eq!(rows[0], ["ID", "NAME", "PREFIX", "STATUS", "CREATED"]);
    assert_eq!(rows.len(), 3, "{out}");
    let first = row(&out, &billing);
    assert_eq!(first["NAME"], "Billing");
    assert_eq!(first["PREFIX"], "kw");
    assert_eq!(first["STATUS"], "active");
    assert_eq!(row(&out, &search)["NAME"], "Search");

    let list = s.cli.json(&["apps", "list"]);
    // The API's order: by creation time, then id (two made in one second
    // come by id).
    let order: Vec<(String, String)> = items(&list)
        .iter()
        .map(|a| {
            (
                a["created_at"].as_str().unwrap().to_owned(),
                a["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted, "in the API's order");
    let mut ids: Vec<&str> = order.iter().map(|(_, id)| id.as_str()).collect();
    ids.sort();
    let mut made = [billing.as_str(), search.as_str()];
    made.sort();
    assert_eq!(ids, made);
    assert!(list["next_cursor"].is_null());

    let one = s.cli.json(&["apps", "list", "--limit", "1"]);
    assert_eq!(items(&one).len(), 1);
    assert!(one["next_cursor"].is_string(), "more to come: {one}");
}

#[test]
fn apps_list_fetches_every_page() {
    // More applications than the API's largest page (100).
    let s = Setup::start_with(&[("KEYWARD_MAX_ACTIVE_APPLICATIONS", "200")]);
    let names: Vec<String> = (0..103).map(|i| format!("app-{i:03}")).collect();
    std::thread::scope(|scope| {
        for part in names.chunks(26) {
            let s = &s;
            scope.spawn(move || {
                for name in part {
                    s.cli.ok(&["apps", "create", "--name", name]);
                }
            });
        }
    });
    let all = s.cli.json(&["apps", "list"]);
    let mut listed: Vec<String> = items(&all)
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed.len(), 103, "two pages, every item once");
    listed.sort();
    assert_eq!(listed, names);
    assert!(all["next_cursor"].is_null());
    assert_eq!(table(&s.cli.ok(&["apps", "list"])).len(), 104);

    let some = s.cli.json(&["apps", "list", "--limit", "101"]);
    assert_eq!(items(&some).len(), 101, "across the page boundary");
    assert!(some["next_cursor"].is_string());
}
