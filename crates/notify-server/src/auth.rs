//! Checking the `Authorization` header of webhook posts and query-API reads.
//!
//! Expected credentials are kept as SHA-256 hashes and a presented value is hashed before it is
//! compared with `subtle`'s constant-time equality: comparing hashes of fixed length means
//! neither the content nor the length of a secret leaks through response timing.

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::config::{ApiAuth, WebhookAuth};

type Hash = [u8; 32];

fn hash(bytes: &[u8]) -> Hash {
    Sha256::digest(bytes).into()
}

fn same(expected: &Hash, presented: &[u8]) -> bool {
    bool::from(expected.ct_eq(&hash(presented)))
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization` header, or one with a scheme not configured.
    Missing,
    /// Credentials that do not match.
    Invalid,
}

impl AuthFailure {
    /// The message sent to the client.
    pub fn message(self) -> &'static str {
        match self {
            AuthFailure::Missing => "authentication required: send the configured Authorization header",
            AuthFailure::Invalid => "the credentials in the Authorization header are not valid",
        }
    }
}

/// The `Authorization` header split into scheme and credentials.
fn authorization(headers: &HeaderMap) -> Option<(String, &str)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, credentials) = value.split_once(' ')?;
    Some((scheme.to_ascii_lowercase(), credentials.trim()))
}

/// The checker for webhook posts, built once from the configuration.
#[derive(Debug, Clone)]
pub struct WebhookAuthenticator {
    enabled: bool,
    bearer: Option<Hash>,
    /// Hash of the decoded `username:password`.
    basic: Option<Hash>,
}

impl WebhookAuthenticator {
    /// Hashes the configured credentials.
    pub fn new(config: &WebhookAuth) -> Self {
        match config {
            WebhookAuth::Disabled => WebhookAuthenticator { enabled: false, bearer: None, basic: None },
            WebhookAuth::Credentials { bearer, basic } => WebhookAuthenticator {
                enabled: true,
                bearer: bearer.as_ref().map(|t| hash(t.expose().as_bytes())),
                basic: basic.as_ref().map(|(u, p)| hash(format!("{u}:{}", p.expose()).as_bytes())),
            },
        }
    }

    /// Accepts or refuses a request by its headers.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), AuthFailure> {
        if !self.enabled {
            return Ok(());
        }
        let (scheme, credentials) = authorization(headers).ok_or(AuthFailure::Missing)?;
        match (scheme.as_str(), &self.bearer, &self.basic) {
            ("bearer", Some(expected), _) => {
                if same(expected, credentials.as_bytes()) {
                    Ok(())
                } else {
                    Err(AuthFailure::Invalid)
                }
            }
            ("basic", _, Some(expected)) => {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(credentials)
                    .map_err(|_| AuthFailure::Invalid)?;
                if same(expected, &decoded) { Ok(()) } else { Err(AuthFailure::Invalid) }
            }
            _ => Err(AuthFailure::Missing),
        }
    }

    /// The `WWW-Authenticate` challenges of a 401, one per configured scheme.
    pub fn challenges(&self) -> Vec<HeaderValue> {
        let mut out = Vec::new();
        if self.bearer.is_some() {
            out.push(HeaderValue::from_static("Bearer realm=\"registry-notify webhook\""));
        }
        if self.basic.is_some() {
            out.push(HeaderValue::from_static("Basic realm=\"registry-notify webhook\", charset=\"UTF-8\""));
        }
        out
    }
}

/// The checker for query-API reads.
#[derive(Debug, Clone)]
pub struct ApiAuthenticator {
    bearer: Option<Hash>,
}

impl ApiAuthenticator {
    /// Hashes the configured token.
    pub fn new(config: &ApiAuth) -> Self {
        match config {
            ApiAuth::Disabled => ApiAuthenticator { bearer: None },
            ApiAuth::Bearer(t) => ApiAuthenticator { bearer: Some(hash(t.expose().as_bytes())) },
        }
    }

    /// Accepts or refuses a request by its headers.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), AuthFailure> {
        let Some(expected) = &self.bearer else { return Ok(()) };
        match authorization(headers) {
            Some((scheme, token)) if scheme == "bearer" => {
                if same(expected, token.as_bytes()) {
                    Ok(())
                } else {
                    Err(AuthFailure::Invalid)
                }
            }
            _ => Err(AuthFailure::Missing),
        }
    }

    /// The `WWW-Authenticate` challenge of a 401.
    pub fn challenge(&self) -> HeaderValue {
        HeaderValue::from_static("Bearer realm=\"registry-notify api\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn bearer_and_basic_are_checked_and_schemes_not_configured_are_refused() {
        let both = WebhookAuthenticator::new(&WebhookAuth::Credentials {
            bearer: Some(Secret::new("s3cret")),
            basic: Some(("registry".into(), Secret::new("pa:ss"))),
        });
        assert_eq!(both.check(&headers("Bearer s3cret")), Ok(()));
        assert_eq!(both.check(&headers("bearer  s3cret ")), Ok(()));
        assert_eq!(both.check(&headers("Bearer s3cre")), Err(AuthFailure::Invalid));
        // registry:pa:ss
        assert_eq!(both.check(&headers("Basic cmVnaXN0cnk6cGE6c3M=")), Ok(()));
        assert_eq!(both.check(&headers("Basic cmVnaXN0cnk6eA==")), Err(AuthFailure::Invalid));
        assert_eq!(both.check(&headers("Basic !!!")), Err(AuthFailure::Invalid));
        assert_eq!(both.check(&HeaderMap::new()), Err(AuthFailure::Missing));
        assert_eq!(both.challenges().len(), 2);

        let bearer_only = WebhookAuthenticator::new(&WebhookAuth::Credentials {
            bearer: Some(Secret::new("s3cret")),
            basic: None,
        });
        assert_eq!(bearer_only.check(&headers("Basic cmVnaXN0cnk6cGE6c3M=")), Err(AuthFailure::Missing));
        let open = WebhookAuthenticator::new(&WebhookAuth::Disabled);
        assert_eq!(open.check(&HeaderMap::new()), Ok(()));
    }

    #[test]
    fn the_read_token_is_separate() {
        let api = ApiAuthenticator::new(&ApiAuth::Bearer(Secret::new("reader")));
        assert_eq!(api.check(&headers("Bearer reader")), Ok(()));
        assert_eq!(api.check(&headers("Bearer s3cret")), Err(AuthFailure::Invalid));
        assert_eq!(api.check(&headers("Basic cmVhZGVy")), Err(AuthFailure::Missing));
        assert_eq!(ApiAuthenticator::new(&ApiAuth::Disabled).check(&HeaderMap::new()), Ok(()));
    }
}
