//! The callers and inputs the test suites share: an administrator with
//! every permission, and the standard application and key to create.
//!
//! A suite that needs a variant says only what differs, with struct update
//! syntax (`Caller { mfa: true, ..admin("alice", "acme") }`), so the
//! defaults live here once.

#![allow(dead_code)] // each test target uses part of it

use keyward::auth::{Caller, perm};
use keyward::service::{CreateApplication, CreateKey};

/// Every management permission (what `keyward token --all` grants) plus
/// `sims:*`, so that keys can be given `sims:` scopes.
pub fn all_permissions() -> Vec<String> {
    perm::ALL
        .iter()
        .map(|p| p.to_string())
        .chain(["sims:*".to_owned()])
        .collect()
}

/// A user of `account` holding [`all_permissions`], signed in without MFA.
pub fn admin(user: &str, account: &str) -> Caller {
    Caller {
        user_id: user.into(),
        account: account.into(),
        permissions: all_permissions(),
        mfa: false,
    }
}

/// An application named `name`, with no description and the default key
/// prefix.
pub fn application(name: &str) -> CreateApplication {
    CreateApplication {
        name: name.into(),
        description: String::new(),
        key_prefix: None,
    }
}

/// A key named `name` with the scope `sims:read` and the default validity.
pub fn key(name: &str) -> CreateKey {
    CreateKey {
        name: name.into(),
        description: String::new(),
        scopes: vec!["sims:read".into()],
        expires_at: None,
    }
}
