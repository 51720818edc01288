//! Properties of parsing and translation over generated input.
//!
//! - Any [`Event`] the model can hold survives serialisation and parsing unchanged (apart from
//!   `raw`), alone and inside an envelope: the parser and the model agree on the wire format.
//! - No JSON value, however shaped, makes parsing or translation panic; errors are fine. The
//!   server runs both on untrusted bodies, where a panic would be a denial of service.
//! - [`translate`] is deterministic, and follows the table in its module documentation.

use std::collections::BTreeMap;

use notify_core::{
    Action, Actor, Command, Descriptor, Digest, Envelope, Event, MEDIA_TYPE_V1, MEDIA_TYPE_V2, Platform,
    Policy, RepositoryName, Request, Source, Tag, Target, Timestamp, TranslateError, parse_envelope,
    parse_event, translate,
};
use proptest::collection::{btree_map, btree_set, vec};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Sizes are Go `int64`s in the registry; the parser refuses anything larger.
const MAX_SIZE: u64 = i64::MAX as u64;

/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z: the range RFC 3339 can write.
const MIN_MICROS: i64 = -62_135_596_800_000_000;
const MAX_MICROS: i64 = 253_402_300_799_999_999;

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(256)
}

// ---------------------------------------------------------------------------------------------
// Valid events, built from valid pieces.

/// Free text: any characters but NUL (which the parser refuses by design), kept short enough
/// for every field's length limit even in 4-byte characters.
fn text() -> impl Strategy<Value = String> {
    vec(any::<char>().prop_filter("NUL is refused by design", |c| *c != '\0'), 0..16)
        .prop_map(String::from_iter)
}

/// Text for the fields where the empty string means "absent".
fn non_empty_text() -> impl Strategy<Value = String> {
    text().prop_filter("empty means absent", |s| !s.is_empty())
}

fn digest() -> impl Strategy<Value = Digest> {
    prop_oneof![
        4 => "[0-9a-f]{64}".prop_map(|h| format!("sha256:{h}")),
        1 => "[0-9a-f]{128}".prop_map(|h| format!("sha512:{h}")),
        // Unregistered algorithms: any length, a wider alphabet.
        1 => "[a-z0-9]{1,8}([+._-][a-z0-9]{1,8}){0,2}:[a-zA-Z0-9=_-]{1,64}",
    ]
    .prop_filter_map("registered algorithms have a fixed length", |s| s.parse().ok())
}

fn repository() -> impl Strategy<Value = RepositoryName> {
    let component = "[a-z0-9]{1,8}((\\.|_|__|-{1,3})[a-z0-9]{1,8}){0,3}";
    vec(component, 1..=6)
        .prop_map(|c| c.join("/"))
        .prop_filter_map("names are at most 255 characters", |s| s.parse().ok())
}

fn tag() -> impl Strategy<Value = Tag> {
    "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}".prop_map(|s| s.parse().expect("the regex is the tag grammar"))
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        Just(Action::Push),
        Just(Action::Pull),
        Just(Action::Mount),
        Just(Action::Delete),
        text()
            .prop_filter("known actions parse as themselves", |s| {
                !matches!(s.as_str(), "push" | "pull" | "mount" | "delete")
            })
            .prop_map(Action::Other),
    ]
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        (MIN_MICROS..=MAX_MICROS).prop_map(Timestamp::from_unix_micros),
        // Where registries live: this century, in whole seconds and with fractions.
        (946_684_800_000_000i64..4_102_444_800_000_000).prop_map(Timestamp::from_unix_micros),
    ]
}

fn size() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0), Just(MAX_SIZE), 0..=MAX_SIZE, 0..1_000_000u64]
}

fn platform() -> impl Strategy<Value = Platform> {
    (text(), text(), proptest::option::of(text()), vec(text(), 0..3), proptest::option::of(text())).prop_map(
        |(architecture, os, os_version, os_features, variant)| Platform {
            architecture,
            os,
            os_version,
            os_features,
            variant,
        },
    )
}

