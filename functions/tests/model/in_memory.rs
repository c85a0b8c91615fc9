//! The in-memory model: the rules stated again, plainly and independently
//! of the service's code, and what each operation should answer.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    Disabled,
    Revoked,
    Expired,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Disabled => "disabled",
            Status::Revoked => "revoked",
            Status::Expired => "expired",
        }
    }
}

#[derive(Debug)]
pub struct ModelApp {
    pub id: String,
    pub account: &'static str,
    pub created_by: User,
    pub revoked: bool,
    pub owner_deleted: bool,
}

#[derive(Debug)]
pub struct ModelKey {
    pub id: String,
    pub secret: String,
    pub app: usize,
    pub account: &'static str,
    pub created_by: User,
    pub scopes: &'static [&'static str],
    pub expires_at: i64,
    pub disabled: bool,
    /// Revoked by a revoke, a regenerate without grace, or its application's
    /// revocation.
    pub revoked: bool,
    /// End of the grace period after a regenerate with grace.
    pub grace_end: Option<i64>,
    /// The key that replaced it (an index into `Model::keys`).
    pub replaced_by: Option<usize>,
    /// Marked when its application was revoked while the key was live.
    pub app_revoked: bool,
    /// Marked when its creator or its application's creator was offboarded
    /// while the key was live.
    pub owner_deleted: bool,
    /// Its rate limit and credits.
    pub meter: ModelMeter,
}

pub type Outcome = Result<u16, &'static str>;

pub struct Model {
    pub now: i64,
    pub limit: usize,
    pub apps: Vec<ModelApp>,
    pub keys: Vec<ModelKey>,
    pub offboarded: BTreeSet<(&'static str, User)>,
}

impl Model {
    pub fn status(&self, key: &ModelKey) -> Status {
        if key.revoked || key.grace_end.is_some_and(|end| end <= self.now) {
            Status::Revoked
        } else if key.expires_at <= self.now {
            Status::Expired
        } else if key.disabled {
            Status::Disabled
        } else {
            Status::Active
        }
    }

    pub fn live(&self, key: &ModelKey) -> bool {
        matches!(self.status(key), Status::Active | Status::Disabled)
    }

    /// Active or disabled and unexpired, except a key in its grace period
    /// while a key down its chain of replacements is live (that one holds
    /// its place).
    pub fn counted(&self, app: usize) -> usize {
        let has_live_successor = |key: &ModelKey| {
            let mut next = key.replaced_by;
            while let Some(r) = next {
                if self.live(&self.keys[r]) {
                    return true;
                }
                next = self.keys[r].replaced_by;
            }
            false
        };
        self.keys
            .iter()
            .filter(|k| k.app == app && self.live(k) && !has_live_successor(k))
            .count()
    }

    pub fn active_apps(&self, account: &str) -> usize {
        self.apps
            .iter()
            .filter(|a| a.account == account && !a.revoked)
            .count()
    }

    /// Precedence: application revoked, owner deleted, revoked, expired,
    /// disabled, scopes.
    pub fn verdict(&self, key: &ModelKey, required: &[&str]) -> &'static str {
        if key.app_revoked {
            return "APPLICATION_REVOKED";
        }
        if key.owner_deleted {
            return "OWNER_DELETED";
        }
        match self.status(key) {
            Status::Revoked => "REVOKED",
            Status::Expired => "EXPIRED",
            Status::Disabled => "DISABLED",
            Status::Active => {
                let granted = |r: &str| {
                    key.scopes
                        .iter()
                        .any(|g| *g == r || (*g == "sims:*" && r.starts_with("sims:")))
                };
                if required.iter().all(|r| granted(r)) {
                    "VALID"
                } else {
                    "INSUFFICIENT_SCOPE"
                }
            }
        }
    }

