//! proptest generators of registry event sequences and of how they get delivered.
//!
//! [`event_sequence`] draws events over a universe small enough that events collide: two
//! registries (three spellings of `Host`, one of them upper case), three repositories, four
//! tags, six digests with consistent media types (two layers and a config pushed as blobs, two
//! image manifests referencing them, an index of both manifests), timestamps from a twenty
//! second window with two sub-second values (so that equal timestamps happen and ids break the
//! ties), three actors including the anonymous one, and every kind of event a registry sends:
//! blob and manifest pushes with and without tag, `GET` and `HEAD` pulls by tag and by digest,
//! mounts with and without `fromRepository`, deletes of content, tags and repositories in the
//! 2.x and 3.x shapes, and an action no registry sends yet. Event ids are unique.
//!
//! [`delivery_schedule`] turns a sequence into what a receiver may see: every event one to
//! three times, retries arriving right away or a few events later (a registry resends the same
//! event until it is acknowledged), and sometimes everything shuffled.
//!
//! ```
//! use notify_core::testkit::strategy::events_and_delivery;
//! use proptest::strategy::{Strategy, ValueTree};
//! use proptest::test_runner::TestRunner;
//! let mut runner = TestRunner::deterministic();
//! let (events, delivery) = events_and_delivery(1..20).new_tree(&mut runner).unwrap().current();
//! assert!(delivery.len() >= events.len());
//! ```

use proptest::collection::{SizeRange, vec};
use proptest::prelude::*;
use serde_json::json;

use super::builder::{EventBuilder, OCI_LAYER, test_digest, time_micros};
use crate::media_type::OCI_CONFIG;
use crate::{Event, parse_event};

/// The `Host` values events carry: `registry-a.test` in two spellings, and `registry-b.test:5000`.
pub const HOSTS: [&str; 3] = ["registry-a.test", "REGISTRY-A.test", "registry-b.test:5000"];
/// The repositories events name.
pub const REPOSITORIES: [&str; 3] = ["library/alpine", "team/app", "tools"];
/// The tags events name.
pub const TAGS: [&str; 4] = ["latest", "1.0", "1.1", "v2"];
/// The actors events carry; `None` is an anonymous registry's `{}`.
pub const ACTORS: [Option<&str>; 3] = [None, Some("alice"), Some("ci-bot")];
/// The client addresses events carry.
pub const ADDRS: [&str; 3] = ["10.0.0.1:40100", "10.0.0.2:40200", "[fd00::7]:443"];
/// The user agents events carry.
pub const USER_AGENTS: [&str; 3] = ["docker/27.3.1 go/go1.22.7", "skopeo/1.9.3", "containerd/2.0.0"];
/// The unknown action events may carry.
pub const UNKNOWN_ACTION: &str = "replicate";

/// What a digest of the universe is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Blob,
    Manifest { config: usize, layer: usize },
    Index { children: [usize; 2] },
}

/// The universe's content: (digest number, size, shape). Indices are used by `Shape`.
const CONTENT: [(u32, u64, Shape); 6] = [
    (0x101, 1200, Shape::Blob),
    (0x102, 3400, Shape::Blob),
    (0x103, 560, Shape::Blob),
    (0x201, 420, Shape::Manifest { config: 2, layer: 0 }),
    (0x202, 430, Shape::Manifest { config: 2, layer: 1 }),
    (0x301, 510, Shape::Index { children: [3, 4] }),
];

/// Indices of the blobs in [`CONTENT`].
const BLOBS: [usize; 3] = [0, 1, 2];
/// Indices of the manifests and the index in [`CONTENT`].
const MANIFESTS: [usize; 3] = [3, 4, 5];

/// One drawn event, before it becomes JSON.
#[derive(Debug, Clone)]
enum Op {
    PushBlob { blob: usize },
    PushManifest { manifest: usize, tag: Option<usize> },
    Pull { content: usize, tag: Option<usize>, head: bool },
    Mount { blob: usize, from: Option<usize> },
    DeleteContent { content: usize, v3: bool },
    DeleteTag { tag: usize, v3: bool },
    DeleteRepository,
    Unknown { content: usize },
}