fn annotations() -> impl Strategy<Value = BTreeMap<String, String>> {
    btree_map(text(), text(), 0..3)
}

fn descriptor() -> impl Strategy<Value = Descriptor> {
    (
        proptest::option::of(non_empty_text()),
        digest(),
        size(),
        vec(text(), 0..3),
        annotations(),
        proptest::option::of(non_empty_text()),
        proptest::option::of(platform()),
    )
        .prop_map(|(media_type, digest, size, urls, annotations, artifact_type, platform)| Descriptor {
            media_type,
            digest,
            size,
            urls,
            annotations,
            artifact_type,
            platform,
        })
}

fn target() -> impl Strategy<Value = Target> {
    let content = (
        proptest::option::of(non_empty_text()),
        proptest::option::of(digest()),
        proptest::option::of(size()),
        proptest::option::of(size()),
    );
    let place = (
        repository(),
        proptest::option::of(repository()),
        proptest::option::of(non_empty_text()),
        proptest::option::of(tag()),
    );
    let extra = (
        vec(descriptor(), 0..4),
        vec(text(), 0..3),
        annotations(),
        proptest::option::of(non_empty_text()),
        proptest::option::of(platform()),
    );
    (content, place, extra).prop_map(
        |(
            (media_type, digest, size, length),
            (repository, from_repository, url, tag),
            (references, urls, annotations, artifact_type, platform),
        )| {
            // Without a digest or a media type, `size: 0` is how 3.x writes "no size" (on tag
            // deletes and deletes by digest); the model says `None`.
            let described = digest.is_some() && media_type.is_some();
            let no_zero = |s: Option<u64>| if described { s } else { s.filter(|&s| s != 0) };
            Target {
                media_type,
                size: no_zero(size),
                length: no_zero(length),
                digest,
                repository,
                from_repository,
                url,
                tag,
                references,
                urls,
                annotations,
                artifact_type,
                platform,
            }
        },
    )
}

fn request() -> impl Strategy<Value = Request> {
    let method = prop_oneof![
        Just(String::new()),
        Just("GET".to_owned()),
        Just("HEAD".to_owned()),
        Just("head".to_owned()),
        Just("PUT".to_owned()),
        Just("DELETE".to_owned()),
        "[A-Za-z]{1,16}",
    ];
    (text(), text(), text(), method, text()).prop_map(|(id, addr, host, method, user_agent)| Request {
        id,
        addr,
        host,
        method,
        user_agent,
    })
}

fn event() -> impl Strategy<Value = Event> {
    (
        non_empty_text(),
        timestamp(),
        action(),
        target(),
        request(),
        proptest::option::of(non_empty_text()),
        (text(), text()),
    )
        .prop_map(|(id, timestamp, action, target, request, name, (addr, instance_id))| Event {
            id,
            timestamp,
            action,
            target,
            request,
            actor: Actor { name },
            source: Source { addr, instance_id },
            raw: String::new(),
        })
}

fn policy() -> impl Strategy<Value = Policy> {
    (
        proptest::option::of(text()),
        btree_map(text(), text(), 0..3),
        any::<bool>(),
        any::<bool>(),
        btree_set(text(), 0..3),
        vec(text(), 0..3),
    )
        .prop_map(
            |(
                registry,
                aliases,
                count_head_requests,
                count_blob_pulls,
                ignored_actors,
                ignored_user_agents,
            )| {
                Policy {
                    registry,
                    aliases,
                    count_head_requests,
                    count_blob_pulls,
                    ignored_actors,
                    ignored_user_agents,
                }
            },
        )
}

fn counting_policy() -> Policy {
    Policy { count_head_requests: true, count_blob_pulls: true, ..Policy::default() }
}

// ---------------------------------------------------------------------------------------------
// Arbitrary JSON, and JSON shaped like envelopes and events with random field types.

