//! A deterministic stream of realistic registry events, for the concurrency test and the
//! benchmark: about 70 % pulls (a third of them `HEAD` checks, some of blobs), then blob and
//! manifest pushes, mounts, and a few tag, manifest and repository deletes, spread over many
//! repositories with a handful of tags each.

use notify_core::testkit::builder::{EventBuilder, test_digest, time_micros};

/// A small, seedable generator (SplitMix64): the same seed gives the same events everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TAGS: [&str; 4] = ["latest", "1.0", "1.1", "2.0"];
const ACTORS: [Option<&str>; 4] = [None, Some("alice"), Some("bob"), Some("ci-bot")];

#[derive(Clone)]
struct Image {
    manifest: u32,
    config: u32,
    layer: u32,
}

/// Events over `repositories` repositories.
pub(crate) struct Synthetic {
    rng: Rng,
    repositories: usize,
    images: Vec<Vec<Image>>,
    next_digest: u32,
    emitted: usize,
}

impl Synthetic {
    pub(crate) fn new(repositories: usize, seed: u64) -> Self {
        Synthetic {
            rng: Rng(seed),
            repositories: repositories.max(1),
            images: vec![Vec::new(); repositories.max(1)],
            next_digest: 1,
            emitted: 0,
        }
    }

    fn digest_number(&mut self) -> u32 {
        self.next_digest += 1;
        self.next_digest
    }

    fn repository_name(r: usize) -> String {
        format!("team{}/app{r}", r % 50)
    }

    fn push_image(&mut self, id: &str, at: notify_core::Timestamp, r: usize) -> EventBuilder {
        let image = Image {
            manifest: self.digest_number(),
            config: self.digest_number(),
            layer: self.digest_number(),
        };
        let tag = TAGS[self.rng.below(TAGS.len())];
        self.images[r].push(image.clone());
        EventBuilder::push(id, at, &Self::repository_name(r))
            .manifest(&test_digest(image.manifest), 700)
            .image((&test_digest(image.config), 1500), &[(&test_digest(image.layer), 3_000_000)])
            .tag(tag)
    }
}

impl Iterator for Synthetic {
    type Item = EventBuilder;

    fn next(&mut self) -> Option<EventBuilder> {
        let i = self.emitted;
        self.emitted += 1;
        let id = format!("ev-{i:08}");
        let at = time_micros(i as i64 * 1000 + self.rng.below(1000) as i64);
        let r = self.rng.below(self.repositories);
        let name = Self::repository_name(r);
        let roll = self.rng.below(1000);
        let pick = self.rng.below(usize::MAX);
        let b = match (roll, self.images[r].is_empty()) {
            (_, true) => self.push_image(&id, at, r),
            (0..700, false) => {
                let image = self.images[r][pick % self.images[r].len()].clone();
                let b = EventBuilder::pull(&id, at, &name);
                let b = match pick % 10 {
                    0 | 1 => b.blob(&test_digest(image.layer), 3_000_000),
                    2..=5 => b
                        .manifest(&test_digest(image.manifest), 700)
                        .image((&test_digest(image.config), 1500), &[(&test_digest(image.layer), 3_000_000)])
                        .tag(TAGS[pick % TAGS.len()]),
                    _ => b.manifest(&test_digest(image.manifest), 700),
                };
                if pick % 3 == 0 { b.head() } else { b }
            }
            (700..800, false) => {
                let n = self.digest_number();
                EventBuilder::push(&id, at, &name).blob(&test_digest(n), 1_000_000)
            }
            (800..900, false) => self.push_image(&id, at, r),
            (900..950, false) => {
                let from = (r + 1 + pick % 7) % self.repositories;
                let image = self.images[r][pick % self.images[r].len()].clone();
                EventBuilder::mount(&id, at, &Self::repository_name(from))
                    .blob(&test_digest(image.layer), 3_000_000)
                    .from_repository(&name)
            }
            (950..980, false) => EventBuilder::delete(&id, at, &name).tag(TAGS[pick % TAGS.len()]),
            (980..998, false) => {
                let image = self.images[r][pick % self.images[r].len()].clone();
                EventBuilder::delete(&id, at, &name).digest(&test_digest(image.manifest))
            }
            (_, false) => {
                self.images[r].clear();
                EventBuilder::delete(&id, at, &name)
            }
        };
        let b = if pick % 10 == 0 { b.host("mirror.example") } else { b.host("registry.example") };
        Some(match ACTORS[(pick / 7) % ACTORS.len()] {
            Some(actor) => b.actor(actor),
            None => b,
        })
    }
}
