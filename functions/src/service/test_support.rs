//! What the crate's unit tests build the same way: an administrator and
//! an application with one key, made through the service as a user would.

use super::{CreateApplication, CreateKey, CreatedKey, Service};
use crate::auth::{Caller, perm};
use crate::domain::ApplicationView;

/// Alice, of account `acct`, with every permission and MFA.
pub fn alice() -> Caller {
    Caller {
        user_id: "alice".into(),
        account: "acct".into(),
        permissions: perm::ALL.iter().map(|p| p.to_string()).collect(),
        mfa: true,
    }
}

/// Application `app` and key `k` (no scopes, the default expiry), made by
/// `caller` through `service`.
pub async fn app_with_a_key(service: &Service, caller: &Caller) -> (ApplicationView, CreatedKey) {
    let app = service
        .create_application(
            caller,
            &CreateApplication {
                name: "app".into(),
                description: String::new(),
                key_prefix: None,
            },
            None,
        )
        .await
        .unwrap();
    let key = service
        .create_key(
            caller,
            &app.id,
            &CreateKey {
                name: "k".into(),
                description: String::new(),
                scopes: Vec::new(),
                expires_at: None,
            },
            None,
        )
        .await
        .unwrap();
    (app, key)
}
