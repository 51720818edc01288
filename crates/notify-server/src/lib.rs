//! `notify-server`: the webhook endpoint a container registry notifies, and the query API its
//! operators read, over any `notify_core::Storage`.
//!
//! One event's way through: the registry POSTs an envelope to [`webhook`]; it is
//! authenticated, size- and type-checked and parsed (`notify_core::parse_envelope`); each event
//! is translated (`notify_core::translate`) into a plan and applied to the store, or kept in
//! quarantine with the reason when it cannot be modelled; the answer is 2xx only once every
//! event is durably stored, and 503 when the store is unavailable, so that the registry
//! retries. [`api`] answers reads under `/api/v1/`; [`ops`] serves probes, metrics and the
//! OpenAPI document.
//!
//! The server keeps no state between requests (configuration and metrics counters aside):
//! any number of replicas can run behind a load balancer on one database.
//!
//! The binary's `main` only wires [`config`] → [`store`] → [`router`](mod@router) → [`server`].

pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod error;
pub mod logging;
pub mod metrics;
mod openapi;
pub mod ops;
pub mod registry_config;
pub mod retention;
pub mod router;
pub mod server;
pub mod shutdown;
pub mod state;
pub mod store;
pub mod transfer;
pub mod webhook;

pub use config::Config;
pub use router::{openapi_document, router, router_with_state};
pub use state::AppState;
