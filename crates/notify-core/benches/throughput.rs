//! Events per second through parsing, translation, and both, over the captured webhook bodies.
//!
//! The input is every fixture body (see `tests/fixture_files`): registry 2.8 and 3.x shapes,
//! anonymous and authenticated, blob and manifest pushes and pulls, mounts and deletes, in the
//! proportions a real push/pull/delete session produced them. Registries POST one event per
//! request by default, so the per-request figures are the realistic ones; the single-envelope
//! variant shows what is left when the per-body overhead is shared.
//!
//! `cargo bench -p notify-core --bench throughput -- --quick` for a fast run.

#![allow(missing_docs, reason = "criterion_group! generates an undocumented public function")]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use notify_core::{Event, MEDIA_TYPE_V1, Policy, parse_envelope, translate};

#[path = "../tests/fixture_files/mod.rs"]
mod fixture_files;

struct Bodies {
    /// One `(body, content type)` per fixture file.
    requests: Vec<(Vec<u8>, &'static str)>,
    /// Every event of every body, parsed.
    events: Vec<Event>,
    /// All events in one envelope.
    batch: Vec<u8>,
}

fn load() -> Bodies {
    let dir = fixture_files::fixtures_dir();
    let requests: Vec<(Vec<u8>, &'static str)> =
        fixture_files::fixture_files(&dir).iter().map(|f| (f.body(), f.content_type())).collect();
    let events: Vec<Event> = requests
        .iter()
        .flat_map(|(body, ct)| parse_envelope(body, Some(ct)).expect("fixtures are envelopes").events)
        .map(|r| r.expect("fixture events parse"))
        .collect();
    let raws: Vec<&str> = events.iter().map(|e| e.raw.as_str()).collect();
    let batch = format!("{{\"events\":[{}]}}", raws.join(",")).into_bytes();
    Bodies { requests, events, batch }
}

fn throughput(c: &mut Criterion) {
    let bodies = load();
    let policy = Policy::default();
    let n = bodies.events.len() as u64;
    let bytes: usize = bodies.requests.iter().map(|(b, _)| b.len()).sum();
    eprintln!("{} fixture bodies, {n} events, {bytes} bytes", bodies.requests.len());

    let mut group = c.benchmark_group("fixtures");
    group.throughput(Throughput::Elements(n));

    group.bench_function("parse", |b| {
        b.iter(|| {
            for (body, ct) in &bodies.requests {
                black_box(parse_envelope(black_box(body), Some(ct)).expect("parses"));
            }
        })
    });

    group.bench_function("translate", |b| {
        b.iter(|| {
            for event in &bodies.events {
                black_box(translate(black_box(event), &policy).expect("translates"));
            }
        })
    });

    group.bench_function("parse_translate", |b| {
        b.iter(|| {
            for (body, ct) in &bodies.requests {
                for event in parse_envelope(black_box(body), Some(ct)).expect("parses").events {
                    black_box(translate(&event.expect("parses"), &policy).expect("translates"));
                }
            }
        })
    });

    group.bench_function("parse_translate_one_envelope", |b| {
        b.iter(|| {
            for event in parse_envelope(black_box(&bodies.batch), Some(MEDIA_TYPE_V1)).expect("parses").events
            {
                black_box(translate(&event.expect("parses"), &policy).expect("translates"));
            }
        })
    });

    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
