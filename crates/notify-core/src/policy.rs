//! What users configure about translation: naming the registry, and what counts as a pull.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::Event;

/// The registry name used when neither the policy nor the event names one.
pub const DEFAULT_REGISTRY: &str = "default";

/// Translation settings. The default counts manifest GETs and manifest pushes by anyone, and
/// names the registry after the `Host` its clients used.
///
/// ```
/// use notify_core::Policy;
/// let mut policy = Policy::default();
/// policy.aliases.insert("127.0.0.1:5055".into(), "registry.example.com".into());
/// policy.ignored_user_agents.push("trivy/".into());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// A fixed registry name for every event, overriding `request.host` (the server sets it
    /// from `/events/{registry}`).
    pub registry: Option<String>,
    /// Equivalent registry names: host as clients wrote it → canonical name. Keys are compared
    /// case-insensitively.
    pub aliases: BTreeMap<String, String>,
    /// Count `HEAD` requests as pulls. Clients send them to check for content during pushes and
    /// before every pull, so the default is not to.
    pub count_head_requests: bool,
    /// Count blob downloads as pulls. An image pull is one manifest GET and many blob GETs; the
    /// default counts the manifest only.
    pub count_blob_pulls: bool,
    /// Actor names whose pushes and pulls are logged but not counted (CI robots, scanners).
    pub ignored_actors: BTreeSet<String>,
    /// User-agent prefixes whose pushes and pulls are logged but not counted.
    pub ignored_user_agents: Vec<String>,
}

impl Policy {
    /// The canonical registry name of an event: the policy's fixed name, else the event's
    /// `request.host` (lowercased, then mapped through `aliases`), else [`DEFAULT_REGISTRY`].
    pub fn registry_name(&self, event: &Event) -> String {
        if let Some(fixed) = &self.registry {
            return self.canonical(fixed);
        }
        match event.request.host.trim() {
            "" => DEFAULT_REGISTRY.to_owned(),
            host => self.canonical(host),
        }
    }

    fn canonical(&self, name: &str) -> String {
        let lower = name.to_ascii_lowercase();
        self.aliases
            .iter()
            .find(|(alias, _)| alias.eq_ignore_ascii_case(&lower))
            .map_or(lower, |(_, canonical)| canonical.clone())
    }

    /// Whether the actor and user agent of an event may be counted.
    pub fn counts_client(&self, event: &Event) -> bool {
        let actor_ignored = event.actor.name.as_ref().is_some_and(|n| self.ignored_actors.contains(n));
        let agent_ignored = self
            .ignored_user_agents
            .iter()
            .any(|p| !p.is_empty() && event.request.user_agent.starts_with(p.as_str()));
        !actor_ignored && !agent_ignored
    }
}
