//! Container-registry notifications, typed and translated.
//!
//! A CNCF distribution registry POSTs an [`Envelope`] of [`Event`]s for every push, pull, mount
//! and delete. This crate
//! - parses webhook bodies of registry 2.x and 3.x into typed events ([`parse_envelope`]),
//!   keeping each event's raw JSON and explaining each event it cannot model;
//! - translates an event into a [`Plan`] of storage [`Command`]s ([`translate`]): pure,
//!   deterministic, no I/O and no clock;
//! - defines the [`Storage`] trait that backends (PostgreSQL, MongoDB, …) implement, and
//!   [`MemoryStore`], the reference implementation every backend is checked against with the
//!   conformance suite in `testkit` (feature `testkit`).
//!
//! ```
//! use notify_core::{parse_envelope, translate, MemoryStore, Policy, Storage, ApplyOutcome};
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let body = br#"{"events":[{"id":"0f9b","timestamp":"2026-11-22T20:55:53.18762358Z",
//!   "action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json",
//!   "digest":"sha256:fc89dc8ad677564498bb3aacb8156776c6f11fac283361a99a9cd8137b66249d",
//!   "size":418,"repository":"library/alpine","tag":"1.0"},"request":{"host":"registry.local"}}]}"#;
//! let store = MemoryStore::new();
//! for event in parse_envelope(body, Some("application/json")).unwrap().events {
//!     let plan = translate(&event.unwrap(), &Policy::default()).unwrap();
//!     assert_eq!(store.apply(&plan).await.unwrap(), ApplyOutcome::Applied);
//!     assert_eq!(store.apply(&plan).await.unwrap(), ApplyOutcome::Duplicate);
//! }
//! # });
//! ```

pub mod command;
mod digest;
mod event;
pub mod media_type;
mod memory;
mod names;
mod parse;
mod policy;
pub mod query;
mod storage;
#[cfg(feature = "testkit")]
pub mod testkit;
mod timestamp;
mod translate;

pub use command::{Command, LogEntry, Plan, RepoRef, Stamp};
pub use digest::{Digest, DigestError};
pub use event::{Action, Actor, Descriptor, Envelope, Event, Platform, Request, Source, Target};
pub use media_type::{ContentKind, ReferenceKind, classify_media_type, classify_reference, classify_target};
pub use memory::MemoryStore;
pub use names::{NameError, RepositoryName, Tag};
pub use parse::{
    EnvelopeError, EventError, MEDIA_TYPE_V1, MEDIA_TYPE_V2, ParsedEnvelope, check_content_type,
    parse_envelope, parse_event,
};
pub use policy::{DEFAULT_REGISTRY, Policy};
pub use query::{Cursor, Page, PageRequest};
pub use storage::{ApplyOutcome, Storage, StorageError};
pub use timestamp::{Timestamp, TimestampError};
pub use translate::{TranslateError, translate};
