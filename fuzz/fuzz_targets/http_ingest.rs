//! Fuzz target: arbitrary webhook requests through the server's real router (authentication,
//! size limit, content type, parsing, translation, the store), on the reference store.
//!
//! Input: one byte picks the content type, one the `Authorization` header, one the path; the
//! rest is the body. Whatever arrives, the answer is one of the documented statuses, never a
//! 5xx (the store is always up here), and a 200 accounts for every event of the envelope.

#![no_main]

use std::cell::RefCell;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use libfuzzer_sys::fuzz_target;
use notify_core::{MEDIA_TYPE_V1, MEDIA_TYPE_V2, MemoryStore};
use notify_server::config::{ApiAuth, Config, Secret, WebhookAuth};
use tower::ServiceExt as _;

const TOKEN: &str = "fuzz-token";
// The last one is opaque bytes, as a header from the network may be.
const CONTENT_TYPES: [Option<&[u8]>; 6] = [
    Some(MEDIA_TYPE_V1.as_bytes()),
    Some(MEDIA_TYPE_V2.as_bytes()),
    Some(b"application/json; charset=utf-8"),
    Some(b"text/plain"),
    None,
    Some(b"application/\xff\xfejson"),
];
const AUTHS: [Option<&str>; 4] =
    [Some("Bearer fuzz-token"), Some("Bearer wrong"), None, Some("Basic !!not-base64")];
const PATHS: [&str; 3] = ["/events", "/events/registry.example.com:5000", "/events/..%2F"];
// A fresh store now and then keeps memory flat over millions of runs.
const RUNS_PER_STORE: u32 = 1_000;

struct Harness {
    runtime: tokio::runtime::Runtime,
    router: Router,
    runs: u32,
}

fn router() -> Router {
    let config = Config::with_auth(
        WebhookAuth::Credentials { bearer: Some(Secret::new(TOKEN)), basic: None },
        ApiAuth::Disabled,
    );
    notify_server::router(&config, Arc::new(MemoryStore::new()))
}

thread_local! {
    static HARNESS: RefCell<Harness> = RefCell::new(Harness {
        runtime: tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime"),
        router: router(),
        runs: 0,
    });
}

fuzz_target!(|input: &[u8]| {
    let [ct, auth, path, body @ ..] = input else { return };
    let content_type = CONTENT_TYPES[usize::from(*ct) % CONTENT_TYPES.len()];
    let authorization = AUTHS[usize::from(*auth) % AUTHS.len()];
    let path = PATHS[usize::from(*path) % PATHS.len()];
    HARNESS.with_borrow_mut(|h| {
        h.runs += 1;
        if h.runs % RUNS_PER_STORE == 0 {
            h.router = router();
        }
        let mut request = Request::post(path);
        if let Some(ct) = content_type {
            request =
                request.header(header::CONTENT_TYPE, HeaderValue::from_bytes(ct).expect("a header value"));
        }
        if let Some(a) = authorization {
            request = request.header(header::AUTHORIZATION, a);
        }
        let request = request.body(Body::from(body.to_vec())).expect("a request");
        let router = h.router.clone();
        let (status, answer) = h.runtime.block_on(async move {
            let response = router.oneshot(request).await.expect("the router is infallible");
            let status = response.status();
            let bytes = response.into_body().collect().await.expect("a body").to_bytes();
            (status, bytes)
        });
        let answer: serde_json::Value = serde_json::from_slice(&answer).expect("every answer is JSON");
        match status {
            StatusCode::OK => {
                let n = |k: &str| answer[k].as_u64().expect("a count");
                assert_eq!(n("received"), n("applied") + n("duplicate") + n("quarantined"), "{answer}");
            }
            StatusCode::BAD_REQUEST
            | StatusCode::UNAUTHORIZED
            | StatusCode::PAYLOAD_TOO_LARGE
            | StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                assert!(answer["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{answer}");
            }
            other => panic!("unexpected status {other}: {answer}"),
        }
        if authorization != AUTHS[0] {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "unauthenticated request got {status}");
        }
    });
});
