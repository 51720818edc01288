//! Content digests, validated as the OCI image specification defines them.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A content digest `algorithm:encoded`, e.g. `sha256:9658c7…`.
///
/// The grammar is the OCI image specification's; `sha256` and `sha512`, the registered
/// algorithms, must also have the exact length of lowercase hex they define.
///
/// ```
/// use notify_core::Digest;
/// let d: Digest = "sha256:9658c7ed61c5454aa7b8e98e97b79868df635711ba120a5392ad79a7f7b107b9".parse().unwrap();
/// assert_eq!(d.algorithm(), "sha256");
/// assert!("sha256:abc".parse::<Digest>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(String);

/// Why a string is not a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The string has no `:` between algorithm and encoded part.
    #[error("digest {0:?} has no ':' between algorithm and encoded part")]
    MissingSeparator(String),
    /// The algorithm is not `[a-z0-9]+` components joined by `+._-`.
    #[error("digest {0:?} has an invalid algorithm")]
    InvalidAlgorithm(String),
    /// The encoded part has characters outside `[a-zA-Z0-9=_-]`, or is empty.
    #[error("digest {0:?} has an invalid encoded part")]
    InvalidEncoded(String),
    /// A registered algorithm with an encoded part of the wrong length or case.
    #[error("digest {0:?} is not {1} lowercase hex characters")]
    WrongLength(String, usize),
    /// Longer than any real digest; refused before it reaches a store.
    #[error("digest of {0} bytes is longer than the 1024 allowed")]
    TooLong(usize),
}

/// The longest digest accepted: sha512 needs 135 bytes; anything near this is hostile input.
const MAX_LEN: usize = 1024;

impl Digest {
    /// The algorithm, e.g. `sha256`.
    pub fn algorithm(&self) -> &str {
        self.0.split_once(':').map_or("", |(a, _)| a)
    }

    /// The encoded part after the `:`.
    pub fn encoded(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, e)| e)
    }

    /// The digest as written, `algorithm:encoded`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn valid_algorithm(a: &str) -> bool {
    !a.is_empty()
        && a.split(['+', '.', '_', '-'])
            .all(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

impl std::str::FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > MAX_LEN {
            return Err(DigestError::TooLong(s.len()));
        }
        let (alg, enc) = s.split_once(':').ok_or_else(|| DigestError::MissingSeparator(s.to_owned()))?;
        if !valid_algorithm(alg) {
            return Err(DigestError::InvalidAlgorithm(s.to_owned()));
        }
        if enc.is_empty()
            || !enc.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'))
        {
            return Err(DigestError::InvalidEncoded(s.to_owned()));
        }
        let hex_len = match alg {
            "sha256" => Some(64),
            "sha512" => Some(128),
            _ => None,
        };
        if let Some(n) = hex_len {
            let lower_hex = enc.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if enc.len() != n || !lower_hex {
                return Err(DigestError::WrongLength(s.to_owned(), n));
            }
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.0)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "sha256:9658c7ed61c5454aa7b8e98e97b79868df635711ba120a5392ad79a7f7b107b9";

    #[test]
    fn accepts_registered_and_unregistered_algorithms() {
        assert_eq!(SHA.parse::<Digest>().unwrap().encoded().len(), 64);
        assert!("sha512:".to_owned().parse::<Digest>().is_err());
        assert!("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8".parse::<Digest>().is_ok());
    }

    #[test]
    fn rejects_malformed_digests() {
        for bad in [
            "",
            "sha256",
            ":abc",
            "SHA256:abc",
            "sha256:9658C7ED61C5454AA7B8E98E97B79868DF635711BA120A5392AD79A7F7B107B9",
            "sha256:abc",
            "sha256:'; drop table x; --",
            "md5:",
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad:?} was accepted");
        }
        assert!(matches!("a:".repeat(600).parse::<Digest>(), Err(DigestError::TooLong(1200))));
    }
}