#[derive(Debug, Clone)]
struct Spec {
    op: Op,
    host: usize,
    repository: usize,
    actor: usize,
    addr: usize,
    user_agent: usize,
    micros: i64,
    salt: u32,
}

fn op() -> impl Strategy<Value = Op> {
    let tag = proptest::option::weighted(0.7, 0..TAGS.len());
    prop_oneof![
        3 => (0..BLOBS.len()).prop_map(|b| Op::PushBlob { blob: BLOBS[b] }),
        4 => (0..MANIFESTS.len(), tag.clone())
            .prop_map(|(m, tag)| Op::PushManifest { manifest: MANIFESTS[m], tag }),
        4 => (0..CONTENT.len(), tag, any::<bool>())
            .prop_map(|(content, tag, head)| Op::Pull { content, tag, head }),
        1 => (0..BLOBS.len(), proptest::option::of(0..REPOSITORIES.len()))
            .prop_map(|(b, from)| Op::Mount { blob: BLOBS[b], from }),
        1 => (0..CONTENT.len(), any::<bool>()).prop_map(|(content, v3)| Op::DeleteContent { content, v3 }),
        1 => (0..TAGS.len(), any::<bool>()).prop_map(|(tag, v3)| Op::DeleteTag { tag, v3 }),
        1 => Just(Op::DeleteRepository),
        1 => (0..CONTENT.len()).prop_map(|content| Op::Unknown { content }),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        op(),
        0..HOSTS.len(),
        0..REPOSITORIES.len(),
        0..ACTORS.len(),
        0..ADDRS.len(),
        0..USER_AGENTS.len(),
        0..20i64,
        prop_oneof![Just(0i64), Just(250_000i64)],
        any::<u32>(),
    )
        .prop_map(|(op, host, repository, actor, addr, user_agent, second, fraction, salt)| Spec {
            op,
            host,
            repository,
            actor,
            addr,
            user_agent,
            micros: second * 1_000_000 + fraction,
            salt,
        })
}

/// Sets the target of `b` to content `i` of the universe, references included.
fn with_content(b: EventBuilder, i: usize) -> EventBuilder {
    let (n, size, shape) = CONTENT[i];
    let digest = test_digest(n);
    match shape {
        Shape::Blob => b.blob(&digest, size),
        Shape::Manifest { config, layer } => {
            let (config_n, config_size, _) = CONTENT[config];
            let (layer_n, layer_size, _) = CONTENT[layer];
            b.manifest(&digest, size).reference(OCI_CONFIG, &test_digest(config_n), config_size).reference(
                OCI_LAYER,
                &test_digest(layer_n),
                layer_size,
            )
        }
        Shape::Index { children } => children.iter().fold(b.index(&digest, size), |b, &child| {
            let (child_n, child_size, _) = CONTENT[child];
            b.child(&test_digest(child_n), child_size)
        }),
    }
}

