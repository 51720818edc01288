//! A synthetic but realistic stream of registry events, generated deterministically.
//!
//! Thousands of repositories, whose popularity follows a steep power law (a few are pulled
//! all the time, most rarely). Each starts with an image pushed the way a client pushes it
//! (layers and config as blobs, then the manifest by tag); from then on the mix is what a
//! busy registry sees: about 70 % pulls (manifest GETs by tag and by digest, the HEAD checks
//! clients send before each pull, blob GETs), about 25 % pushes (new versions: blobs, manifest,
//! a tag move, sometimes a cross-repository mount), and deletes of tags, manifests and blobs.
//! Events are JSON text parsed and translated by the core, exactly as the server would, so
//! the log holds realistic raw events. A few malformed events go to the quarantine, and about
//! 1 % of deliveries repeat a recent event.

use notify_core::query::QuarantineRecord;
use notify_core::{Plan, Policy, Timestamp, parse_event, translate};

/// What the server would hand the store for one received event.
#[derive(Clone)]
pub(crate) enum Work {
    /// An event to apply.
    Apply(Box<Plan>),
    /// An event to quarantine.
    Quarantine(Box<QuarantineRecord>),
}

/// SplitMix64: small, fast, and the same sequence on every machine.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Skewed towards 0: index `i` is drawn about `1/(i+1)` as often as index 0.
    pub(crate) fn popular(&mut self, n: usize) -> usize {
        let x = (n as f64 + 1.0).powf(self.unit()) - 1.0;
        (x as usize).min(n - 1)
    }

    fn hex(&mut self, len: usize) -> String {
        let mut s = String::with_capacity(len + 16);
        while s.len() < len {
            s.push_str(&format!("{:016x}", self.next()));
        }
        s.truncate(len);
        s
    }

    fn digest(&mut self) -> String {
        format!("sha256:{}", self.hex(64))
    }

    fn uuid(&mut self) -> String {
        let h = self.hex(32);
        format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
    }
}

const ORGS: [&str; 12] = [
    "library",
    "team-web",
    "team-data",
    "platform",
    "ml",
    "payments",
    "search",
    "infra",
    "mobile",
    "qa",
    "sec",
    "ops",
];
const WORDS: [&str; 16] = [
    "api",
    "worker",
    "frontend",
    "gateway",
    "auth",
    "billing",
    "indexer",
    "cache",
    "proxy",
    "scheduler",
    "notifier",
    "exporter",
    "collector",
    "builder",
    "runner",
    "store",
];
const ACTORS: [Option<&str>; 6] = [None, None, None, Some("alice"), Some("bob"), Some("ci-bot")];
const USER_AGENTS: [&str; 4] = [
    "docker/27.3.1 go/go1.22.7 git-commit/41ca978 kernel/6.8.0 os/linux arch/amd64",
    "containerd/2.0.0",
    "skopeo/1.9.3",
    "cri-o/1.31.1",
];
const HOST: &str = "registry.example.com";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// One image: a manifest and what it references.
#[derive(Clone)]
struct Image {
    manifest: String,
    config: String,
    layers: Vec<(String, u64)>,
}

struct Repo {
    name: String,
    /// Tags and the image each points at.
    tags: Vec<(String, Image)>,
    next_version: u32,
}

/// The generator's state: the registry as the events have built it so far.
pub(crate) struct Workload {
    rng: Rng,
    repos: Vec<Repo>,
    /// Base layers shared by many images (as a common base image is).
    base_layers: Vec<(String, u64)>,
    /// Repositories in the order they first received an image: the earliest are the most
    /// popular ones.
    populated: Vec<usize>,
    micros: i64,
    instance: String,
    policy: Policy,
}

impl Workload {
    pub(crate) fn new(repositories: usize, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let base_layers = (0..40).map(|_| (rng.digest(), 2_000_000 + rng.next() % 30_000_000)).collect();
        let repos = (0..repositories)
            .map(|i| Repo {
                name: format!("{}/{}-{}", ORGS[i % ORGS.len()], WORDS[(i / ORGS.len()) % WORDS.len()], i),
                tags: Vec::new(),
                next_version: 1,
            })
            .collect();
        let instance = rng.uuid();
        Workload {
            rng,
            repos,
            base_layers,
            populated: Vec::new(),
            micros: 1_767_225_600_000_000,
            instance,
            policy: Policy::default(),
        }
    }

    /// Every repository name, for the read benchmarks.
    pub(crate) fn repository_names(&self) -> Vec<String> {
        self.repos.iter().map(|r| r.name.clone()).collect()
    }

