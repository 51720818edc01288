//! The conformance suite every [`Storage`](crate::Storage) backend runs, and the tools it is built from.
//!
//! [`MemoryStore`](crate::MemoryStore) defines what a store answers; a backend conforms when it
//! answers the same to every query after any set of events, delivered in any order, any number
//! of times. This module checks that in three ways, all backend-agnostic:
//!
//! - [`cases`]: one `async fn(&dyn Storage)` per behaviour, each on a fresh empty store,
//!   asserting exact answers written out by hand (from the fixtures and from events built with
//!   [`builder::EventBuilder`]). [`conformance_suite!`](crate::conformance_suite) turns them
//!   into one `#[test]` per case.
//! - [`snapshot()`]: asks a store every read query and records every answer in a
//!   [`StoreSnapshot`], so that two stores can be compared as a whole
//!   (`snapshot(backend) == snapshot(memory)`).
//! - [`strategy`]: proptest generators of realistic event sequences and of delivery schedules
//!   with duplicates, retries and reordering, for such whole-store comparisons.
//!
//! [`fixtures`] finds and replays the webhook bodies captured from a real registry.
//!
//! A backend crate runs the suite with, in `tests/conformance.rs`:
//!
//! ```ignore
//! notify_core::conformance_suite!(|| async { my_backend::connect_to_fresh_schema().await });
//! ```
//!
//! The suite needs the `testkit` feature of `notify-core` (a dev-dependency
//! `notify-core = { workspace = true, features = ["testkit"] }`); it brings its own tokio
//! runtime, so the backend crate needs no test runtime of its own.

pub mod builder;
pub mod cases;
pub mod fixtures;
pub mod snapshot;
pub mod strategy;

/// The property-testing crate the [`strategy`] generators are written for, so that a backend
/// crate states its own properties with the very same version.
pub use proptest;

pub use builder::EventBuilder;
pub use fixtures::{ReplayReport, replay};
pub use snapshot::{StoreSnapshot, snapshot};

/// The runtime each conformance test runs on: multi-threaded with two workers, so that a
/// backend's connection tasks run beside the test, with I/O and timers enabled.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("cannot start a tokio runtime for the conformance suite")
}

/// Runs a future to completion on a fresh single-threaded runtime: for property tests, whose
/// bodies are synchronous closures.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("cannot start a tokio runtime for a property test")
        .block_on(future)
}

/// Expands to one `#[test]` per conformance case of [`cases`], each named after its case.
///
/// The argument is a factory: an expression that can be called with no arguments and returns
/// a future of a fresh, empty store handle. The handle must deref to a [`Storage`](crate::Storage)
/// (`Box<MemoryStore>`, `Arc<dyn Storage>`, or a guard of the backend's own that drops a
/// temporary schema or database when the test ends). Every case calls the factory once, so
/// cases are independent and the test harness may run them in parallel: the factory must give
/// each call its own schema or database.
///
/// Each test runs on its own [`runtime()`].
///
/// ```ignore
/// // tests/conformance.rs of a backend crate
/// async fn fresh_store() -> Box<PgStore> { /* new schema, migrations */ }
/// notify_core::conformance_suite!(fresh_store);
/// ```
#[macro_export]
macro_rules! conformance_suite {
    ($factory:expr $(,)?) => {
        $crate::conformance_suite!(@cases ($factory)
            basic_replay_ends_in_the_state_the_registry_reported
            basic_replay_reports_exact_answers_for_every_digest
            basic_replay_counts_manifest_gets_and_pushes_only
            basic_replay_logs_every_event_newest_first_with_its_raw_json
            basic_replay_in_reverse_order_reaches_the_same_state
            basic_replay_in_shuffled_order_reaches_the_same_state
            registry3_shape_replays_to_the_same_projection_as_registry28
            auth_replay_records_named_actors_and_filters_by_actor
            replay_quarantines_events_that_cannot_be_parsed_or_translated
            applying_a_plan_twice_is_a_duplicate_and_changes_nothing
            a_plan_reusing_a_logged_event_id_is_a_duplicate_whatever_it_carries
            tag_moves_are_listed_newest_first_with_the_previous_digest
            a_deleted_tag_comes_back_when_pushed_again
            a_manifest_delete_by_digest_hides_its_tags_without_a_tag_delete_event
            a_repository_delete_hides_what_was_seen_before_it_but_not_after
            a_newer_repository_delete_replaces_an_older_one_and_a_late_older_one_changes_nothing
            a_newer_manifest_delete_replaces_an_older_one_and_a_late_older_one_changes_nothing
            a_tag_history_read_at_an_instant_starts_with_the_change_in_force_then
            a_repository_s_tags_read_at_an_instant_are_the_changes_in_force_then
            the_inventory_and_the_unused_list_keep_the_live_tags_a_filter_names
            every_list_pages_with_limits_one_and_two_in_byte_order
            a_cursor_stays_valid_and_stable_while_new_events_arrive
            garbage_cursors_are_invalid_cursor_errors_on_every_list
            page_limits_are_clamped_to_one_and_a_thousand
            inventory_pages_span_many_repositories_in_order
            event_filters_match_alone_and_combined
            events_are_newest_first_with_ties_broken_by_id_descending
            unknown_actions_are_logged_and_filterable_but_project_nothing
            repository_search_by_prefix_and_substring_per_registry
            repository_search_treats_wildcards_and_regex_characters_literally
            registry_names_follow_policy_aliases_and_the_fixed_name
            head_pulls_are_logged_but_counted_only_when_the_policy_says
            blob_pulls_are_logged_but_counted_only_when_the_policy_says
            ignored_actors_and_user_agents_are_logged_but_not_counted
            hostile_but_valid_strings_are_stored_and_matched_verbatim
            unknown_json_fields_are_kept_in_the_raw_event
            quarantine_dedups_by_key_and_keeps_the_raw_text_exactly
            quarantine_lists_newest_first_and_pages
            an_unknown_digest_is_none
            a_digest_seen_only_in_a_delete_is_unknown_and_tombstoned
            content_facts_merge_to_the_greatest_kind_media_type_and_size
            a_link_observed_after_its_delete_is_live_again
            the_repositories_and_referrers_of_a_digest_page_past_the_first_page
            inventory_items_show_the_current_media_type_of_their_digest
            unused_since_lists_tags_neither_set_nor_pulled_since
            a_page_of_unused_tags_examines_at_most_its_walk
            pruning_the_log_removes_old_entries_and_leaves_the_projection
            a_log_larger_than_a_prune_slice_is_pruned_whole_by_one_call
        );
    };
    (@cases ($factory:expr) $($case:ident)*) => {
        $(
            #[test]
            fn $case() {
                $crate::testkit::runtime().block_on(async {
                    let handle = ($factory)().await;
                    let store: &dyn $crate::Storage = &*handle;
                    $crate::testkit::cases::$case(store).await;
                });
            }
        )*
    };
}
