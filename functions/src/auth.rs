//! Who is calling: the user from JWT claims, and checks of their
//! permissions.
//!
//! In AWS the HTTP API's JWT authorizer verifies the token and the function
//! reads the claims from the request context; locally [`JwtVerifier`]
//! verifies the same token. Both end in [`Caller::from_claims`].

use crate::domain::Application;
use crate::error::ApiError;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, jwk::JwkSet};
use serde_json::{Map, Value};
use wasm_validator::granted_by;

pub mod perm {
    pub const APPLICATIONS_VIEW: &str = "applications:view";
    pub const APPLICATIONS_CREATE: &str = "applications:create";
    pub const APPLICATIONS_EDIT: &str = "applications:edit";
    pub const APPLICATIONS_REVOKE: &str = "applications:revoke";
    pub const KEYS_VIEW: &str = "keys:view";
    pub const KEYS_CREATE: &str = "keys:create";
    pub const KEYS_EDIT: &str = "keys:edit";
    pub const KEYS_REVOKE: &str = "keys:revoke";
    pub const USERS_OFFBOARD: &str = "users:offboard";
    pub const AUDIT_VIEW: &str = "audit:view";
    pub const RECORDS_READ: &str = "records:read";
    pub const WEBHOOKS_MANAGE: &str = "webhooks:manage";

    /// Every management permission (`keyward token --all`).
    pub const ALL: &[&str] = &[
        APPLICATIONS_VIEW,
        APPLICATIONS_CREATE,
        APPLICATIONS_EDIT,
        APPLICATIONS_REVOKE,
        "keys:view:any",
        "keys:create:any",
        "keys:edit:any",
        "keys:revoke:any",
        USERS_OFFBOARD,
        AUDIT_VIEW,
        RECORDS_READ,
        WEBHOOKS_MANAGE,
    ];
}

/// The longest `sub` or account claim accepted, in bytes.
pub const MAX_IDENTITY_BYTES: usize = 256;

/// Seconds of clock skew allowed on `exp` and `nbf`.
pub const JWT_LEEWAY_SECONDS: u64 = 30;

/// U+0000–U+001F and U+007F: refused in `sub` and the account claim.
fn is_control_character(c: char) -> bool {
    c <= '\u{1f}' || c == '\u{7f}'
}

/// An authenticated user of the management API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: String,
    pub account: String,
    pub permissions: Vec<String>,
    pub mfa: bool,
}

impl Caller {
    /// Reads `sub`, the account claim, `permissions` (space-separated string
    /// or array) and `amr` from verified claims.
    pub fn from_claims(claims: &Map<String, Value>, account_claim: &str) -> Result<Self, ApiError> {
        let text = |name: &str| match claims.get(name) {
            // Control characters would let one identity spell another in
            // any encoding that joins identities with a separator, and
            // break log lines: refused rather than escaped.
            Some(Value::String(s)) if s.chars().any(is_control_character) => Err(
                ApiError::TokenInvalid(format!("the {name:?} claim contains control characters")),
            ),
            Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= MAX_IDENTITY_BYTES => {
                Ok(s.clone())
            }
            Some(Value::Number(n)) => Ok(n.to_string()),
            _ => Err(ApiError::TokenInvalid(format!(
                "the token has no usable {name:?} claim"
            ))),
        };
        let user_id = text("sub")?;
        let account = text(account_claim)?;
        let permissions = match claims.get("permissions") {
            None | Some(Value::Null) => Vec::new(),
            // API Gateway's JWT authorizer flattens an array claim to "[a b]".
            Some(Value::String(s)) => s
                .trim()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .flat_map(str::split_whitespace)
                .map(str::to_owned)
                .collect(),
            Some(_) => {
                return Err(ApiError::TokenInvalid(
                    "the permissions claim must be a string or an array of strings".into(),
                ));
            }
        };
        let mfa = match claims.get("amr") {
            Some(Value::Array(items)) => items.iter().any(|v| v.as_str() == Some("mfa")),
            // API Gateway flattens arrays in claims to "[pwd mfa]".
            Some(Value::String(s)) => s
                .trim_matches(|c| c == '[' || c == ']')
                .split([' ', ','])
                .any(|m| m.trim_matches('"') == "mfa"),
            _ => false,
        };
        Ok(Caller {
            user_id,
            account,
            permissions,
            mfa,
        })
    }