/// Strings that get past the first checks of some field, so that generated objects reach the
/// deeper paths of the parser.
fn plausible_string() -> impl Strategy<Value = String> {
    prop_oneof![
        text(),
        digest().prop_map(|d| d.to_string()),
        repository().prop_map(|r| r.to_string()),
        tag().prop_map(|t| t.to_string()),
        timestamp().prop_map(|t| t.to_string()),
        Just("push".to_owned()),
        Just("pull".to_owned()),
        Just("delete".to_owned()),
        Just("HEAD".to_owned()),
        Just("application/vnd.oci.image.index.v1+json".to_owned()),
        Just("http://r/v2/a/manifests/x".to_owned()),
        Just(String::new()),
        Just("sha256:".to_owned()),
        Just("\u{feff}".to_owned()),
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        Just(Value::from(MAX_SIZE + 1)),
        any::<f64>().prop_map(Value::from),
        plausible_string().prop_map(Value::String),
    ]
}

const EVENT_KEYS: &[&str] = &["id", "timestamp", "action", "target", "request", "actor", "source"];
const TARGET_KEYS: &[&str] = &[
    "mediaType",
    "digest",
    "size",
    "length",
    "repository",
    "fromRepository",
    "url",
    "tag",
    "references",
    "urls",
    "annotations",
    "artifactType",
    "platform",
];
const OTHER_KEYS: &[&str] =
    &["events", "method", "useragent", "addr", "host", "name", "instanceID", "os", "architecture"];

