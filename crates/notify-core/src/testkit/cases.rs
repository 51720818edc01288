//! The conformance cases: one behaviour each, on a fresh empty store, with exact answers.
//!
//! Every case is an `async fn(&dyn Storage)` that panics when the store answers anything but
//! what is written in it. Expected values are literals worked out from the fixture files and
//! from the events the case builds, never computed by the reference store. Where a case needs
//! a second store to compare with (order independence), it uses a
//! [`MemoryStore`](crate::MemoryStore) as the reference and still checks literals too.
//!
//! [`conformance_suite!`](crate::conformance_suite) runs them all; they can also be called one
//! by one.

mod content;
mod counting;
mod events;
mod filters;
mod fixture_replays;
mod hostile;
mod idempotence;
mod pagination;
mod quarantine;
mod repositories;
mod retention;
mod tags;
mod unused;

pub use content::{
    a_digest_seen_only_in_a_delete_is_unknown_and_tombstoned, a_link_observed_after_its_delete_is_live_again,
    an_unknown_digest_is_none, content_facts_merge_to_the_greatest_kind_media_type_and_size,
    inventory_items_show_the_current_media_type_of_their_digest,
    the_repositories_and_referrers_of_a_digest_page_past_the_first_page,
};
pub use counting::{
    blob_pulls_are_logged_but_counted_only_when_the_policy_says,
    head_pulls_are_logged_but_counted_only_when_the_policy_says,
    ignored_actors_and_user_agents_are_logged_but_not_counted,
};
pub use events::{
    event_filters_match_alone_and_combined, events_are_newest_first_with_ties_broken_by_id_descending,
    unknown_actions_are_logged_and_filterable_but_project_nothing,
};
pub use filters::the_inventory_and_the_unused_list_keep_the_live_tags_a_filter_names;
pub use fixture_replays::{
    auth_replay_records_named_actors_and_filters_by_actor, basic_replay_counts_manifest_gets_and_pushes_only,
    basic_replay_ends_in_the_state_the_registry_reported,
    basic_replay_in_reverse_order_reaches_the_same_state,
    basic_replay_in_shuffled_order_reaches_the_same_state,
    basic_replay_logs_every_event_newest_first_with_its_raw_json,
    basic_replay_reports_exact_answers_for_every_digest,
    registry3_shape_replays_to_the_same_projection_as_registry28,
    replay_quarantines_events_that_cannot_be_parsed_or_translated,
};
pub use hostile::{
    hostile_but_valid_strings_are_stored_and_matched_verbatim, unknown_json_fields_are_kept_in_the_raw_event,
};
pub use idempotence::{
    a_plan_reusing_a_logged_event_id_is_a_duplicate_whatever_it_carries,
    applying_a_plan_twice_is_a_duplicate_and_changes_nothing,
};
pub use pagination::{
    a_cursor_stays_valid_and_stable_while_new_events_arrive,
    every_list_pages_with_limits_one_and_two_in_byte_order,
    garbage_cursors_are_invalid_cursor_errors_on_every_list, inventory_pages_span_many_repositories_in_order,
    page_limits_are_clamped_to_one_and_a_thousand,
};
pub use quarantine::{
    quarantine_dedups_by_key_and_keeps_the_raw_text_exactly, quarantine_lists_newest_first_and_pages,
};
pub use repositories::{
    registry_names_follow_policy_aliases_and_the_fixed_name,
    repository_search_by_prefix_and_substring_per_registry,
    repository_search_treats_wildcards_and_regex_characters_literally,
};
pub use retention::{
    a_log_larger_than_a_prune_slice_is_pruned_whole_by_one_call,
    pruning_the_log_removes_old_entries_and_leaves_the_projection,
};
pub use tags::{
    a_deleted_tag_comes_back_when_pushed_again,
    a_manifest_delete_by_digest_hides_its_tags_without_a_tag_delete_event,
    a_newer_manifest_delete_replaces_an_older_one_and_a_late_older_one_changes_nothing,
    a_newer_repository_delete_replaces_an_older_one_and_a_late_older_one_changes_nothing,
    a_repository_delete_hides_what_was_seen_before_it_but_not_after,
    a_repository_s_tags_read_at_an_instant_are_the_changes_in_force_then,
    a_tag_history_read_at_an_instant_starts_with_the_change_in_force_then,
    tag_moves_are_listed_newest_first_with_the_previous_digest,
};
pub use unused::{
    a_page_of_unused_tags_examines_at_most_its_walk, unused_since_lists_tags_neither_set_nor_pulled_since,
};

use std::fmt::Debug;

use crate::command::RepoRef;
use crate::query::Page;
use crate::query::{
    DigestInfo, EventQuery, InventoryItem, InventoryQuery, LiveTagFilter, QuarantineRecord, RepositoryQuery,
    RepositoryStats, RepositorySummary, TagHistoryEntry, TagSummary, Tombstone,
};
use crate::testkit::snapshot::{PageShape, read_list, read_pages, read_walked_list};
use crate::{Digest, LogEntry, RepositoryName, Storage, Tag, Timestamp};
use crate::{PageRequest, StorageError};

fn digest(s: &str) -> Digest {
    s.parse().unwrap_or_else(|e| panic!("test digest {s:?}: {e}"))
}

fn tag(s: &str) -> Tag {
    s.parse().unwrap_or_else(|e| panic!("test tag {s:?}: {e}"))
}

