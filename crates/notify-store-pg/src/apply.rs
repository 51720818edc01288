//! Writes: the wire form of a plan.
//!
//! Plans are sent, a batch at a time (see the `batch` module), either as text to the queue of
//! deferred projection (`enqueue`, migration 8; the `project` module later hands them to
//! `apply_batch` in the same form) or, inline, as one `text[]` to the server-side
//! function `apply_batch` (migration 9), called as a single statement in
//! autocommit mode: PostgreSQL runs the whole function in one implicit transaction, so the
//! events and every projection change are committed together or not at all, with one network
//! round trip and no `BEGIN`/`COMMIT` of our own. Pipelining the statements from here would
//! also take one round trip, but the dedup decision (which events are new) would have to
//! travel back to the client before the projection could be written.
//!
//! The argument is this module's own wire form, not the core's serde shape of [`Plan`]:
//! times as Unix microseconds (exact, no text parsing on the server), kinds in the spelling
//! of the SQL enums, and nothing the function does not read. Times the database cannot hold
//! are refused here, so that a queued plan is refused as an inline one would be.

use notify_core::command::{Content, Count};
use notify_core::{ApplyOutcome, Command, Plan, RepoRef, Stamp, StorageError, Timestamp};
use serde::Serialize;

use crate::error::{classify, pool_error};
use crate::{PgStore, Projection};

#[derive(Debug, Serialize)]
struct WirePlan<'a> {
    id: &'a str,
    at: i64,
    action: &'a str,
    registry: &'a str,
    repository: &'a str,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
    media_type: Option<&'a str>,
    kind: &'static str,
    actor: Option<&'a str>,
    client_ip: Option<&'a str>,
    method: Option<&'a str>,
    user_agent: Option<&'a str>,
    source_instance: Option<&'a str>,
    counted: bool,
    raw: &'a str,
    commands: Vec<WireCommand<'a>>,
}

#[derive(Debug, Serialize)]
struct WireRef<'a> {
    digest: &'a str,
    kind: &'static str,
    media_type: Option<&'a str>,
    size: i64,
}

#[derive(Debug, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum WireCommand<'a> {
    Content {
        digest: &'a str,
        kind: &'static str,
        media_type: Option<&'a str>,
        size: Option<i64>,
        artifact_type: Option<&'a str>,
        seen: i64,
        refs: Vec<WireRef<'a>>,
    },
    Link {
        #[serde(flatten)]
        at: Place<'a>,
        digest: &'a str,
    },
    SetTag {
        #[serde(flatten)]
        at: Place<'a>,
        tag: &'a str,
        digest: &'a str,
    },
    DeleteTag {
        #[serde(flatten)]
        at: Place<'a>,
        tag: &'a str,
    },
    DeleteContent {
        #[serde(flatten)]
        at: Place<'a>,
        digest: &'a str,
    },
    DeleteRepository {
        #[serde(flatten)]
        at: Place<'a>,
    },
    CountPush(WireCount<'a>),
    CountPull(WireCount<'a>),
}

/// Where and when a command happened, and who did it.
#[derive(Debug, Serialize)]
struct Place<'a> {
    registry: &'a str,
    repository: &'a str,
    at: i64,
    event: &'a str,
    actor: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct WireCount<'a> {
    registry: &'a str,
    repository: &'a str,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
    actor: Option<&'a str>,
    at: i64,
}

/// Sizes are `u64` in the model and `bigint` here; no registry sends more than `i64::MAX`
/// (the core refuses it at parse time), so a larger one is data this store cannot hold.
fn size(s: u64) -> Result<i64, StorageError> {
    i64::try_from(s).map_err(|e| StorageError::rejected(format!("size {s} exceeds bigint"), e))
}

/// The earliest time `timestamptz` holds (4714-11-24 00:00 UTC BC), in Unix microseconds;
/// every `i64` above it fits.
const EARLIEST_MICROS: i64 = -210_866_803_200_000_000;

/// Times the database cannot hold are refused here, before anything is sent, so that both
/// projection modes refuse them alike (a queued plan is not parsed until it is projected).
fn micros(t: Timestamp) -> Result<i64, StorageError> {
    let m = t.unix_micros();
    if m < EARLIEST_MICROS {
        return Err(StorageError::Rejected {
            message: format!("time {m} µs since 1970 is before the earliest PostgreSQL timestamp"),
            source: None,
        });
    }
    Ok(m)
}