fn key() -> impl Strategy<Value = String> {
    let known: Vec<&'static str> = EVENT_KEYS.iter().chain(TARGET_KEYS).chain(OTHER_KEYS).copied().collect();
    prop_oneof![proptest::sample::select(known).prop_map(str::to_owned), text()]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(key(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object with some of `fields`, each holding a value of its plausible shape or, less
/// often, an arbitrary one; plus the odd unknown field.
fn object_with(fields: Vec<(&'static str, BoxedStrategy<Value>)>) -> BoxedStrategy<Value> {
    let (keys, values): (Vec<&'static str>, Vec<BoxedStrategy<Option<Value>>>) = fields
        .into_iter()
        .map(|(k, plausible)| {
            // Mostly plausible: each field is a chance to fail, and whole events that parse are
            // needed too, to reach translation.
            let value = prop_oneof![
                1 => Just(None),
                20 => plausible.prop_map(Some),
                1 => json_value().prop_map(Some),
            ];
            (k, value.boxed())
        })
        .unzip();
    let extra = prop_oneof![4 => Just(BTreeMap::new()), 1 => btree_map(key(), json_value(), 1..3)];
    (values, extra)
        .prop_map(move |(values, extra)| {
            let mut object: Map<String, Value> = extra.into_iter().collect();
            for (k, v) in keys.iter().zip(values) {
                if let Some(v) = v {
                    object.insert((*k).to_owned(), v);
                }
            }
            Value::Object(object)
        })
        .boxed()
}

fn string_of(s: impl Strategy<Value = String> + 'static) -> BoxedStrategy<Value> {
    s.prop_map(Value::String).boxed()
}

fn one_of(values: &'static [&'static str]) -> BoxedStrategy<Value> {
    string_of(proptest::sample::select(values).prop_map(str::to_owned))
}

fn size_value() -> BoxedStrategy<Value> {
    size().prop_map(Value::from).boxed()
}

const MEDIA_TYPES: &[&str] = &[
    "",
    "application/octet-stream",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json; charset=utf-8",
    "application/vnd.oci.image.config.v1+json",
];

fn platform_shaped() -> BoxedStrategy<Value> {
    object_with(vec![
        ("architecture", string_of(text())),
        ("os", string_of(text())),
        ("os.version", string_of(text())),
        ("os.features", vec(text().prop_map(Value::String), 0..2).prop_map(Value::Array).boxed()),
        ("variant", string_of(text())),
    ])
}

fn string_map() -> BoxedStrategy<Value> {
    btree_map(text(), text().prop_map(Value::String), 0..2)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
        .boxed()
}

fn target_shaped() -> BoxedStrategy<Value> {
    let reference = object_with(vec![
        ("mediaType", one_of(MEDIA_TYPES)),
        ("digest", string_of(digest().prop_map(|d| d.to_string()))),
        ("size", size_value()),
        ("annotations", string_map()),
        ("platform", platform_shaped()),
    ]);
    let maybe_empty = |s: BoxedStrategy<String>| string_of(prop_oneof![4 => s, 1 => Just(String::new())]);
    object_with(vec![
        ("mediaType", one_of(MEDIA_TYPES)),
        ("digest", maybe_empty(digest().prop_map(|d| d.to_string()).boxed())),
        ("size", size_value()),
        ("length", size_value()),
        ("repository", string_of(repository().prop_map(|r| r.to_string()))),
        ("fromRepository", maybe_empty(repository().prop_map(|r| r.to_string()).boxed())),
        ("url", one_of(&["", "http://r/v2/a/manifests/sha256:00", "http://r/v2/a/blobs/x?y#/manifests/"])),
        ("tag", maybe_empty(tag().prop_map(|t| t.to_string()).boxed())),
        ("references", vec(reference, 0..3).prop_map(Value::Array).boxed()),
        ("urls", vec(text().prop_map(Value::String), 0..2).prop_map(Value::Array).boxed()),
        ("annotations", string_map()),
        ("artifactType", string_of(text())),
        ("platform", platform_shaped()),
    ])
}

fn event_shaped() -> BoxedStrategy<Value> {
    let method = one_of(&["GET", "HEAD", "head", "PUT", "DELETE", ""]);
    object_with(vec![
        ("id", string_of(non_empty_text())),
        ("timestamp", string_of(timestamp().prop_map(|t| t.to_string()))),
        ("action", one_of(&["push", "pull", "mount", "delete", "", "PUSH", "copy"])),
        ("target", target_shaped()),
        (
            "request",
            object_with(vec![
                ("id", string_of(text())),
                ("addr", one_of(&["", "10.0.0.1:5000", "[::1]:80", "::1", "a:b:c"])),
                ("host", string_of(text())),
                ("method", method),
                ("useragent", string_of(text())),
            ]),
        ),
        ("actor", object_with(vec![("name", string_of(text()))])),
        ("source", object_with(vec![("addr", string_of(text())), ("instanceID", string_of(text()))])),
    ])
}

fn envelope_shaped() -> impl Strategy<Value = Value> {
    let item = prop_oneof![4 => event_shaped(), 1 => json_value()];
    (vec(item, 0..4), btree_map(key(), json_value(), 0..2)).prop_map(|(events, extra)| {
        let mut object: Map<String, Value> = extra.into_iter().collect();
        object.insert("events".to_owned(), Value::Array(events));
        Value::Object(object)
    })
}

/// Parses `body` and translates every event it yields with a few policies; any panic fails
/// the property, errors do not.
fn parse_and_translate(body: &[u8]) -> Option<usize> {
    let parsed = parse_envelope(body, Some(MEDIA_TYPE_V1)).ok()?;
    for event in parsed.events.iter().flatten() {
        for policy in [Policy::default(), counting_policy()] {
            let _ = translate(event, &policy);
        }
    }
    Some(parsed.events.len())
}

// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn events_survive_serialisation_and_parsing(event in event(), pretty in any::<bool>()) {
        let json = if pretty {
            serde_json::to_string_pretty(&event)
        } else {
            serde_json::to_string(&event)
        }.expect("an Event serialises");
        let mut parsed = parse_event(0, &json).map_err(|e| TestCaseError::fail(format!("{e}\n{json}")))?;
        prop_assert_eq!(&parsed.raw, &json);
        parsed.raw.clear();
        prop_assert_eq!(parsed, event);
    }

    #[test]
    fn envelopes_survive_serialisation_and_parsing(events in vec(event(), 0..4), v2 in any::<bool>()) {
        let body = serde_json::to_vec(&Envelope { events: events.clone() }).expect("an Envelope serialises");
        let content_type = if v2 { MEDIA_TYPE_V2 } else { MEDIA_TYPE_V1 };
        let parsed = parse_envelope(&body, Some(content_type)).expect("a serialised Envelope parses");
        prop_assert_eq!(parsed.events.len(), events.len());
        for (result, expected) in parsed.events.into_iter().zip(events) {
            let mut event = result.map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(!event.raw.is_empty());
            event.raw.clear();
            prop_assert_eq!(event, expected);
        }
    }

    #[test]
    fn arbitrary_json_never_panics(value in json_value()) {
        let body = serde_json::to_vec(&value).expect("a Value serialises");
        let count = parse_and_translate(&body);
        let _ = parse_event(0, &String::from_utf8_lossy(&body));
        // Only an object with an `events` array is an envelope, and then every element is
        // accounted for, modelled or explained.
        let events = value.as_object().and_then(|o| o.get("events")).and_then(Value::as_array);
        prop_assert_eq!(count, events.map(Vec::len));
    }

    #[test]
    fn envelope_shaped_json_never_panics(value in envelope_shaped()) {
        let body = serde_json::to_vec(&value).expect("a Value serialises");
        let count = parse_and_translate(&body);
        let events = value["events"].as_array().map(Vec::len);
        prop_assert_eq!(count, events);
    }

    #[test]
    fn event_shaped_json_never_panics(value in event_shaped()) {
        let raw = serde_json::to_string(&value).expect("a Value serialises");
        if let Ok(event) = parse_event(0, &raw) {
            prop_assert_eq!(&event.raw, &raw);
            for policy in [Policy::default(), counting_policy()] {
                let _ = translate(&event, &policy);
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(body in vec(any::<u8>(), 0..512)) {
        let _ = parse_and_translate(&body);
    }

    #[test]
    fn translation_is_deterministic(event in event(), policy in policy()) {
        let first = translate(&event, &policy);
        prop_assert_eq!(&first, &translate(&event, &policy));
        prop_assert_eq!(&first, &translate(&event.clone(), &policy.clone()));
    }

    #[test]
    fn translation_follows_the_action_table(event in event(), policy in policy()) {
        let t = &event.target;
        match (&event.action, translate(&event, &policy)) {
            (Action::Push | Action::Pull | Action::Mount, Err(TranslateError::MissingDigest(a))) => {
                prop_assert!(t.digest.is_none());
                prop_assert_eq!(&a, &event.action);
            }
            (_, Err(e)) => prop_assert!(false, "unexpected {e}"),
            (action, Ok(plan)) => {
                prop_assert_eq!(&plan.entry.id, &event.id);
                prop_assert_eq!(&plan.entry.action, action);
                let counted = plan
                    .commands
                    .iter()
                    .any(|c| matches!(c, Command::CountPull(_) | Command::CountPush(_)));
                prop_assert_eq!(plan.entry.counted, counted);
                if event.request.method.eq_ignore_ascii_case("HEAD") && !policy.count_head_requests {
                    prop_assert!(!plan.commands.iter().any(|c| matches!(c, Command::CountPull(_))));
                }
                match action {
                    Action::Delete => prop_assert_eq!(plan.commands.len(), 1),
                    Action::Other(_) => prop_assert!(plan.commands.is_empty()),
                    _ => {
                        let upsert_then_link = matches!(
                            plan.commands[..2],
                            [Command::UpsertContent(_), Command::LinkRepository { .. }]
                        );
                        prop_assert!(upsert_then_link, "{:?}", plan.commands);
                    }
                }
            }
        }
    }
}