fn build(index: usize, spec: &Spec) -> Event {
    let id = format!("{:08x}-{index:04}", spec.salt);
    let at = time_micros(spec.micros);
    let repository = REPOSITORIES[spec.repository];
    let b = match &spec.op {
        Op::PushBlob { blob } => with_content(EventBuilder::push(&id, at, repository), *blob),
        Op::PushManifest { manifest, tag } => {
            let b = with_content(EventBuilder::push(&id, at, repository), *manifest);
            match tag {
                Some(t) => b.tag(TAGS[*t]),
                None => b,
            }
        }
        Op::Pull { content, tag, head } => {
            let b = with_content(EventBuilder::pull(&id, at, repository), *content);
            // Only a manifest can be fetched by tag.
            let b = match (tag, CONTENT[*content].2) {
                (Some(t), Shape::Manifest { .. } | Shape::Index { .. }) => b.tag(TAGS[*t]),
                _ => b,
            };
            if *head { b.head() } else { b }
        }
        Op::Mount { blob, from } => {
            let b = with_content(EventBuilder::mount(&id, at, repository), *blob);
            match from {
                Some(f) => b.from_repository(REPOSITORIES[(*f + usize::from(*f == spec.repository)) % 3]),
                None => b,
            }
        }
        Op::DeleteContent { content, v3 } => {
            let b = EventBuilder::delete(&id, at, repository).digest(&test_digest(CONTENT[*content].0));
            if *v3 { b.set(&["target", "mediaType"], json!("")).size(0) } else { b }
        }
        Op::DeleteTag { tag, v3 } => {
            let b = EventBuilder::delete(&id, at, repository).tag(TAGS[*tag]);
            if *v3 {
                b.set(&["target", "mediaType"], json!("")).set(&["target", "digest"], json!("")).size(0)
            } else {
                b
            }
        }
        Op::DeleteRepository => EventBuilder::delete(&id, at, repository),
        Op::Unknown { content } => {
            with_content(EventBuilder::new(&id, UNKNOWN_ACTION, at, repository), *content)
        }
    };
    let b = b.host(HOSTS[spec.host]).addr(ADDRS[spec.addr]).user_agent(USER_AGENTS[spec.user_agent]);
    let b = match ACTORS[spec.actor] {
        Some(name) => b.actor(name),
        None => b,
    };
    // Compact text: generation dominates the cost of a property test case.
    let text = serde_json::to_string(&b.to_value()).expect("a JSON value always serialises");
    parse_event(index, &text).unwrap_or_else(|e| panic!("generated event does not parse: {e}\n{text}"))
}

/// Sequences of `len` realistic events (see the module docs), each parsed from its JSON so
/// that `raw` is set, in the order a registry would have sent them.
pub fn event_sequence(len: impl Into<SizeRange>) -> impl Strategy<Value = Vec<Event>> {
    vec(spec(), len).prop_map(|specs| specs.iter().enumerate().map(|(i, s)| build(i, s)).collect())
}

/// How `events` may reach a receiver: each event one to three times, each retry right after the
/// first delivery or up to five events later, and in half the schedules everything shuffled.
pub fn delivery_schedule(events: Vec<Event>) -> impl Strategy<Value = Vec<Event>> {
    let n = events.len();
    (vec((1usize..=3, vec(0usize..=5, 2)), n), any::<bool>()).prop_flat_map(move |(copies, shuffle)| {
        let mut keyed: Vec<(usize, usize)> = Vec::new();
        for (i, (count, delays)) in copies.iter().enumerate() {
            keyed.push((i * 8, i));
            for (j, delay) in delays.iter().take(count - 1).enumerate() {
                keyed.push((i * 8 + delay * 8 + j + 1, i));
            }
        }
        keyed.sort();
        let schedule: Vec<Event> = keyed.iter().map(|&(_, i)| events[i].clone()).collect();
        if shuffle { Just(schedule).prop_shuffle().boxed() } else { Just(schedule).boxed() }
    })
}

/// `events` in a random order.
pub fn shuffled(events: Vec<Event>) -> impl Strategy<Value = Vec<Event>> {
    Just(events).prop_shuffle()
}

/// A sequence of `len` events and a delivery schedule of it.
pub fn events_and_delivery(len: impl Into<SizeRange>) -> impl Strategy<Value = (Vec<Event>, Vec<Event>)> {
    event_sequence(len).prop_flat_map(|events| {
        let schedule = delivery_schedule(events.clone());
        (Just(events), schedule)
    })
}

/// A sequence of `len` events and the same events shuffled.
pub fn events_and_shuffle(len: impl Into<SizeRange>) -> impl Strategy<Value = (Vec<Event>, Vec<Event>)> {
    event_sequence(len).prop_flat_map(|events| {
        let shuffled = shuffled(events.clone());
        (Just(events), shuffled)
    })
}
