//! Several OS processes debiting one key at once: this test binary run
//! again as workers.

use super::{T, accepted, controls, create, credits, limit, meter, moto, race, used};
use keyward::store::dynamodb::DynamoStore;
use keyward::usage::Balance;

/// The environment variable that makes [`debit_worker`] a worker: `<table>
/// <key id> <debits> <now>`.
const WORKER: &str = "KEYWARD_METERING_WORKER";

/// Not a test on its own: the body of the child processes of
/// [`debits_from_several_processes_accept_exactly_the_limit`], which runs
/// this binary again with [`WORKER`] set. Prints how many debits it had
/// accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debit_worker() {
    let Ok(spec) = std::env::var(WORKER) else {
        return;
    };
    let parts: Vec<&str> = spec.split(' ').collect();
    let [table, id, debits, now] = parts[..] else {
        panic!("{WORKER}: <table> <key id> <debits> <now>, not {spec:?}");
    };
    let store = DynamoStore::new(moto::dynamodb(), table);
    let refusals = race(&store, id, debits.parse().unwrap(), now.parse().unwrap()).await;
    println!("accepted={}", accepted(&refusals));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debits_from_several_processes_accept_exactly_the_limit() {
    if !moto::available() {
        return;
    }
    let (client, table) = moto::table().await;
    let store = DynamoStore::new(client, &table);
    // The limit binds (100 of 240), and the credits move with it.
    let usage = controls(vec![limit("minute", 100, 60)], credits(150));
    let balance = Balance {
        remaining: 150,
        period: 0,
    };
    let id = create(&store, usage, Some(balance)).await;
    let children: Vec<_> = (0..4)
        .map(|_| {
            std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "processes::debit_worker",
                    "--exact",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(WORKER, format!("{table} {id} 60 {T}"))
                .env("KEYWARD_TEST_DYNAMODB_ENDPOINT", moto::endpoint())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut total = 0;
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "a worker failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line = stdout
            .lines()
            .find_map(|l| l.split_once("accepted=").map(|(_, n)| n.trim()))
            .unwrap_or_else(|| panic!("no count from a worker: {stdout}"));
        total += line.parse::<usize>().unwrap();
    }
    assert_eq!(total, 100);
    let counted = meter(&store, &id).await;
    assert_eq!(used(&counted, "minute", T / 60), Some(100));
    assert_eq!(counted.credits.unwrap().remaining, 50);
}
