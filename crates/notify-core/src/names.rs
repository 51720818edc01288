//! Repository names and tags, validated with distribution's reference grammar.
//!
//! A registry only emits names it accepted, so a name outside the grammar means the body did
//! not come from a registry: such an event is quarantined rather than stored in the projection.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a string is not a repository name or tag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The repository name breaks `path-component ('/' path-component)*`.
    #[error(
        "invalid repository name {0:?}: components are [a-z0-9]+ joined by '.', '_', '__' or '-', separated by '/'"
    )]
    Repository(String),
    /// The repository name is longer than distribution's 255 characters.
    #[error("repository name of {0} characters is longer than the 255 allowed")]
    RepositoryTooLong(usize),
    /// The tag breaks `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
    #[error("invalid tag {0:?}: [A-Za-z0-9_] then up to 127 of [A-Za-z0-9_.-]")]
    Tag(String),
}

fn shown(s: &str) -> String {
    s.chars().take(80).collect()
}

/// A repository name such as `library/alpine` (no registry host).
///
/// ```
/// use notify_core::RepositoryName;
/// assert!("team/app".parse::<RepositoryName>().is_ok());
/// assert!("Team/App".parse::<RepositoryName>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RepositoryName(String);

/// A tag such as `1.0` or `latest`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag(String);

fn valid_path_component(c: &str) -> bool {
    // alnum+ ((separator) alnum+)*, separator = [._] | __ | -+
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

impl std::str::FromStr for RepositoryName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > 255 {
            return Err(NameError::RepositoryTooLong(s.len()));
        }
        if s.split('/').all(valid_path_component) {
            Ok(Self(s.to_owned()))
        } else {
            Err(NameError::Repository(shown(s)))
        }
    }
}

impl std::str::FromStr for Tag {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.as_bytes();
        let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
        let ok = !b.is_empty()
            && b.len() <= 128
            && word(b[0])
            && b[1..].iter().all(|&x| word(x) || x == b'.' || x == b'-');
        if ok { Ok(Self(s.to_owned())) } else { Err(NameError::Tag(shown(s))) }
    }
}

macro_rules! string_newtype {
    ($t:ident) => {
        impl $t {
            /// The name as written.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($t), self.0)
            }
        }

        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = std::borrow::Cow::<str>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

string_newtype!(RepositoryName);
string_newtype!(Tag);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_grammar_matches_distribution() {
        for ok in ["a", "library/alpine-test", "a__b/c.d/e---f", "0/1", "team/app"] {
            assert!(ok.parse::<RepositoryName>().is_ok(), "{ok} refused");
        }
        for bad in ["", "/a", "a/", "a//b", "A", "a_", "a..b", "a___b", "a b", "a;drop", "a\nb"] {
            assert!(bad.parse::<RepositoryName>().is_err(), "{bad:?} accepted");
        }
        assert!("a".repeat(256).parse::<RepositoryName>().is_err());
    }

    #[test]
    fn tag_grammar_matches_distribution() {
        for ok in ["latest", "1.0", "_x", "V1-rc.2", &"a".repeat(128)] {
            assert!(ok.parse::<Tag>().is_ok(), "{ok} refused");
        }
        for bad in ["", ".a", "-a", "a/b", "a:b", "$(x)", &"a".repeat(129)] {
            assert!(bad.parse::<Tag>().is_err(), "{bad:?} accepted");
        }
    }
}
