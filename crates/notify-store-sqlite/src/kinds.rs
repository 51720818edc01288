//! How the core's enums are stored: content and reference kinds as their rank in the enum's
//! order (so that SQL sorts and compares them as the core does), log kinds by name.

use notify_core::{ContentKind, ReferenceKind, StorageError};

use crate::error::corrupt;

const CONTENT_KINDS: [ContentKind; 4] =
    [ContentKind::Unknown, ContentKind::Blob, ContentKind::Manifest, ContentKind::Index];

const REFERENCE_KINDS: [ReferenceKind; 4] =
    [ReferenceKind::Config, ReferenceKind::Layer, ReferenceKind::Child, ReferenceKind::Subject];

/// The stored rank of a content kind.
pub(crate) fn content_rank(kind: ContentKind) -> i64 {
    CONTENT_KINDS.iter().position(|k| *k == kind).map_or(0, |i| i as i64)
}

/// The content kind of a stored rank; a missing row is [`ContentKind::Unknown`].
pub(crate) fn content_kind(rank: Option<i64>) -> Result<ContentKind, StorageError> {
    match rank {
        None => Ok(ContentKind::Unknown),
        Some(r) => usize::try_from(r)
            .ok()
            .and_then(|i| CONTENT_KINDS.get(i).copied())
            .ok_or_else(|| corrupt("content kind", r)),
    }
}

/// The stored rank of a reference kind.
pub(crate) fn reference_rank(kind: ReferenceKind) -> i64 {
    REFERENCE_KINDS.iter().position(|k| *k == kind).map_or(0, |i| i as i64)
}

/// The reference kind of a stored rank.
pub(crate) fn reference_kind(rank: i64) -> Result<ReferenceKind, StorageError> {
    usize::try_from(rank)
        .ok()
        .and_then(|i| REFERENCE_KINDS.get(i).copied())
        .ok_or_else(|| corrupt("reference kind", rank))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_follow_the_enum_order_and_round_trip() {
        for pair in CONTENT_KINDS.windows(2) {
            assert!(pair[0] < pair[1]);
            assert!(content_rank(pair[0]) < content_rank(pair[1]));
        }
        for pair in REFERENCE_KINDS.windows(2) {
            assert!(pair[0] < pair[1]);
            assert!(reference_rank(pair[0]) < reference_rank(pair[1]));
        }
        for k in CONTENT_KINDS {
            assert_eq!(content_kind(Some(content_rank(k))).unwrap(), k);
        }
        for k in REFERENCE_KINDS {
            assert_eq!(reference_kind(reference_rank(k)).unwrap(), k);
        }
        assert!(content_kind(Some(4)).is_err());
        assert!(reference_kind(-1).is_err());
    }
}
