use super::SqliteStore;
use crate::auth::Caller;
use crate::clock::ManualClock;
use crate::config::Config;
use crate::secret::Secret;
use crate::service::{LogPublisher, Service, VerifyRequest, test_support};
use std::sync::Arc;
use wasm_validator::VerdictCode;

fn service(store: SqliteStore) -> Service {
    Service::new(
        Arc::new(store),
        Config::default(),
        Arc::new(ManualClock::new(1_800_000_000)),
        Arc::new(LogPublisher),
    )
}

/// Alice (every permission), an application and a key of hers made
/// through `service`: the key's id and a request that verifies it.
async fn alice_with_a_key(service: &Service) -> (Caller, String, VerifyRequest) {
    let alice = test_support::alice();
    let (_, key) = test_support::app_with_a_key(service, &alice).await;
    let id = key.key.id;
    let request = VerifyRequest {
        key: key.secret,
        scopes: Vec::new(),
    };
    (alice, id, request)
}

/// A writer that knows nothing of this store's cache (another program
/// on the file, here a bare SQLite connection) changes a key this store
/// has just read, and so cached; the next read has the change, and the
/// one after (from the cache again) too.
#[tokio::test]
async fn a_change_by_a_bare_connection_is_seen_through_the_key_cache() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyward.db");
    let store = SqliteStore::open(&path).unwrap();
    assert!(store.key_cache.is_some(), "a database file has the cache");
    let service = service(store.clone());
    let (_, id, request) = alice_with_a_key(&service).await;
    for _ in 0..3 {
        assert_eq!(
            service.verify(&request).await.unwrap().code,
            VerdictCode::Valid
        );
    }
    let cache = store.key_cache.as_ref().unwrap();
    let header = cache.header().expect("a readable WAL index header");
    assert!(
        matches!(cache.get(&header, &id), Some(Some(_))),
        "the key was cached"
    );
    let bare = rusqlite::Connection::open(&path).unwrap();
    for (status, code) in [
        ("disabled", VerdictCode::Disabled),
        ("active", VerdictCode::Valid),
        ("revoked", VerdictCode::Revoked),
    ] {
        let changed = bare
            .execute(
                "UPDATE keys SET item = json_set(item, '$.status', ?2) WHERE id = ?1",
                rusqlite::params![id, status],
            )
            .unwrap();
        assert_eq!(changed, 1);
        for _ in 0..2 {
            assert_eq!(
                service.verify(&request).await.unwrap().code,
                code,
                "{status}"
            );
        }
    }
}

/// Another process on the same folder (`keyward notify-expiring`, a
/// second server) writes through its own connections; this store's
/// reading connection must see each commit on its next read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_by_another_store_on_the_file_is_seen_by_the_next_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyward.db");
    let verifier = service(SqliteStore::open(&path).unwrap());
    let writer = service(SqliteStore::open(&path).unwrap());
    let (alice, id, request) = alice_with_a_key(&writer).await;
    let code = || async { verifier.verify(&request).await.unwrap().code };
    assert_eq!(code().await, VerdictCode::Valid);
    writer.disable_key(&alice, &id, None).await.unwrap();
    assert_eq!(code().await, VerdictCode::Disabled);
    writer.enable_key(&alice, &id, None).await.unwrap();
    assert_eq!(code().await, VerdictCode::Valid);
    writer.revoke_key(&alice, &id, None).await.unwrap();
    assert_eq!(code().await, VerdictCode::Revoked);
}

mod cursors;
mod files;
mod meter;

/// A well-formed key whose id no key has (yet): its id and whole key.
fn unknown_key(prefix: &str, seed: u8) -> (String, String) {
    wasm_validator::key::format_key(prefix, &[seed; 16], &[seed; 32])
}

fn request_for(key: &str) -> VerifyRequest {
    VerifyRequest {
        key: Secret::new(key.to_owned()),
        scopes: Vec::new(),
    }
}

/// A key item like `template`'s, under another id and hash: what a key
/// made for `whole_key` would be.
fn key_like(template: &crate::domain::Key, id: &str, whole_key: &str) -> crate::domain::Key {
    let mut key = template.clone();
    key.id = id.to_owned();
    key.hash = wasm_validator::key::to_hex(&wasm_validator::key::hash_key(whole_key));
    key.version = 0;
    key
}

