//! The checks after every operation and at the end of a case: every list,
//! count, limit and verdict against the model.

use super::*;

impl Runner<'_> {
    pub fn check_reply_status(
        &self,
        result: &Result<KeyView, ApiError>,
        key: usize,
        what: &str,
    ) -> Result<(), TestCaseError> {
        let expected = self.model.status(&self.model.keys[key]).name();
        let status = result
            .as_ref()
            .map(|view| serde_json::to_value(view.status).unwrap_or_default());
        ensure!(
            status.as_ref().is_ok_and(|s| s == expected),
            "{what}: the answer's status is not {expected}: {status:?}"
        );
        Ok(())
    }

    pub async fn list_keys(&self, app: &ModelApp) -> Result<Vec<Value>, TestCaseError> {
        let caller = User::admin_of(app.account).caller();
        let mut items = Vec::new();
        let mut cursor = None;
        loop {
            let query = PageQuery {
                limit: Some(self.page),
                cursor,
            };
            let page = self
                .sut
                .service
                .list_keys(&caller, &app.id, &query)
                .await
                .map_err(|e| TestCaseError::fail(format!("list_keys: {e:?}")))?;
            items.extend(page.items.iter().map(|k| serde_json::to_value(k).unwrap()));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(items),
            }
        }
    }

    pub async fn list_apps(&self, user: User) -> Result<BTreeSet<String>, TestCaseError> {
        let mut ids = BTreeSet::new();
        let mut cursor = None;
        loop {
            let query = PageQuery {
                limit: Some(self.page),
                cursor,
            };
            let page = self
                .sut
                .service
                .list_applications(&user.caller(), &query)
                .await
                .map_err(|e| TestCaseError::fail(format!("list_applications: {e:?}")))?;
            ids.extend(page.items.into_iter().map(|a| a.id));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(ids),
            }
        }
    }

    /// Lists, counts, limits and every secret's verdict against the model.
    pub async fn check(&mut self, step: usize) -> Result<(), TestCaseError> {
        let model = &self.model;
        for user in USERS {
            let expected: BTreeSet<String> = model
                .apps
                .iter()
                .filter(|a| a.account == user.account() && !a.revoked)
                .filter(|a| user.is_admin() || a.created_by == user)
                .map(|a| a.id.clone())
                .collect();
            let listed = self.list_apps(user).await?;
            ensure!(
                listed == expected,
                "applications listed for {user:?}: {listed:?}, the model has {expected:?}"
            );
        }
        for account in ACCOUNTS {
            let active = model.active_apps(account);
            ensure!(
                active <= model.limit,
                "{account} has {active} active applications, over the limit {}",
                model.limit
            );
        }
        for (a, app) in model.apps.iter().enumerate() {
            // id → (status, id of the key that replaced it)
            let listed: BTreeMap<String, (String, Option<String>)> = self
                .list_keys(app)
                .await?
                .into_iter()
                .map(|k| {
                    let id = k["id"].as_str().unwrap_or_default().to_owned();
                    let status = k["status"].as_str().unwrap_or_default().to_owned();
                    let replaced_by = k["replaced_by"].as_str().map(str::to_owned);
                    (id, (status, replaced_by))
                })
                .collect();
            let expected: BTreeMap<String, (String, Option<String>)> = model
                .keys
                .iter()
                .filter(|k| k.app == a && model.status(k) != Status::Revoked)
                .map(|k| {
                    let replaced_by = k.replaced_by.map(|r| model.keys[r].id.clone());
                    (
                        k.id.clone(),
                        (model.status(k).name().to_owned(), replaced_by),
                    )
                })
                .collect();
            ensure!(
                listed == expected,
                "keys of {} listed as {listed:?}, the model has {expected:?}",
                app.id
            );
            // Counted as a client would: live keys, less those with a live
            // key down their chain of replacements (revoked keys are not
            // listed, so the chain is followed through get_key).
            let is_live = |status: &str| status == "active" || status == "disabled";
            let caller = User::admin_of(app.account).caller();
            let mut counted = 0;
            for (status, replaced_by) in listed.values() {
                if !is_live(status) {
                    continue;
                }
                let mut next = replaced_by.clone();
                let mut successor_live = false;
                while let Some(id) = next {
                    let (status, replaced_by) = match listed.get(&id) {
                        Some(listed) => listed.clone(),
                        None => {
                            // A purged key ends the chain.
                            let view = match self.sut.service.get_key(&caller, &id).await {
                                Ok(view) => view,
                                Err(e) if e.code() == "KEY_NOT_FOUND" => break,
                                Err(e) => {
                                    return Err(TestCaseError::fail(format!("get_key: {e:?}")));
                                }
                            };
                            let view = serde_json::to_value(view).unwrap();
                            (
                                view["status"].as_str().unwrap_or_default().to_owned(),
                                view["replaced_by"].as_str().map(str::to_owned),
                            )
                        }
                    };
                    if is_live(&status) {
                        successor_live = true;
                        break;
                    }
                    next = replaced_by;
                }
                if !successor_live {
                    counted += 1;
                }
            }
            ensure!(
                counted == model.counted(a) && counted <= model.limit,
                "{} counts {counted} keys toward its limit {}, the model {}",
                app.id,
                model.limit,
                model.counted(a)
            );
        }
        // Every secret verified, at a cost of 1: a metered key spends.
        for k in 0..self.model.keys.len() {
            let required = REQUIRED_SCOPES[(step + k) % REQUIRED_SCOPES.len()];
            self.verify(k, required, 1).await?;
        }
        Ok(())
    }

    /// Key `k` verified with `required` at `cost`, by the service and by the
    /// model: the same code, and for a metered key that reached its
    /// counters, the same credits and limit left.
    pub async fn verify(
        &mut self,
        k: usize,
        required: &[&str],
        cost: u64,
    ) -> Result<(), TestCaseError> {
        let before = format!("{:?}", self.model.keys[k]);
        let expected = self.model.verify(k, required, cost);
        let key = &self.model.keys[k];
        let request = VerifyRequest {
            key: Secret::new(key.secret.clone()),
            scopes: required.iter().map(|s| s.to_string()).collect(),
        };
        let context = VerifyContext {
            source_ip: None,
            cost,
        };
        let answer = self
            .sut
            .service
            .verify_in(&request, context)
            .await
            .map_err(|e| TestCaseError::fail(format!("verify: {e:?}")))?;
        let code = answer.verdict.code.as_str();
        ensure!(
            code == expected && answer.verdict.key_id.as_deref() == Some(key.id.as_str()),
            "key {k} ({}) verifies as {code} with {required:?} at cost {cost}; the model \
             says {expected} for {before} at {}",
            key.id,
            self.model.now
        );
        let counted = matches!(expected, "VALID" | "RATE_LIMITED" | "USAGE_EXCEEDED");
        let expected_usage = if counted && key.meter.is_metered() {
            key.meter.report(self.model.now)
        } else {
            (None, None)
        };
        ensure!(
            reported(&answer.usage) == expected_usage,
            "key {k} ({}) at cost {cost} answers {code} with {:?}; the model has {expected_usage:?} \
             after {before}",
            key.id,
            answer.usage
        );
        self.verdicts.insert(expected);
        Ok(())
    }

    /// A view's usage against the model's meter of key `k`.
    pub fn check_usage(
        &self,
        usage: Option<&keyward::usage::UsageReport>,
        k: usize,
        what: &str,
    ) -> Result<(), TestCaseError> {
        let meter = &self.model.keys[k].meter;
        let expected = meter.is_metered().then(|| meter.report(self.model.now));
        let actual = usage.map(reported);
        ensure!(
            actual == expected,
            "{what}: key {k} shows usage {actual:?}, the model {expected:?} ({meter:?})"
        );
        Ok(())
    }

    /// Every key and application read one by one, revoked ones included.
    pub async fn check_reads(&self) -> Result<(), TestCaseError> {
        let model = &self.model;
        for key in &model.keys {
            let caller = User::admin_of(key.account).caller();
            let view = self
                .sut
                .service
                .get_key(&caller, &key.id)
                .await
                .map_err(|e| TestCaseError::fail(format!("get_key: {e:?}")))?;
            let status = serde_json::to_value(view.status).unwrap();
            ensure!(
                status == model.status(key).name()
                    && view.replaced_by.is_some() == key.replaced_by.is_some()
                    && view.revoke_at == key.grace_end,
                "get_key {}: {status}, replaced_by {:?}, revoke_at {:?}; the model has {key:?}",
                key.id,
                view.replaced_by,
                view.revoke_at
            );
            let k = model
                .keys
                .iter()
                .position(|m| m.id == key.id)
                .unwrap_or_default();
            self.check_usage(view.usage.as_ref(), k, "get_key")?;
            // Another account's key is not found, never forbidden.
            let other = if key.account == "acme" {
                User::Carol
            } else {
                User::Alice
            };
            let foreign = self.sut.service.get_key(&other.caller(), &key.id).await;
            ensure!(
                foreign.as_ref().err().map(ApiError::code) == Some("KEY_NOT_FOUND"),
                "{other:?} reads another account's key {}",
                key.id
            );
        }
        for app in &model.apps {
            let caller = User::admin_of(app.account).caller();
            let view = self
                .sut
                .service
                .get_application(&caller, &app.id)
                .await
                .map_err(|e| TestCaseError::fail(format!("get_application: {e:?}")))?;
            let (status, owner) = (
                serde_json::to_value(view.status).unwrap(),
                serde_json::to_value(view.owner_status).unwrap(),
            );
            let expected = (
                if app.revoked { "revoked" } else { "active" },
                if app.owner_deleted {
                    "deleted"
                } else {
                    "active"
                },
            );
            ensure!(
                status == expected.0 && owner == expected.1,
                "get_application {}: {status}/{owner}, the model {expected:?}",
                app.id
            );
        }
        Ok(())
    }
}