fn place<'a>(
    repo: &'a RepoRef,
    stamp: &'a Stamp,
    actor: &'a Option<String>,
) -> Result<Place<'a>, StorageError> {
    Ok(Place {
        registry: &repo.registry,
        repository: repo.repository.as_str(),
        at: micros(stamp.at)?,
        event: &stamp.event_id,
        actor: actor.as_deref(),
    })
}

fn count(c: &Count) -> Result<WireCount<'_>, StorageError> {
    Ok(WireCount {
        registry: &c.repo.registry,
        repository: c.repo.repository.as_str(),
        tag: c.tag.as_ref().map(|t| t.as_str()),
        digest: c.digest.as_ref().map(|d| d.as_str()),
        actor: c.actor.as_deref(),
        at: micros(c.at)?,
    })
}

fn content(c: &Content) -> Result<WireCommand<'_>, StorageError> {
    let refs = c
        .references
        .iter()
        .map(|r| {
            Ok(WireRef {
                digest: r.digest.as_str(),
                kind: r.kind.as_str(),
                media_type: r.media_type.as_deref(),
                size: size(r.size)?,
            })
        })
        .collect::<Result<_, StorageError>>()?;
    Ok(WireCommand::Content {
        digest: c.digest.as_str(),
        kind: c.kind.as_str(),
        media_type: c.media_type.as_deref(),
        size: c.size.map(size).transpose()?,
        artifact_type: c.artifact_type.as_deref(),
        seen: micros(c.seen)?,
        refs,
    })
}

fn wire(plan: &Plan) -> Result<WirePlan<'_>, StorageError> {
    let e = &plan.entry;
    let commands = plan
        .commands
        .iter()
        .map(|command| {
            Ok(match command {
                Command::UpsertContent(c) => content(c)?,
                // How the digest was observed stays in the log; liveness treats all alike.
                Command::LinkRepository { repo, digest, stamp, actor, via: _ } => {
                    WireCommand::Link { at: place(repo, stamp, actor)?, digest: digest.as_str() }
                }
                Command::SetTag { repo, tag, digest, stamp, actor } => WireCommand::SetTag {
                    at: place(repo, stamp, actor)?,
                    tag: tag.as_str(),
                    digest: digest.as_str(),
                },
                Command::DeleteTag { repo, tag, stamp, actor } => {
                    WireCommand::DeleteTag { at: place(repo, stamp, actor)?, tag: tag.as_str() }
                }
                Command::DeleteContent { repo, digest, stamp, actor, .. } => {
                    WireCommand::DeleteContent { at: place(repo, stamp, actor)?, digest: digest.as_str() }
                }
                Command::DeleteRepository { repo, stamp, actor } => {
                    WireCommand::DeleteRepository { at: place(repo, stamp, actor)? }
                }
                Command::CountPush(c) => WireCommand::CountPush(count(c)?),
                Command::CountPull(c) => WireCommand::CountPull(count(c)?),
            })
        })
        .collect::<Result<_, StorageError>>()?;
    Ok(WirePlan {
        id: &e.id,
        at: micros(e.timestamp)?,
        action: e.action.as_str(),
        registry: &e.registry,
        repository: e.repository.as_str(),
        tag: e.tag.as_ref().map(|t| t.as_str()),
        digest: e.digest.as_ref().map(|d| d.as_str()),
        media_type: e.media_type.as_deref(),
        kind: e.kind.as_str(),
        actor: e.actor.as_deref(),
        client_ip: e.client_ip.as_deref(),
        method: e.method.as_deref(),
        user_agent: e.user_agent.as_deref(),
        source_instance: e.source_instance.as_deref(),
        counted: e.counted,
        raw: &e.raw,
        commands,
    })
}

/// One event as a deferred writer sends it (migration 13): the log's columns, typed, and the
/// commands as the JSON array the projection reads. Owned: it waits in the batch queue.
#[derive(Debug)]
pub(crate) struct Queued {
    pub(crate) id: String,
    pub(crate) at: i64,
    pub(crate) action: String,
    pub(crate) registry: String,
    pub(crate) repository: String,
    pub(crate) tag: Option<String>,
    pub(crate) digest: Option<String>,
    pub(crate) media_type: Option<String>,
    pub(crate) kind: &'static str,
    pub(crate) actor: Option<String>,
    pub(crate) client_ip: Option<String>,
    pub(crate) method: Option<String>,
    pub(crate) user_agent: Option<String>,
    pub(crate) source_instance: Option<String>,
    pub(crate) counted: bool,
    pub(crate) raw: String,
    pub(crate) commands: String,
}