    /// `n` events.
    /// `n` deliveries: events, and about 1 % redeliveries of one of the last fifty (a
    /// registry resends an event until it sees it acknowledged).
    pub(crate) fn generate(&mut self, n: usize) -> Vec<Work> {
        let mut out: Vec<Work> = Vec::with_capacity(n);
        while out.len() < n {
            if !out.is_empty() && self.rng.below(100) == 0 {
                let back = self.rng.below(out.len().min(50));
                let again = out[out.len() - 1 - back].clone();
                out.push(again);
            } else {
                self.step(&mut out);
            }
        }
        out.truncate(n);
        out
    }

    fn event(&mut self, action: &str, repo: &str, target: String, method: &str) -> String {
        self.micros += 1 + (self.rng.next() % 40_000) as i64;
        let at = Timestamp::from_unix_micros(self.micros);
        let id = self.rng.uuid();
        let actor = match ACTORS[self.rng.below(ACTORS.len())] {
            Some(name) => format!("{{\"name\":\"{name}\"}}"),
            None => "{}".to_owned(),
        };
        let addr = format!(
            "10.{}.{}.{}:{}",
            self.rng.below(4),
            self.rng.below(256),
            self.rng.below(256),
            30000 + self.rng.below(30000)
        );
        let agent = USER_AGENTS[self.rng.below(USER_AGENTS.len())];
        let request_id = self.rng.uuid();
        format!(
            "{{\"id\":\"{id}\",\"timestamp\":\"{at}\",\"action\":\"{action}\",\"target\":{{\"repository\":\"{repo}\"{target}}},\
             \"request\":{{\"id\":\"{request_id}\",\"addr\":\"{addr}\",\"host\":\"{HOST}\",\"method\":\"{method}\",\
             \"useragent\":\"{agent}\"}},\"actor\":{actor},\"source\":{{\"addr\":\"registry-0:5000\",\"instanceID\":\"{}\"}}}}",
            self.instance
        )
    }

    fn push(&mut self, raw: String, out: &mut Vec<Work>) {
        let event = match parse_event(0, &raw) {
            Ok(event) => event,
            Err(e) => panic!("the generator wrote an event that does not parse: {e}\n{raw}"),
        };
        match translate(&event, &self.policy) {
            Ok(plan) => out.push(Work::Apply(Box::new(plan))),
            Err(e) => panic!("the generator wrote an event that does not translate: {e}"),
        }
    }

    fn blob_target(repo: &str, digest: &str, size: u64, media_type: &str) -> String {
        format!(
            ",\"mediaType\":\"{media_type}\",\"digest\":\"{digest}\",\"size\":{size},\"length\":{size},\
             \"url\":\"https://{HOST}/v2/{repo}/blobs/{digest}\""
        )
    }

    fn manifest_target(repo: &str, image: &Image, tag: Option<&str>) -> String {
        let mut refs =
            format!("{{\"mediaType\":\"{OCI_CONFIG}\",\"digest\":\"{}\",\"size\":1470}}", image.config);
        for (layer, size) in &image.layers {
            refs.push_str(&format!(
                ",{{\"mediaType\":\"{OCI_LAYER}\",\"digest\":\"{layer}\",\"size\":{size}}}"
            ));
        }
        let reference = tag.unwrap_or(&image.manifest);
        let tag = tag.map(|t| format!(",\"tag\":\"{t}\"")).unwrap_or_default();
        format!(
            ",\"mediaType\":\"{OCI_MANIFEST}\",\"digest\":\"{}\",\"size\":{},\"length\":{}{tag},\
             \"url\":\"https://{HOST}/v2/{repo}/manifests/{reference}\",\"references\":[{refs}]",
            image.manifest,
            500 + image.layers.len() * 200,
            500 + image.layers.len() * 200
        )
    }

    /// A new image version pushed to repository `r` under a tag: blobs, then the manifest.
    fn push_image(&mut self, r: usize, out: &mut Vec<Work>) {
        let name = self.repos[r].name.clone();
        let version = self.repos[r].next_version;
        self.repos[r].next_version += 1;
        let base = self.base_layers[self.rng.popular(self.base_layers.len())].clone();
        let mut layers = vec![base];
        for _ in 0..1 + self.rng.below(3) {
            layers.push((self.rng.digest(), 10_000 + self.rng.next() % 50_000_000));
        }
        let image = Image { manifest: self.rng.digest(), config: self.rng.digest(), layers };
        for (i, (layer, size)) in image.layers.iter().enumerate() {
            // Most clients find the shared base layer present (a HEAD) or mount it.
            if i == 0 && self.rng.below(3) > 0 {
                let raw = self.event(
                    "pull",
                    &name,
                    Self::blob_target(&name, layer, *size, "application/octet-stream"),
                    "HEAD",
                );
                self.push(raw, out);
            } else {
                let raw = self.event(
                    "push",
                    &name,
                    Self::blob_target(&name, layer, *size, "application/octet-stream"),
                    "PUT",
                );
                self.push(raw, out);
            }
        }
        let raw = self.event(
            "push",
            &name,
            Self::blob_target(&name, &image.config, 1470, "application/octet-stream"),
            "PUT",
        );
        self.push(raw, out);
        let tag = if self.rng.below(3) == 0 { "latest".to_owned() } else { format!("v1.{version}") };
        let raw = self.event("push", &name, Self::manifest_target(&name, &image, Some(&tag)), "PUT");
        self.push(raw, out);
        if self.repos[r].next_version == 2 {
            self.populated.push(r);
        }
        let repo = &mut self.repos[r];
        repo.tags.retain(|(t, _)| *t != tag);
        repo.tags.push((tag, image));
    }

