//! Whether a tag or a link is live, and which delete hides it: the rules of the core's
//! `Tombstone::link_liveness` and `Tombstone::of_repository` (the reference store's), applied
//! to the registers read from MongoDB.
//!
//! Liveness is decided when reading, never stored: a delete can arrive before or after what it
//! hides, so a stored flag would depend on delivery order, while these functions of the
//! last-writer-wins registers do not.

use notify_core::Stamp;
use notify_core::query::Tombstone;

/// A delete register: the greatest delete's stamp and actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Deleted {
    pub(crate) stamp: Stamp,
    pub(crate) actor: Option<String>,
}

impl Deleted {
    pub(crate) fn tombstone(&self) -> Tombstone {
        Tombstone { at: self.stamp.at, event_id: self.stamp.event_id.clone(), actor: self.actor.clone() }
    }
}

/// Whether a link is live, and the delete that hides it if not: the core's
/// [`Tombstone::link_liveness`], on the registers as MongoDB holds them.
pub(crate) fn link_liveness(
    seen: Option<&Stamp>,
    link_deleted: Option<&Deleted>,
    repo_deleted: Option<&Deleted>,
) -> (bool, Option<Tombstone>) {
    Tombstone::link_liveness(seen, link_deleted.map(Deleted::tombstone), repo_deleted.map(Deleted::tombstone))
}

/// Whether a tag set at `set` is live: no delete of its digest's link in its repository, nor of
/// the repository, came after it. (A tag whose register is a delete is never live; callers
/// only ask about tags whose register holds a digest.)
pub(crate) fn tag_is_live(
    set: &Stamp,
    link_deleted: Option<&Deleted>,
    repo_deleted: Option<&Deleted>,
) -> bool {
    link_liveness(Some(set), link_deleted, repo_deleted).0
}

/// The repository's tombstone: its delete, unless something was seen there after it.
pub(crate) fn repository_tombstone(seen: Option<&Stamp>, deleted: Option<&Deleted>) -> Option<Tombstone> {
    Tombstone::of_repository(seen, deleted.map(Deleted::tombstone))
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify_core::Timestamp;

    fn stamp(micros: i64, id: &str) -> Stamp {
        Stamp { at: Timestamp::from_unix_micros(micros), event_id: id.to_owned() }
    }

    fn deleted(micros: i64, id: &str) -> Deleted {
        Deleted { stamp: stamp(micros, id), actor: None }
    }

    #[test]
    fn a_later_delete_hides_and_an_earlier_one_does_not() {
        let seen = stamp(10, "b");
        assert!(tag_is_live(&seen, Some(&deleted(10, "a")), None));
        assert!(!tag_is_live(&seen, Some(&deleted(10, "c")), None));
        assert!(!tag_is_live(&seen, None, Some(&deleted(11, "a"))));
    }

    #[test]
    fn the_greatest_hiding_delete_is_reported() {
        let link = deleted(20, "x");
        let repo = deleted(30, "y");
        let (live, by) = link_liveness(Some(&stamp(10, "a")), Some(&link), Some(&repo));
        assert!(!live);
        assert_eq!(by, Some(repo.tombstone()));
    }

    #[test]
    fn a_link_never_seen_shows_its_own_delete() {
        let link = deleted(20, "x");
        assert_eq!(link_liveness(None, Some(&link), None), (false, Some(link.tombstone())));
    }

    #[test]
    fn a_repository_seen_after_its_delete_has_no_tombstone() {
        let d = deleted(20, "x");
        assert!(repository_tombstone(Some(&stamp(21, "a")), Some(&d)).is_none());
        assert!(repository_tombstone(Some(&stamp(19, "a")), Some(&d)).is_some());
        assert!(repository_tombstone(None, Some(&d)).is_some());
    }
}