impl Queued {
    fn of(w: &WirePlan<'_>) -> Result<Self, StorageError> {
        let own = |s: Option<&str>| s.map(str::to_owned);
        Ok(Queued {
            id: w.id.to_owned(),
            at: w.at,
            action: w.action.to_owned(),
            registry: w.registry.to_owned(),
            repository: w.repository.to_owned(),
            tag: own(w.tag),
            digest: own(w.digest),
            media_type: own(w.media_type),
            kind: w.kind,
            actor: own(w.actor),
            client_ip: own(w.client_ip),
            method: own(w.method),
            user_agent: own(w.user_agent),
            source_instance: own(w.source_instance),
            counted: w.counted,
            raw: w.raw.to_owned(),
            commands: serde_json::to_string(&w.commands)
                .map_err(|e| StorageError::internal("encoding commands", e))?,
        })
    }

    /// Whether any text holds a NUL character, which PostgreSQL text cannot: the event is
    /// refused before it is acknowledged, as an inline apply refuses it.
    pub(crate) fn holds_nul(&self) -> bool {
        let texts = [&self.id, &self.action, &self.registry, &self.repository, &self.raw];
        let optional = [
            &self.tag,
            &self.digest,
            &self.media_type,
            &self.actor,
            &self.client_ip,
            &self.method,
            &self.user_agent,
            &self.source_instance,
        ];
        texts.iter().any(|t| t.contains('\0'))
            || optional.iter().any(|t| t.as_deref().is_some_and(|t| t.contains('\0')))
            || crate::project::holds_nul(&self.commands)
    }
}

/// A plan as the batch queue carries it, in the form its projection mode sends.
#[derive(Debug)]
pub(crate) enum Wire {
    /// Inline: the whole plan, for `apply_batch` or `apply_plan`.
    Plan(Box<serde_json::value::RawValue>),
    /// Deferred: for `enqueue` or `enqueue_one`.
    Queued(Box<Queued>),
}

impl PgStore {
    pub(crate) async fn apply_plan(&self, plan: &Plan) -> Result<ApplyOutcome, StorageError> {
        let w = wire(plan)?;
        let wire = match self.projection {
            Projection::Deferred => Wire::Queued(Box::new(Queued::of(&w)?)),
            Projection::Inline => Wire::Plan(
                serde_json::value::to_raw_value(&w)
                    .map_err(|e| StorageError::internal("encoding a plan", e))?,
            ),
        };
        self.batcher.apply(&plan.entry.id, wire).await
    }

    pub(crate) async fn quarantine_record(
        &self,
        r: &notify_core::query::QuarantineRecord,
    ) -> Result<ApplyOutcome, StorageError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let stmt = client.prepare_cached(&self.sql.quarantine).await.map_err(|e| classify("preparing", e))?;
        let n = client
            .execute(&stmt, &[&r.key, &r.registry, &r.received_at.to_datetime(), &r.reason, &r.raw])
            .await
            .map_err(|e| classify("quarantining an event", e))?;
        Ok(if n == 1 { ApplyOutcome::Applied } else { ApplyOutcome::Duplicate })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_form_names_every_command_by_op() {
        let body = br#"{"events":[{"id":"e1","timestamp":"2026-01-01T00:00:00.000001Z","action":"push",
          "target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":7,
          "digest":"sha256:9658c7ed61c5454aa7b8e98e97b79868df635711ba120a5392ad79a7f7b107b9",
          "repository":"a/b","tag":"1"},"request":{"host":"r"},"actor":{"name":"me"}}]}"#;
        let event = notify_core::parse_envelope(body, Some("application/json")).unwrap().events.remove(0);
        let plan = notify_core::translate(&event.unwrap(), &Default::default()).unwrap();
        let json = serde_json::to_value(wire(&plan).unwrap()).unwrap();
        let ops: Vec<&str> =
            json["commands"].as_array().unwrap().iter().map(|c| c["op"].as_str().unwrap()).collect();
        assert_eq!(ops, ["content", "link", "set_tag", "count_push"]);
        assert_eq!(json["at"], 1_767_225_600_000_001_i64);
        assert_eq!(json["commands"][1]["event"], "e1");
        assert_eq!(json["commands"][1]["actor"], "me");
        assert_eq!(json["commands"][0]["size"], 7);
    }

    #[test]
    fn sizes_beyond_bigint_are_rejected_not_wrapped() {
        assert!(matches!(size(u64::MAX), Err(StorageError::Rejected { .. })));
        assert_eq!(size(i64::MAX as u64).unwrap(), i64::MAX);
    }
}