    /// A verification of key `k` at `cost`: the verdict, then for a metered
    /// key that passed it, the counters (which a `VALID` answer moves).
    pub fn verify(&mut self, k: usize, required: &[&str], cost: u64) -> &'static str {
        let now = self.now;
        match self.verdict(&self.keys[k], required) {
            "VALID" if self.keys[k].meter.is_metered() => self.keys[k].meter.verify(now, cost),
            verdict => verdict,
        }
    }

    /// A PATCH of the key's credits: allowed on any key not revoked.
    pub fn expect_patch(&self, by: User, key: Option<usize>) -> Result<usize, &'static str> {
        let i = self.key_for(by, key)?;
        if self.status(&self.keys[i]) == Status::Revoked {
            return Err("KEY_REVOKED");
        }
        Ok(i)
    }

    pub fn pick_app(&self, app: &Ref, by: User) -> Option<usize> {
        app.resolve(by, self.apps.iter().map(|a| a.account))
    }

    pub fn pick_key(&self, key: &Ref, by: User) -> Option<usize> {
        key.resolve(by, self.keys.iter().map(|k| k.account))
    }

    pub fn offboarded(&self, user: User) -> bool {
        self.offboarded.contains(&(user.account(), user))
    }

    /// The caller's application (404 for a missing or foreign one).
    pub fn app_for(&self, by: User, app: Option<usize>) -> Result<usize, &'static str> {
        match app {
            Some(i) if self.apps[i].account == by.account() => Ok(i),
            _ => Err("APPLICATION_NOT_FOUND"),
        }
    }

    /// The caller's key, and the `any`/`own` permission on its application.
    pub fn key_for(&self, by: User, key: Option<usize>) -> Result<usize, &'static str> {
        let i = match key {
            Some(i) if self.keys[i].account == by.account() => i,
            _ => return Err("KEY_NOT_FOUND"),
        };
        if !by.is_admin() && self.apps[self.keys[i].app].created_by != by {
            return Err("PERMISSION_DENIED");
        }
        Ok(i)
    }

    pub fn expect_create_app(&self, by: User) -> Outcome {
        if self.offboarded(by) {
            return Err("USER_OFFBOARDED");
        }
        if self.active_apps(by.account()) >= self.limit {
            return Err("APPLICATION_LIMIT_REACHED");
        }
        Ok(201)
    }

    pub fn expect_create_key(
        &self,
        by: User,
        app: Option<usize>,
        expiry: Expiry,
        scopes: &[&str],
    ) -> Result<i64, &'static str> {
        let app = self.app_for(by, app)?;
        if !by.is_admin() && self.apps[app].created_by != by {
            return Err("PERMISSION_DENIED");
        }
        if self.offboarded(by) {
            return Err("USER_OFFBOARDED");
        }
        if !by.may_grant(scopes) {
            return Err("SCOPE_NOT_HELD");
        }
        let expires_at = expiry.resolve(self.now)?;
        if self.apps[app].revoked {
            return Err("APPLICATION_REVOKED");
        }
        if self.apps[app].owner_deleted {
            return Err("OWNER_DELETED");
        }
        if self.counted(app) >= self.limit {
            return Err("KEY_LIMIT_REACHED");
        }
        Ok(expires_at)
    }

    pub fn expect_toggle(&self, by: User, key: Option<usize>) -> Result<usize, &'static str> {
        let i = self.key_for(by, key)?;
        match self.status(&self.keys[i]) {
            Status::Revoked => Err("KEY_REVOKED"),
            Status::Expired => Err("KEY_EXPIRED"),
            Status::Active | Status::Disabled => Ok(i),
        }
    }

    pub fn expect_regenerate(
        &self,
        by: User,
        key: Option<usize>,
        grace: Option<i64>,
        expiry: Expiry,
    ) -> Result<(usize, i64), &'static str> {
        let i = self.key_for(by, key)?;
        let old = &self.keys[i];
        if self.offboarded(by) {
            return Err("USER_OFFBOARDED");
        }
        // A user cannot grant what it does not hold, by regenerating either.
        if !by.may_grant(old.scopes) {
            return Err("SCOPE_NOT_HELD");
        }
        if !(0..=MAX_GRACE).contains(&grace.unwrap_or(0)) {
            return Err("INVALID_GRACE_PERIOD");
        }
        let expires_at = expiry.resolve(self.now)?;
        match self.status(old) {
            Status::Revoked => return Err("KEY_REVOKED"),
            Status::Expired => return Err("KEY_EXPIRED"),
            Status::Disabled => return Err("KEY_DISABLED"),
            Status::Active => {}
        }
        if old.replaced_by.is_some() {
            return Err("KEY_ALREADY_REGENERATED");
        }
        if self.apps[old.app].revoked {
            return Err("APPLICATION_REVOKED");
        }
        if self.apps[old.app].owner_deleted || old.owner_deleted {
            return Err("OWNER_DELETED");
        }
        Ok((i, expires_at))
    }

    pub fn revoke_app(&mut self, app: usize) {
        if self.apps[app].revoked {
            return;
        }
        self.apps[app].revoked = true;
        for k in 0..self.keys.len() {
            if self.keys[k].app == app && self.live(&self.keys[k]) {
                self.keys[k].revoked = true;
                self.keys[k].app_revoked = true;
            }
        }
    }

    /// Marks what offboarding `target` in `account` marks; returns how many
    /// applications and keys.
    pub fn offboard(&mut self, account: &'static str, target: User) -> (usize, usize) {
        self.offboarded.insert((account, target));
        let mut apps = 0;
        for app in &mut self.apps {
            if app.account == account && app.created_by == target && !app.owner_deleted {
                app.owner_deleted = true;
                apps += 1;
            }
        }
        let mut keys = 0;
        for k in 0..self.keys.len() {
            let key = &self.keys[k];
            let owned = key.created_by == target || self.apps[key.app].created_by == target;
            if key.account == account && owned && !key.owner_deleted && self.live(key) {
                self.keys[k].owner_deleted = true;
                keys += 1;
            }
        }
        (apps, keys)
    }
}