/// An unknown id costs what a known id with a wrong secret does: after the
/// first read, both are answered from the cache without reading SQLite. A
/// key created afterwards under a cached unknown id, by another connection
/// or another store on the file, verifies at once.
#[tokio::test]
async fn unknown_ids_are_cached_exactly_like_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyward.db");
    let store = SqliteStore::open(&path).unwrap();
    let service = service(store.clone());
    let (_, id, request) = alice_with_a_key(&service).await;
    // The key's id with another secret, well formed (checksum and all).
    let (prefix, body) = request.key.expose().split_once('_').unwrap();
    let id_bytes = wasm_validator::base62::decode(&body[..22], 16).unwrap();
    let (same_id, wrong_secret) =
        wasm_validator::key::format_key(prefix, &id_bytes.try_into().unwrap(), &[1; 32]);
    assert_eq!(same_id, id);
    let wrong_secret = request_for(&wrong_secret);
    let (unknown_id, unknown) = unknown_key(prefix, 7);
    let (later_id, later) = unknown_key(prefix, 8);
    let (unknown, later) = (request_for(&unknown), request_for(&later));

    for probe in [&wrong_secret, &unknown, &later] {
        let before = store.key_reads();
        for _ in 0..5 {
            assert_eq!(
                service.verify(probe).await.unwrap().code,
                VerdictCode::NotFound
            );
        }
        assert_eq!(
            store.key_reads() - before,
            1,
            "one SQLite read, then the cache"
        );
    }
    let cache = store.key_cache.as_ref().unwrap();
    let header = cache.header().unwrap();
    assert!(matches!(cache.get(&header, &unknown_id), Some(None)));
    assert!(matches!(cache.get(&header, &id), Some(Some(_))));

    // A bare connection (another program) inserts a key under the first
    // cached unknown id; another store on the file, the second.
    let template = crate::store::Store::get_key(&store, &id)
        .await
        .unwrap()
        .unwrap();
    let made = key_like(&template, &unknown_id, unknown.key.expose());
    let bare = rusqlite::Connection::open(&path).unwrap();
    bare.execute(
        "INSERT INTO keys (id, application_id, account, expires_at, version, ttl, item)
         VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6)",
        rusqlite::params![
            made.id,
            made.application_id,
            made.account,
            made.expires_at,
            made.ttl,
            serde_json::to_string(&made).unwrap()
        ],
    )
    .unwrap();
    assert_eq!(
        service.verify(&unknown).await.unwrap().code,
        VerdictCode::Valid
    );
    let other = SqliteStore::open(&path).unwrap();
    let write = crate::store::Write::Key {
        item: key_like(&template, &later_id, later.key.expose()),
        expected: None,
    };
    crate::store::Store::commit(&other, vec![write])
        .await
        .unwrap();
    assert_eq!(
        service.verify(&later).await.unwrap().code,
        VerdictCode::Valid
    );
}

/// At its bound the cache empties, known and unknown ids alike: after a
/// flood of random ids each costs one SQLite read again, the same for both.
#[tokio::test]
async fn a_flood_of_unknown_ids_empties_the_cache_for_both_kinds_alike() {
    use crate::store::Store;
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("keyward.db")).unwrap();
    let (_, id, _) = alice_with_a_key(&service(store.clone())).await;
    let (unknown_id, _) = unknown_key("kw", 7);
    let cached = |id: &str| {
        let cache = store.key_cache.as_ref().unwrap();
        cache.get(&cache.header().unwrap(), id).is_some()
    };
    store.get_key(&id).await.unwrap().unwrap();
    assert!(store.get_key(&unknown_id).await.unwrap().is_none());
    assert!(cached(&id) && cached(&unknown_id));
    let before = store.key_reads();
    let flood = super::key_cache::KEY_CACHE_ITEMS - 1;
    for i in 0..flood {
        let id = wasm_validator::key::encode_key_id(&(i as u128).to_be_bytes());
        assert!(store.get_key(&id).await.unwrap().is_none());
    }
    assert_eq!(store.key_reads() - before, flood as u64);
    assert!(!cached(&id) && !cached(&unknown_id), "both emptied at once");
    let before = store.key_reads();
    store.get_key(&id).await.unwrap().unwrap();
    assert!(store.get_key(&unknown_id).await.unwrap().is_none());
    assert_eq!(store.key_reads() - before, 2, "one read each, then cached");
    assert!(cached(&id) && cached(&unknown_id));
}

#[test]
fn sqlite_errors_keep_their_cause() {
    use crate::store::StoreError;
    use std::error::Error;
    let busy =
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY), None);
    let unavailable = StoreError::from(busy);
    assert!(matches!(unavailable, StoreError::Unavailable { .. }));
    let failed = StoreError::from(rusqlite::Error::InvalidQuery);
    assert!(matches!(failed, StoreError::Internal { .. }));
    for error in [unavailable, failed] {
        let source = error.source().expect("the SQLite error");
        assert!(
            source.downcast_ref::<rusqlite::Error>().is_some(),
            "{error}"
        );
    }
}
