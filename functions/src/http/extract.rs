//! Extractors: the caller, the peer address, path ids, paging, the
//! Idempotency-Key context and JSON bodies, each turning a bad request into
//! a problem.

use crate::abuse::FailedVerificationLimit;
use crate::auth::{Caller, JwtVerifier};
use crate::error::ApiError;
use crate::idempotency::{self, Idempotency};
use crate::service::{PageQuery, Service};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use serde::de::DeserializeOwned;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Turns a request into a caller: the local server verifies a bearer JWT;
/// in AWS the API's JWT authorizer has verified it and the claims come from
/// the request context.
pub trait Authenticate: Send + Sync {
    fn authenticate(&self, parts: &Parts) -> Result<Caller, ApiError>;
}

/// `Authorization: Bearer <JWT>`, verified here.
pub struct BearerJwt {
    pub verifier: JwtVerifier,
    pub account_claim: String,
}

impl Authenticate for BearerJwt {
    fn authenticate(&self, parts: &Parts) -> Result<Caller, ApiError> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or(ApiError::TokenMissing)?
            .to_str()
            .map_err(|_| ApiError::TokenInvalid("the Authorization header is not ASCII".into()))?;
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => return Err(ApiError::TokenMissing),
        };
        let claims = self.verifier.verify(token)?;
        Caller::from_claims(&claims, &self.account_claim)
    }
}

#[derive(Clone)]
pub struct AppState {
    pub service: Arc<Service>,
    pub auth: Arc<dyn Authenticate>,
    /// The local server's limit on failed verifications per source; `None`
    /// in Lambda, where API Gateway throttles and there is no peer address.
    pub verify_failures: Option<Arc<FailedVerificationLimit>>,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        state.auth.authenticate(parts)
    }
}

/// The peer's address when the server records it (the local server does;
/// behind API Gateway there is none).
pub struct PeerIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>();
        Ok(PeerIp(peer.map(|c| c.0.ip())))
    }
}

/// A path id; a segment that cannot be decoded is simply not found.
pub struct Id(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| Id(id))
            .map_err(|_| ApiError::RouteNotFound)
    }
}

/// `?limit=&cursor=`.
pub struct Paging(pub PageQuery);

impl<S: Send + Sync> FromRequestParts<S> for Paging {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<PageQuery>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| Paging(q))
            .map_err(|e| ApiError::InvalidQuery(e.body_text()))
    }
}

/// What a mutation's Idempotency-Key is bound to: method, path, header.
pub struct MutationContext {
    method: Method,
    path: String,
    idempotency_key: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for MutationContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let idempotency_key = match parts.headers.get(idempotency::HEADER) {
            None => None,
            Some(v) => Some(
                v.to_str()
                    .map_err(|_| ApiError::InvalidIdempotencyKey)?
                    .to_owned(),
            ),
        };
        Ok(MutationContext {
            method: parts.method.clone(),
            path: parts.uri.path().to_owned(),
            idempotency_key,
        })
    }
}

impl MutationContext {
    pub(super) fn idempotency(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Option<Idempotency>, ApiError> {
        self.idempotency_key
            .as_deref()
            .map(|key| {
                let fingerprint = idempotency::fingerprint(self.method.as_str(), &self.path, body);
                Idempotency::new(key, caller, fingerprint)
            })
            .transpose()
    }
}

/// A JSON body, with its raw bytes for the idempotency fingerprint. An empty
/// body reads as `T::default()` where `T` allows it ([`OptionalBody`]).
pub struct JsonBody<T> {
    pub value: T,
    pub raw: Bytes,
}

async fn read_body(req: Request) -> Result<(Bytes, bool), ApiError> {
    let json_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        });
    let bytes = Bytes::from_request(req, &()).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(MAX_BODY_BYTES)
        } else {
            ApiError::MalformedJson("the body could not be read".into())
        }
    })?;
    if !bytes.is_empty() && json_type != Some(true) {
        return Err(ApiError::UnsupportedMediaType);
    }
    Ok((bytes, json_type.unwrap_or(false)))
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value = serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::InvalidBody(e.to_string()),
        _ => ApiError::MalformedJson(e.to_string()),
    })?;
    // serde's derived structs also read a JSON array, field by field in
    // order (`["name", "description"]`); every body here is an object.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::InvalidBody(
            "the body must be a JSON object".into(),
        ));
    }
    Ok(value)
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let (raw, _) = read_body(req).await?;
        if raw.is_empty() {
            return Err(ApiError::MalformedJson("a JSON body is required".into()));
        }
        Ok(JsonBody {
            value: parse_json(&raw)?,
            raw,
        })
    }
}

/// A JSON body that may be omitted.
pub struct OptionalBody<T>(pub JsonBody<T>);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let (raw, _) = read_body(req).await?;
        let value = if raw.is_empty() {
            T::default()
        } else {
            parse_json(&raw)?
        };
        Ok(OptionalBody(JsonBody { value, raw }))
    }
}

/// A request GitHub's secret scanning signs: the raw body (up to
/// `leaks::github::MAX_BODY_BYTES`) and the two headers, checked by the
/// service before anything reads the body.
pub struct SignedBody {
    pub identifier: Option<String>,
    pub signature: Option<String>,
    pub body: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for SignedBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        use crate::leaks::github::{KEY_IDENTIFIER_HEADER, MAX_BODY_BYTES, SIGNATURE_HEADER};
        let header = |headers: &axum::http::HeaderMap, name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let identifier = header(req.headers(), KEY_IDENTIFIER_HEADER);
        let signature = header(req.headers(), SIGNATURE_HEADER);
        let body = Bytes::from_request(req, &()).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(MAX_BODY_BYTES)
            } else {
                ApiError::MalformedJson("the body could not be read".into())
            }
        })?;
        Ok(SignedBody {
            identifier,
            signature,
            body,
        })
    }
}
