//! `keyward serve --store dynamodb`: servers sharing one table (as
//! containers would), and `keyward dynamodb create-table`.

use crate::harness::Server;
use crate::local_server;
use crate::moto;
use serde_json::json;

fn dynamodb_env(table: &str) -> Vec<(String, String)> {
    local_server::dynamodb_env(&moto::endpoint(), table)
}

#[tokio::test]
async fn servers_on_one_dynamodb_table_see_each_others_changes() {
    if !moto::available() {
        return;
    }
    let (_, table) = moto::table().await;
    let env = dynamodb_env(&table);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (a, b) = (Server::start_with(&env), Server::start_with(&env));
    let admin = a.admin("alice", "acme");
    let app = a.create_app(&admin, "shop").await;
    let key = a.create_named_key(&admin, &app, "k").await;
    assert_eq!(b.verdict(&key.secret).await, "VALID");
    b.post_empty(&admin, &format!("/keys/{}/disable", key.id))
        .await
        .ok(200);
    assert_eq!(a.verdict(&key.secret).await, "DISABLED");
    let listed = b.get(&admin, &format!("/applications/{app}/keys")).await;
    assert_eq!(listed.ok(200)["items"][0]["status"], "disabled");
    let audit = a.get(&admin, "/audit").await;
    let actions: Vec<&str> = audit.ok(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["key.disabled", "key.created", "application.created"]
    );
    // The limit holds across the servers: ten keys, then 409 on either.
    for n in 1..10 {
        let server = if n % 2 == 0 { &a } else { &b };
        server
            .create_named_key(&admin, &app, &format!("k{n}"))
            .await;
    }
    b.post(
        &admin,
        &format!("/applications/{app}/keys"),
        json!({"name": "eleventh"}),
    )
    .await
    .problem(409, "KEY_LIMIT_REACHED");
    assert!(!a.log().contains(&key.secret));
}

#[tokio::test]
async fn create_table_makes_the_templates_table_and_serve_needs_shared_secrets() {
    if !moto::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let table = moto::unique("made-by-cli");
    let env = dynamodb_env(&table);
    let made = local_server::command(dir.path(), &env)
        .args(["dynamodb", "create-table", "--table", &table])
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let described = moto::dynamodb()
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let description = described.table().unwrap();
    assert_eq!(
        description
            .stream_specification()
            .and_then(|s| s.stream_view_type())
            .map(|v| v.as_str()),
        Some("NEW_IMAGE")
    );
    assert_eq!(description.global_secondary_indexes().len(), 1);
    // Without the sealing key every server must share, serve refuses.
    let mut without = env.clone();
    without.retain(|(name, _)| name != "KEYWARD_WEBHOOK_SEALING_KEY");
    let refused = local_server::command(dir.path(), &without)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("KEYWARD_WEBHOOK_SEALING_KEY"));
    // A table that does not exist: a clear error naming the way to make it.
    let mut missing = env.clone();
    missing.retain(|(name, _)| name != "KEYWARD_TABLE");
    missing.push(("KEYWARD_TABLE".into(), moto::unique("missing")));
    let refused = local_server::command(dir.path(), &missing)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("dynamodb create-table"));
}