    /// True when the caller holds `permission` (wildcards as for scopes).
    pub fn has(&self, permission: &str) -> bool {
        granted_by(self.permissions.iter().map(String::as_str), permission)
    }

    pub fn require(&self, permission: &str) -> Result<(), ApiError> {
        if self.has(permission) {
            Ok(())
        } else {
            Err(ApiError::PermissionDenied(permission.to_owned()))
        }
    }

    /// `<action>:any`, or `<action>:own` on an application the caller created.
    pub fn require_on(&self, action: &str, application: &Application) -> Result<(), ApiError> {
        let any = format!("{action}:any");
        if self.has(&any)
            || (application.created_by == self.user_id && self.has(&format!("{action}:own")))
        {
            Ok(())
        } else {
            Err(ApiError::PermissionDenied(format!(
                "{any} (or {action}:own on your own applications)"
            )))
        }
    }

    /// The key scopes this caller may grant: each must be covered by one of
    /// its permissions.
    pub fn require_grantable(&self, scopes: &[String]) -> Result<(), ApiError> {
        match scopes.iter().find(|s| !self.has(s)) {
            Some(missing) => Err(ApiError::ScopeNotHeld(missing.clone())),
            None => Ok(()),
        }
    }
}

/// Verifies bearer tokens for the local server: HS256 with a shared secret,
/// or the keys of a JWKS file. `alg: none` and any algorithm not configured
/// are refused by `jsonwebtoken`.
pub struct JwtVerifier {
    keys: Vec<(Option<String>, DecodingKey, Algorithm)>,
    issuer: Option<String>,
    audience: Option<String>,
}

impl JwtVerifier {
    pub fn hs256(secret: &[u8]) -> Self {
        JwtVerifier {
            keys: vec![(None, DecodingKey::from_secret(secret), Algorithm::HS256)],
            issuer: None,
            audience: None,
        }
    }

    /// Loads a JWKS document (RS256/ES256/EdDSA keys with `kid`s).
    pub fn from_jwks(json: &str) -> Result<Self, String> {
        let set: JwkSet = serde_json::from_str(json).map_err(|e| format!("invalid JWKS: {e}"))?;
        let mut keys = Vec::new();
        for jwk in &set.keys {
            let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("unusable JWK: {e}"))?;
            let alg = match jwk.common.key_algorithm {
                // KeyAlgorithm's names (RS256, ES256, …) are Algorithm's.
                Some(a) => format!("{a:?}")
                    .parse::<Algorithm>()
                    .map_err(|_| format!("unsupported JWK algorithm {a:?}"))?,
                None => match &jwk.algorithm {
                    jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
                    jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
                    jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
                    _ => return Err("JWKS keys must be RSA, EC or OKP".into()),
                },
            };
            keys.push((jwk.common.key_id.clone(), key, alg));
        }
        if keys.is_empty() {
            return Err("the JWKS has no keys".into());
        }
        Ok(JwtVerifier {
            keys,
            issuer: None,
            audience: None,
        })
    }

    pub fn with_issuer_and_audience(
        mut self,
        issuer: Option<String>,
        audience: Option<String>,
    ) -> Self {
        self.issuer = issuer;
        self.audience = audience;
        self
    }

    /// Verifies signature, algorithm, `exp` (required) and, when configured,
    /// issuer and audience. Returns the claims.
    pub fn verify(&self, token: &str) -> Result<Map<String, Value>, ApiError> {
        use jsonwebtoken::errors::ErrorKind;
        let header = jsonwebtoken::decode_header(token).map_err(|_| {
            ApiError::TokenInvalid("not a well-formed JWT with a supported alg".into())
        })?;
        let (_, key, alg) = self
            .keys
            .iter()
            .find(|(kid, _, alg)| *alg == header.alg && (kid.is_none() || *kid == header.kid))
            .ok_or_else(|| {
                ApiError::TokenInvalid(format!("alg {:?} or kid is not accepted", header.alg))
            })?;
        let mut validation = Validation::new(*alg);
        validation.leeway = JWT_LEEWAY_SECONDS;
        // A token that is not valid yet is refused like an expired one.
        validation.validate_nbf = true;
        // A configured issuer or audience is required, not only checked
        // when present: jsonwebtoken skips a missing claim unless it is
        // listed here.
        let mut required = vec!["exp", "sub"];
        validation.validate_aud = self.audience.is_some();
        if let Some(aud) = &self.audience {
            validation.set_audience(&[aud]);
            required.push("aud");
        }
        if let Some(iss) = &self.issuer {
            validation.set_issuer(&[iss]);
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);
        jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => ApiError::TokenExpired,
                ErrorKind::ImmatureSignature => {
                    ApiError::TokenInvalid("the token is not valid yet (nbf)".into())
                }
                ErrorKind::InvalidSignature => ApiError::TokenInvalid("bad signature".into()),
                ErrorKind::InvalidAudience => ApiError::TokenInvalid("wrong audience".into()),
                ErrorKind::InvalidIssuer => ApiError::TokenInvalid("wrong issuer".into()),
                ErrorKind::MissingRequiredClaim(c) => {
                    ApiError::TokenInvalid(format!("missing claim {c}"))
                }
                _ => ApiError::TokenInvalid("the token could not be verified".into()),
            })
    }
}

