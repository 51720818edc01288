//! The event id is the dedup gate: a redelivered event changes nothing.

use super::{apply_plan, log_ids};
use crate::command::{Command, RepoRef};
use crate::query::EventQuery;
use crate::testkit::fixtures::{BASIC, scenario_dir, scenario_plans};
use crate::testkit::snapshot::snapshot;
use crate::{ApplyOutcome, Policy, Storage};

/// Applies every plan of `registry-2.8/basic`, then every plan again: each second apply is
/// [`ApplyOutcome::Duplicate`] and the store answers exactly as before.
pub async fn applying_a_plan_twice_is_a_duplicate_and_changes_nothing(store: &dyn Storage) {
    let plans = scenario_plans(&scenario_dir(BASIC), &Policy::default());
    for plan in &plans {
        assert_eq!(apply_plan(store, plan).await, ApplyOutcome::Applied, "first apply of {}", plan.entry.id);
    }
    let before = snapshot(store).await;
    for plan in &plans {
        assert_eq!(
            apply_plan(store, plan).await,
            ApplyOutcome::Duplicate,
            "second apply of {}",
            plan.entry.id
        );
    }
    assert_eq!(snapshot(store).await, before, "a second delivery changed the store");
}

/// A plan whose log entry reuses a logged event id is a duplicate even when its content and
/// commands differ: nothing of it is stored (the first delivery wins).
pub async fn a_plan_reusing_a_logged_event_id_is_a_duplicate_whatever_it_carries(store: &dyn Storage) {
    let plans = scenario_plans(&scenario_dir(BASIC), &Policy::default());
    for plan in &plans {
        apply_plan(store, plan).await;
    }
    let before = snapshot(store).await;

    // The tag delete of basic/034, turned into a repository delete of another repository.
    let mut forged = plans[33].clone();
    let other = RepoRef { registry: "elsewhere".to_owned(), repository: "team/other".parse().expect("name") };
    forged.entry.registry = other.registry.clone();
    forged.entry.repository = other.repository.clone();
    forged.entry.raw = r#"{"forged":true}"#.to_owned();
    forged.commands =
        vec![Command::DeleteRepository { repo: other, stamp: forged.entry.stamp(), actor: None }];
    assert_eq!(apply_plan(store, &forged).await, ApplyOutcome::Duplicate, "forged redelivery");
    assert_eq!(snapshot(store).await, before, "a duplicate id changed the store");
    assert_eq!(
        log_ids(store, EventQuery { registry: Some("elsewhere".to_owned()), ..EventQuery::default() }).await,
        Vec::<String>::new(),
        "events of the forged registry"
    );
}