    fn step(&mut self, out: &mut Vec<Work>) {
        // Out of 797 draws: 700 pulls, 45 image pushes (about five events each), 20 mounts,
        // 30 deletes, one quarantined event, one repository delete in twenty draws of 795.
        let draw = self.rng.below(797);
        // New versions go to any repository, popular or not; everything else happens in a
        // repository that holds images, mostly the popular ones.
        let pushing = (700..=744).contains(&draw) || self.populated.is_empty();
        let r = match pushing {
            true if self.rng.below(2) == 0 => self.rng.below(self.repos.len()),
            true => self.rng.popular(self.repos.len()),
            false => self.populated[self.rng.popular(self.populated.len())],
        };
        if pushing || self.repos[r].tags.is_empty() {
            self.push_image(r, out);
            return;
        }
        let name = self.repos[r].name.clone();
        let (tag, image) = {
            let tags = &self.repos[r].tags;
            tags[self.rng.below(tags.len())].clone()
        };
        match draw {
            0..=209 => {
                let raw = self.event("pull", &name, Self::manifest_target(&name, &image, Some(&tag)), "HEAD");
                self.push(raw, out);
            }
            210..=419 => {
                let raw = self.event("pull", &name, Self::manifest_target(&name, &image, Some(&tag)), "GET");
                self.push(raw, out);
            }
            420..=489 => {
                let raw = self.event("pull", &name, Self::manifest_target(&name, &image, None), "GET");
                self.push(raw, out);
            }
            490..=699 => {
                let (layer, size) = image.layers[self.rng.below(image.layers.len())].clone();
                let raw = self.event("pull", &name, Self::blob_target(&name, &layer, size, OCI_LAYER), "GET");
                self.push(raw, out);
            }
            // A cross-repository mount of a layer from a popular repository.
            745..=764 => {
                let from = self.rng.popular(self.repos.len());
                if let Some((_, img)) = self.repos[from].tags.first().cloned() {
                    let from_name = self.repos[from].name.clone();
                    let (layer, size) = img.layers[img.layers.len() - 1].clone();
                    let target = format!(
                        "{},\"fromRepository\":\"{from_name}\"",
                        Self::blob_target(&name, &layer, size, "application/octet-stream")
                    );
                    let raw = self.event("mount", &name, target, "POST");
                    self.push(raw, out);
                }
            }
            // A manifest deleted by digest, and the registry's tag delete after it.
            765..=779 => {
                let raw =
                    self.event("delete", &name, format!(",\"digest\":\"{}\"", image.manifest), "DELETE");
                self.push(raw, out);
                let raw = self.event("delete", &name, format!(",\"tag\":\"{tag}\""), "DELETE");
                self.push(raw, out);
                self.repos[r].tags.retain(|(t, _)| *t != tag);
            }
            780..=789 => {
                let raw = self.event("delete", &name, format!(",\"tag\":\"{tag}\""), "DELETE");
                self.push(raw, out);
                self.repos[r].tags.retain(|(t, _)| *t != tag);
            }
            790..=794 => {
                let (layer, _) = image.layers[image.layers.len() - 1].clone();
                let raw = self.event("delete", &name, format!(",\"digest\":\"{layer}\""), "DELETE");
                self.push(raw, out);
            }
            795 if self.rng.below(20) == 0 => {
                let raw = self.event("delete", &name, String::new(), "DELETE");
                self.push(raw, out);
                self.repos[r].tags.clear();
            }
            // Something that is no event the model holds: quarantined.
            796 => {
                let raw = format!(
                    "{{\"id\":\"{}\",\"timestamp\":\"yesterday\",\"action\":\"push\"}}",
                    self.rng.uuid()
                );
                let at = Timestamp::from_unix_micros(self.micros);
                let record = QuarantineRecord::new(None, raw, "timestamp: not RFC 3339".to_owned(), None, at);
                out.push(Work::Quarantine(Box::new(record)));
            }
            _ => {
                let raw = self.event("pull", &name, Self::manifest_target(&name, &image, Some(&tag)), "GET");
                self.push(raw, out);
            }
        }
    }
}
