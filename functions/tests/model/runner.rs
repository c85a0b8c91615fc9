//! The system under test, and the runner that applies each operation to
//! both it and the model and compares the outcomes.

use super::*;

pub struct System {
    pub service: Service,
    pub clock: Arc<ManualClock>,
}

pub fn system(store: Arc<dyn Store>, limit: usize) -> System {
    let clock = Arc::new(ManualClock::new(T0));
    let config = Config {
        max_active_applications: limit as u32,
        max_active_keys: limit as u32,
        ..Config::default()
    };
    System {
        service: Service::new(store, config, clock.clone(), Arc::new(LogPublisher)),
        clock,
    }
}

/// The status the HTTP API gives a creation's answer (201), or its code.
pub fn created<T>(result: &Result<T, ApiError>) -> Outcome {
    result.as_ref().map(|_| 201).map_err(ApiError::code)
}

/// The status the HTTP API gives any other answer (200), or its code.
pub fn answered<T>(result: &Result<T, ApiError>) -> Outcome {
    result.as_ref().map(|_| 200).map_err(ApiError::code)
}

/// What a run saw, to show (and check) that the cases reach what they are
/// meant to: every verdict, every refusal, both limits.
#[derive(Default)]
pub struct Coverage {
    pub cases: u64,
    pub ops: u64,
    pub outcomes: BTreeMap<String, u64>,
    pub verdicts: BTreeMap<&'static str, u64>,
    /// Cases in which each limit (3 or 10) was reached, keys and applications.
    pub key_limit_reached: BTreeMap<usize, u64>,
    pub app_limit_reached: BTreeMap<usize, u64>,
}

pub struct Runner<'a> {
    pub sut: &'a System,
    pub model: Model,
    pub page: usize,
    pub seen: BTreeSet<String>,
    pub verdicts: BTreeSet<&'static str>,
}

pub fn same(expected: Outcome, actual: Outcome, what: &str) -> Result<(), TestCaseError> {
    ensure!(
        expected == actual,
        "{what}: the model expects {expected:?}, the service answered {actual:?}"
    );
    Ok(())
}