fn name(s: &str) -> RepositoryName {
    s.parse().unwrap_or_else(|e| panic!("test repository {s:?}: {e}"))
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap_or_else(|e| panic!("test timestamp {s:?}: {e}"))
}

fn repo(registry: &str, repository: &str) -> RepoRef {
    RepoRef { registry: registry.to_owned(), repository: name(repository) }
}

fn tombstone(at: Timestamp, event_id: &str, actor: Option<&str>) -> Tombstone {
    Tombstone { at, event_id: event_id.to_owned(), actor: actor.map(str::to_owned) }
}

fn some(s: &str) -> Option<String> {
    Some(s.to_owned())
}

/// Every live tag of a repository, read in pages of 2 and checked against one page.
async fn tags_of(store: &dyn Storage, repo: &RepoRef) -> Vec<TagSummary> {
    read_list(&format!("tags of {}/{}", repo.registry, repo.repository), 2, async |p| {
        store.tags(repo, &p).await
    })
    .await
    .items
}

/// The whole history of a tag, read in pages of 2 and checked against one page.
async fn history_of(store: &dyn Storage, repo: &RepoRef, t: &str) -> Vec<TagHistoryEntry> {
    let t = tag(t);
    read_list(&format!("history of {}/{}:{t}", repo.registry, repo.repository), 2, async |p| {
        store.tag_history(repo, &t, &p).await
    })
    .await
    .items
}

/// The whole event log under `query`'s filters, read in pages of 2 and checked against one page.
async fn log_of(store: &dyn Storage, query: EventQuery) -> Vec<LogEntry> {
    read_list(&format!("events {query:?}"), 2, async |p| {
        store.events(&EventQuery { page: p, ..query.clone() }).await
    })
    .await
    .items
}

/// The ids of [`log_of`].
async fn log_ids(store: &dyn Storage, query: EventQuery) -> Vec<String> {
    log_of(store, query).await.into_iter().map(|e| e.id).collect()
}

/// Every repository matching `query`'s filters.
async fn repositories_of(store: &dyn Storage, query: RepositoryQuery) -> Vec<RepositorySummary> {
    read_list(&format!("repositories {query:?}"), 2, async |p| {
        store.repositories(&RepositoryQuery { page: p, ..query.clone() }).await
    })
    .await
    .items
}

/// The names of [`repositories_of`], as `registry/repository`.
async fn repository_names(store: &dyn Storage, query: RepositoryQuery) -> Vec<String> {
    repositories_of(store, query)
        .await
        .into_iter()
        .map(|r| format!("{}/{}", r.registry, r.repository))
        .collect()
}

/// The inventory, of one registry or all.
async fn inventory_of(store: &dyn Storage, registry: Option<&str>) -> Vec<InventoryItem> {
    read_list(&format!("inventory of {registry:?}"), 2, async |p| {
        store
            .inventory(&InventoryQuery {
                filter: LiveTagFilter { registry: registry.map(str::to_owned), ..LiveTagFilter::default() },
                page: p,
            })
            .await
    })
    .await
    .items
}

/// The whole quarantine.
async fn quarantine_of(store: &dyn Storage) -> Vec<QuarantineRecord> {
    read_list("quarantine", 2, async |p| store.quarantined(&p).await).await.items
}

/// The statistics of a repository that must exist.
async fn stats_of(store: &dyn Storage, repo: &RepoRef) -> RepositoryStats {
    store
        .repository_stats(repo)
        .await
        .unwrap_or_else(|e| panic!("repository_stats failed: {e}"))
        .unwrap_or_else(|| panic!("no statistics for {}/{}", repo.registry, repo.repository))
}

/// What the store knows about a digest that must be known.
async fn digest_info(store: &dyn Storage, d: &str) -> DigestInfo {
    store
        .digest(&digest(d))
        .await
        .unwrap_or_else(|e| panic!("digest {d} failed: {e}"))
        .unwrap_or_else(|| panic!("digest {d} is unknown to the store"))
}

/// What the store knows about a digest, if anything.
async fn digest_info_opt(store: &dyn Storage, d: &Digest) -> Option<DigestInfo> {
    store.digest(d).await.unwrap_or_else(|e| panic!("digest {d} failed: {e}"))
}

/// Applies one plan and returns the outcome; panics on a storage error.
async fn apply_plan(store: &dyn Storage, plan: &crate::Plan) -> crate::ApplyOutcome {
    store.apply(plan).await.unwrap_or_else(|e| panic!("apply of {} failed: {e}", plan.entry.id))
}

/// The page shapes a list of `n` items must come in with `limit`.
fn shapes(n: usize, limit: usize) -> Vec<PageShape> {
    let pages = n.div_ceil(limit).max(1);
    (0..pages).map(|i| PageShape { len: limit.min(n - i * limit), has_next: i + 1 < pages }).collect()
}

/// Reads a list with limits 1 and 2 and checks the items' keys and the page shapes.
async fn check_paging<T, K: PartialEq<E> + Debug, E: Debug>(
    what: &str,
    expected: &[E],
    key: impl Fn(&T) -> K,
    fetch: impl AsyncFn(PageRequest) -> Result<Page<T>, StorageError>,
) {
    for limit in [1u32, 2] {
        let listing = read_pages(what, limit, &fetch).await;
        let keys: Vec<K> = listing.items.iter().map(&key).collect();
        assert_eq!(keys, expected, "{what} read with limit {limit}");
        assert_eq!(listing.pages, shapes(expected.len(), limit as usize), "{what}: pages of limit {limit}");
    }
}
