//! Who acts: three users in two accounts, with their permissions.

use super::*;

/// Two accounts. Alice and Carol hold every permission in theirs; Bob holds
/// only the `own` key permissions and may grant only `sims:read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum User {
    Alice,
    Bob,
    Carol,
}

pub const USERS: [User; 3] = [User::Alice, User::Bob, User::Carol];
pub const ACCOUNTS: [&str; 2] = ["acme", "globex"];

impl User {
    pub fn id(self) -> &'static str {
        match self {
            User::Alice => "alice",
            User::Bob => "bob",
            User::Carol => "carol",
        }
    }

    pub fn account(self) -> &'static str {
        match self {
            User::Alice | User::Bob => "acme",
            User::Carol => "globex",
        }
    }

    /// Holds `applications:view|revoke`, `users:offboard` and the `any` key
    /// permissions.
    pub fn is_admin(self) -> bool {
        self != User::Bob
    }

    pub fn may_grant(self, scopes: &[&str]) -> bool {
        self.is_admin() || scopes.iter().all(|s| *s == "sims:read")
    }

    pub fn admin_of(account: &str) -> User {
        if account == "acme" {
            User::Alice
        } else {
            User::Carol
        }
    }

    pub fn caller(self) -> Caller {
        let permissions: Vec<String> = if self.is_admin() {
            fixtures::all_permissions()
        } else {
            "applications:create keys:view:own keys:create:own keys:edit:own keys:revoke:own sims:read"
                .split(' ')
                .map(str::to_owned)
                .collect()
        };
        Caller {
            user_id: self.id().into(),
            account: self.account().into(),
            permissions,
            mfa: false,
        }
    }
}
