//! The data folder is its owner's only (0700), and so are the database and
//! its `-wal` and `-shm` (0600), new or made looser before.

#![cfg(unix)]

use crate::store::sqlite::{SqliteStore, private_folder};
use crate::store::{Store, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Writes through the store, so that the WAL has a frame.
async fn write(store: &SqliteStore) {
    store
        .commit(vec![Write::AccountGuard {
            account: "acct".into(),
            expected: store.account_guard("acct").await.unwrap(),
        }])
        .await
        .unwrap();
}

/// Every file in the folder, with its mode; the database's three at least.
fn modes(folder: &Path) -> Vec<(String, u32)> {
    let mut files: Vec<(String, u32)> = std::fs::read_dir(folder)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            (
                entry.file_name().into_string().unwrap(),
                mode(&entry.path()),
            )
        })
        .collect();
    files.sort();
    let names: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["keyward.db", "keyward.db-shm", "keyward.db-wal"]);
    files
}

#[tokio::test]
async fn a_new_data_folder_and_its_files_are_the_owners_only() {
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("keyward-data");
    private_folder(&data).unwrap();
    let store = SqliteStore::open(&data.join("keyward.db")).unwrap();
    write(&store).await;
    assert_eq!(mode(&data), 0o700);
    for (name, mode) in modes(&data) {
        assert_eq!(mode, 0o600, "{name}");
    }
}

#[tokio::test]
async fn looser_modes_are_tightened_when_the_store_opens() {
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("keyward-data");
    std::fs::create_dir(&data).unwrap();
    set_mode(&data, 0o755);
    let db = data.join("keyward.db");
    // An older version's files: the database, and a WAL and its index left
    // by a store still open.
    std::fs::write(&db, b"").unwrap();
    set_mode(&db, 0o644);
    let first = SqliteStore::open(&db).unwrap();
    write(&first).await;
    for (name, _) in modes(&data) {
        set_mode(&data.join(name), 0o644);
    }
    private_folder(&data).unwrap();
    let second = SqliteStore::open(&db).unwrap();
    write(&second).await;
    assert_eq!(mode(&data), 0o700);
    for (name, mode) in modes(&data) {
        assert_eq!(mode, 0o600, "{name}");
    }
}