/// What `keyward token` signs.
pub struct TokenRequest<'a> {
    pub sub: &'a str,
    pub account: &'a str,
    pub account_claim: &'a str,
    pub permissions: &'a [String],
    pub mfa: bool,
    pub ttl_seconds: i64,
    pub now: i64,
}

/// Signs an HS256 token with the same secret the local server verifies.
pub fn issue_token(secret: &[u8], request: &TokenRequest<'_>) -> Result<String, String> {
    let mut claims = Map::new();
    claims.insert("sub".into(), request.sub.into());
    claims.insert(request.account_claim.into(), request.account.into());
    claims.insert("permissions".into(), request.permissions.join(" ").into());
    let amr: Vec<Value> = if request.mfa {
        vec!["pwd".into(), "mfa".into()]
    } else {
        vec!["pwd".into()]
    };
    claims.insert("amr".into(), amr.into());
    claims.insert("iat".into(), request.now.into());
    claims.insert("exp".into(), (request.now + request.ttl_seconds).into());
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn permissions_as_string_or_array_and_amr() {
        let c = Caller::from_claims(
            &claims(json!({"sub": "u1", "account": "a1", "permissions": "keys:view:own  sims:*", "amr": ["pwd", "mfa"]})),
            "account",
        )
        .unwrap();
        assert_eq!(c.permissions, vec!["keys:view:own", "sims:*"]);
        assert!(c.mfa);
        let c = Caller::from_claims(
            &claims(json!({"sub": "u1", "org": "a1", "permissions": ["a:b", "c:d"], "amr": "[pwd mfa]"})),
            "org",
        )
        .unwrap();
        assert_eq!(c.account, "a1");
        let flattened = Caller::from_claims(
            &claims(json!({"sub": "u1", "account": "a1", "permissions": "[keys:view:any sims:*]"})),
            "account",
        )
        .unwrap();
        assert_eq!(flattened.permissions, vec!["keys:view:any", "sims:*"]);
        assert_eq!(c.permissions, vec!["a:b", "c:d"]);
        assert!(c.mfa);
        assert!(Caller::from_claims(&claims(json!({"sub": "u1"})), "account").is_err());
        assert!(Caller::from_claims(&claims(json!({"account": "a"})), "account").is_err());
        assert!(
            Caller::from_claims(
                &claims(json!({"sub": "u", "account": "a", "permissions": 5})),
                "account"
            )
            .is_err()
        );
    }

    #[test]
    fn any_and_own() {
        let app = Application {
            id: "app".into(),
            account: "a".into(),
            name: "n".into(),
            description: String::new(),
            key_prefix: "kw".into(),
            created_by: "owner".into(),
            created_at: 0,
            updated_at: 0,
            status: wasm_validator::ApplicationStatus::Active,
            revoked_at: None,
            owner_status: wasm_validator::OwnerStatus::Active,
            ttl: None,
            version: 1,
        };
        let caller = |user: &str, perms: &[&str]| Caller {
            user_id: user.into(),
            account: "a".into(),
            permissions: perms.iter().map(|s| s.to_string()).collect(),
            mfa: false,
        };
        assert!(
            caller("owner", &["keys:view:own"])
                .require_on("keys:view", &app)
                .is_ok()
        );
        assert!(
            caller("other", &["keys:view:own"])
                .require_on("keys:view", &app)
                .is_err()
        );
        assert!(
            caller("other", &["keys:view:any"])
                .require_on("keys:view", &app)
                .is_ok()
        );
        assert!(
            caller("other", &["keys:*"])
                .require_on("keys:view", &app)
                .is_ok()
        );
        assert!(
            caller("owner", &["keys:create:own"])
                .require_on("keys:view", &app)
                .is_err()
        );
    }

    #[test]
    fn tokens_round_trip_and_bad_ones_are_refused() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let verifier = JwtVerifier::hs256(secret);
        let perms = vec!["keys:view:any".to_string()];
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let request = TokenRequest {
            sub: "u1",
            account: "a1",
            account_claim: "account",
            permissions: &perms,
            mfa: true,
            ttl_seconds: 3600,
            now,
        };
        let token = issue_token(secret, &request).unwrap();
        let caller = Caller::from_claims(&verifier.verify(&token).unwrap(), "account").unwrap();
        assert_eq!(caller.user_id, "u1");
        assert!(caller.mfa);

        let wrong = issue_token(b"another secret, also 32 bytes!!!", &request).unwrap();
        assert_eq!(verifier.verify(&wrong).unwrap_err().code(), "TOKEN_INVALID");
        let expired = issue_token(
            secret,
            &TokenRequest {
                now: now - 7200,
                ..request
            },
        )
        .unwrap();
        assert_eq!(
            verifier.verify(&expired).unwrap_err().code(),
            "TOKEN_EXPIRED"
        );

        // alg: none, with the same claims and no signature.
        use base64::Engine;
        let b64 =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let none = format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "typ": "JWT"})),
            b64(&json!({"sub": "u1", "account": "a1", "exp": now + 3600}))
        );
        assert_eq!(verifier.verify(&none).unwrap_err().code(), "TOKEN_INVALID");
        assert_eq!(
            verifier.verify("garbage").unwrap_err().code(),
            "TOKEN_INVALID"
        );
    }

    #[test]
    fn control_characters_in_sub_or_account_are_refused() {
        for bad in [
            "b\u{0}c",
            "line\nbreak",
            "cr\r",
            "tab\t",
            "esc\u{1b}[31m",
            "del\u{7f}",
        ] {
            for (sub, account) in [(bad, "acme"), ("alice", bad)] {
                let error = Caller::from_claims(
                    &claims(json!({"sub": sub, "account": account})),
                    "account",
                )
                .unwrap_err();
                assert_eq!(error.code(), "TOKEN_INVALID", "{sub:?} {account:?}");
            }
        }
        // Other characters, spaces and non-ASCII included, are fine.
        let c = Caller::from_claims(
            &claims(json!({"sub": "ana maría", "account": "café\u{80}"})),
            "account",
        )
        .unwrap();
        assert_eq!(c.user_id, "ana maría");
    }

    fn signed(secret: &[u8], claims: Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    #[test]
    fn a_configured_issuer_or_audience_is_required() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let verifier = JwtVerifier::hs256(secret)
            .with_issuer_and_audience(Some("https://idp.example".into()), Some("keyward".into()));
        let good = json!({"sub": "u", "account": "a", "exp": now + 60,
                          "iss": "https://idp.example", "aud": "keyward"});
        assert!(verifier.verify(&signed(secret, good.clone())).is_ok());
        for missing in ["iss", "aud"] {
            let mut claims = good.clone();
            claims.as_object_mut().unwrap().remove(missing);
            let error = verifier.verify(&signed(secret, claims)).unwrap_err();
            assert_eq!(error.code(), "TOKEN_INVALID", "without {missing}");
        }
        // Without configuration neither is needed.
        let open = JwtVerifier::hs256(secret);
        assert!(
            open.verify(&signed(secret, json!({"sub": "u", "exp": now + 60})))
                .is_ok()
        );
    }

    #[test]
    fn a_token_not_valid_yet_is_refused_beyond_the_leeway() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let verifier = JwtVerifier::hs256(secret);
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let with_nbf =
            |nbf: i64| signed(secret, json!({"sub": "u", "exp": now + 3600, "nbf": nbf}));
        let error = verifier.verify(&with_nbf(now + 600)).unwrap_err();
        assert_eq!(error.code(), "TOKEN_INVALID");
        // Within the leeway (clock skew) it is accepted.
        assert!(verifier.verify(&with_nbf(now + 5)).is_ok());
        assert!(verifier.verify(&with_nbf(now - 5)).is_ok());
    }
}