impl Runner<'_> {
    pub fn note(&mut self, name: &str, actual: Outcome) {
        let label = match actual {
            Ok(status) => format!("{name} {status}"),
            Err(code) => format!("{name} {code}"),
        };
        self.seen.insert(label);
    }

    pub async fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let sut = self.sut;
        let service = &sut.service;
        match op {
            Op::CreateApp { by } => {
                let expected = self.model.expect_create_app(*by);
                let input = fixtures::application(&format!("app {}", self.model.apps.len()));
                let result = service.create_application(&by.caller(), &input, None).await;
                let actual = created(&result);
                self.note("create_application", actual);
                same(expected, actual, "create_application")?;
                if let Ok(reply) = result {
                    self.model.apps.push(ModelApp {
                        id: reply.id,
                        account: by.account(),
                        created_by: *by,
                        revoked: false,
                        owner_deleted: false,
                    });
                }
            }
            Op::CreateKeys {
                by,
                app,
                count,
                expiry,
                scopes,
                metering,
            } => {
                let app = self.model.pick_app(app, *by);
                let app_id = app.map_or("app_missing", |i| self.model.apps[i].id.as_str());
                let app_id = app_id.to_owned();
                let scopes = SCOPE_SETS[*scopes];
                for _ in 0..*count {
                    let expected = self.model.expect_create_key(*by, app, *expiry, scopes);
                    let input = CreateKey {
                        name: format!("key {}", self.model.keys.len()),
                        description: String::new(),
                        scopes: scopes.iter().map(|s| s.to_string()).collect(),
                        expires_at: expiry.request(self.model.now),
                    };
                    let usage = metering.usage_input();
                    let result = service
                        .create_key_with_usage(&by.caller(), &app_id, &input, &usage, None)
                        .await;
                    let actual = created(&result);
                    self.note("create_key", actual);
                    same(expected.map(|_| 201), actual, "create_key")?;
                    if let (Ok(expires_at), Ok(reply), Some(app)) = (expected, result, app) {
                        let meter = metering.meter(self.model.now);
                        self.issued(&reply, app, *by, scopes, expires_at, meter)?;
                    }
                }
            }
            Op::Disable { by, key } | Op::Enable { by, key } => {
                let enable = matches!(op, Op::Enable { .. });
                let key = self.model.pick_key(key, *by);
                let expected = self.model.expect_toggle(*by, key);
                let id = self.key_id(key);
                let result = if enable {
                    service.enable_key(&by.caller(), &id, None).await
                } else {
                    service.disable_key(&by.caller(), &id, None).await
                };
                let name = if enable { "enable_key" } else { "disable_key" };
                let actual = answered(&result);
                self.note(name, actual);
                same(expected.map(|_| 200), actual, name)?;
                if let Ok(i) = expected {
                    self.model.keys[i].disabled = !enable;
                    self.check_reply_status(&result, i, name)?;
                }
            }
            Op::Revoke { by, key } => {
                let key = self.model.pick_key(key, *by);
                let expected = self.model.key_for(*by, key);
                let result = service
                    .revoke_key(&by.caller(), &self.key_id(key), None)
                    .await;
                let actual = answered(&result);
                self.note("revoke_key", actual);
                same(expected.map(|_| 200), actual, "revoke_key")?;
                if let Ok(i) = expected {
                    self.model.keys[i].revoked = true;
                    self.check_reply_status(&result, i, "revoke_key")?;
                }
            }
            Op::Regenerate {
                by,
                key,
                grace,
                expiry,
                twice,
            } => {
                let key = self.model.pick_key(key, *by);
                for _ in 0..if *twice { 2 } else { 1 } {
                    self.regenerate(*by, key, *grace, *expiry).await?;
                }
            }
            Op::RevokeApp { by, app } => {
                let app = self.model.pick_app(app, *by);
                let expected = self.model.app_for(*by, app).and_then(|i| {
                    if by.is_admin() {
                        Ok(i)
                    } else {
                        Err("PERMISSION_DENIED")
                    }
                });
                let id = app.map_or("app_missing".to_owned(), |i| self.model.apps[i].id.clone());
                let result = service.revoke_application(&by.caller(), &id, None).await;
                let actual = answered(&result);
                self.note("revoke_application", actual);
                same(expected.map(|_| 200), actual, "revoke_application")?;
                if let Ok(i) = expected {
                    self.model.revoke_app(i);
                }
            }
            Op::Offboard { by, target } => {
                let expected = if by.is_admin() {
                    Ok(200)
                } else {
                    Err("PERMISSION_DENIED")
                };
                let result = service.offboard_user(&by.caller(), target.id(), None).await;
                let actual = answered(&result);
                self.note("offboard_user", actual);
                same(expected, actual, "offboard_user")?;
                if let Ok(reply) = result {
                    let (apps, keys) = self.model.offboard(by.account(), *target);
                    ensure!(
                        (reply.applications.len(), reply.keys.len()) == (apps, keys),
                        "offboard_user: the model marks {apps} applications and {keys} keys, \
                         the service answered {reply:?}"
                    );
                }
            }
            Op::Verify {
                by,
                key,
                cost,
                scopes,
            } => {
                if let Some(k) = self.model.pick_key(key, *by) {
                    self.verify(k, REQUIRED_SCOPES[*scopes], *cost).await?;
                }
            }
            Op::SetCredits { by, key, credits } => {
                let key = self.model.pick_key(key, *by);
                let expected = self.model.expect_patch(*by, key);
                let usage = keyward::usage::UsageInput::from_json(
                    None,
                    Some(credits_json(*credits).unwrap_or(Value::Null)),
                    None,
                )
                .expect("valid credits");
                let fields = keyward::service::UpdateFields::default();
                let result = service
                    .update_key_with_usage(&by.caller(), &self.key_id(key), &fields, &usage)
                    .await;
                let actual = answered(&result);
                self.note("set_credits", actual);
                same(expected.map(|_| 200), actual, "set_credits")?;
                if let Ok(i) = expected {
                    let now = self.model.now;
                    self.model.keys[i].meter.credits = credits.map(|c| ModelCredits::set(c, now));
                    let reply = result.map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
                    self.check_usage(reply.usage.as_ref(), i, "set_credits")?;
                }
            }
            Op::Advance { seconds } => {
                self.sut.clock.advance(*seconds);
                self.model.now += seconds;
            }
        }
        Ok(())
    }

    pub async fn regenerate(
        &mut self,
        by: User,
        key: Option<usize>,
        grace: Option<i64>,
        expiry: Expiry,
    ) -> Result<(), TestCaseError> {
        let expected = self.model.expect_regenerate(by, key, grace, expiry);
        let input = RegenerateKey {
            expires_at: expiry.request(self.model.now),
            grace_seconds: grace,
        };
        let result = self
            .sut
            .service
            .regenerate_key(&by.caller(), &self.key_id(key), &input, None)
            .await;
        let actual = created(&result);
        let with_grace = actual.is_ok() && grace.unwrap_or(0) > 0;
        self.note(
            if with_grace {
                "regenerate_key with grace"
            } else {
                "regenerate_key"
            },
            actual,
        );
        same(expected.map(|_| 201), actual, "regenerate_key")?;
        if let (Ok((old, expires_at)), Ok(reply)) = (expected, result) {
            let (app, scopes) = (self.model.keys[old].app, self.model.keys[old].scopes);
            let meter = self.model.keys[old].meter.regenerate(self.model.now);
            let new_id = self.issued(&reply, app, by, scopes, expires_at, meter)?;
            let new_index = self.model.keys.len() - 1;
            ensure!(
                reply.key.replaces.as_deref() == Some(self.model.keys[old].id.as_str()),
                "regenerate_key: the new key {new_id} does not name the old one"
            );
            let now = self.model.now;
            let old = &mut self.model.keys[old];
            old.replaced_by = Some(new_index);
            match grace {
                Some(g) if g > 0 => old.grace_end = Some(now + g),
                _ => old.revoked = true,
            }
        }
        Ok(())
    }

    pub fn key_id(&self, key: Option<usize>) -> String {
        // A well-formed id that no key has, so the look-up reaches the store.
        key.map_or("0000000000000000000000".to_owned(), |i| {
            self.model.keys[i].id.clone()
        })
    }

    /// Adds a key the service issued to the model, after checking the answer.
    pub fn issued(
        &mut self,
        reply: &CreatedKey,
        app: usize,
        by: User,
        scopes: &'static [&'static str],
        expires_at: i64,
        meter: ModelMeter,
    ) -> Result<String, TestCaseError> {
        let view = serde_json::to_value(&reply.key).unwrap_or_default();
        let id = reply.key.id.clone();
        ensure!(
            view["status"] == "active"
                && view["application_id"] == self.model.apps[app].id.as_str()
                && view["created_by"] == by.id()
                && view["expires_at"] == rfc3339::format(expires_at).as_str(),
            "a new key is not what the model expects (expires {}): {view}",
            rfc3339::format(expires_at)
        );
        self.model.keys.push(ModelKey {
            id: id.clone(),
            secret: reply.secret.expose().to_owned(),
            app,
            account: self.model.apps[app].account,
            created_by: by,
            scopes,
            expires_at,
            disabled: false,
            revoked: false,
            grace_end: None,
            replaced_by: None,
            app_revoked: false,
            owner_deleted: false,
            meter,
        });
        let new = self.model.keys.len() - 1;
        self.check_usage(reply.key.usage.as_ref(), new, "a new key")?;
        Ok(id)
    }
}
