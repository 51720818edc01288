//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` attributes and the
//! response types' `ToSchema` derives.
//!
//! The routes of the API and of the operations endpoints are registered through
//! `utoipa_axum`, which takes path and method from the same attribute that documents them, so
//! a route cannot exist undocumented. The webhook's path is configurable; its operations are
//! documented under `/events` and moved to the configured path when the router is built.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{OpenApi as OpenApiDocument, PathItem};
use utoipa::{Modify, OpenApi};

use crate::webhook;

/// The document's fixed parts: information, tags and security schemes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "registry-notify",
        description = "Receives container-registry (CNCF distribution) webhook notifications and \
            answers queries about repositories, tags, digests, the event log, statistics, the \
            migration inventory and the tags nobody uses.",
    ),
    tags(
        (name = "webhook", description = "Where the registry posts its notifications"),
        (name = "query", description = "The read API; needs the read token unless disabled"),
        (name = "operations", description = "Probes, metrics and this document"),
    ),
    modifiers(&SecuritySchemes),
)]
pub(crate) struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut OpenApiDocument) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components
            .add_security_scheme("webhook_bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        components
            .add_security_scheme("webhook_basic", SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)));
        components.add_security_scheme("api_bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

#[derive(OpenApi)]
#[openapi(paths(webhook::receive, webhook::receive_for_registry))]
struct WebhookDoc;

/// Adds the webhook's operations at the configured path.
pub(crate) fn add_webhook(doc: &mut OpenApiDocument, path: &str) {
    let webhook = WebhookDoc::openapi();
    for (documented, item) in webhook.paths.paths {
        let actual = match documented.strip_prefix(crate::config::DEFAULT_WEBHOOK_PATH) {
            Some(rest) => format!("{path}{rest}"),
            None => documented,
        };
        let item: PathItem = item;
        doc.paths.paths.insert(actual, item);
    }
    if let Some(components) = webhook.components {
        let target = doc.components.get_or_insert_with(Default::default);
        for (name, schema) in components.schemas {
            target.schemas.entry(name).or_insert(schema);
        }
    }
}
