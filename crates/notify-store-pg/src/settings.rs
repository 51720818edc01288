//! The PostgreSQL server's settings that decide how the store holds up as its tables grow,
//! and what to advise when they are left at PostgreSQL's defaults.

use std::fmt;

const MIB: i64 = 1024 * 1024;
const GIB: i64 = 1024 * MIB;

/// The server settings that cost the store most under sustained traffic when small: every
/// event writes a few indexes at random places, so a small buffer cache writes their pages
/// out and reads them back, and frequent checkpoints make the next change of every page
/// write the whole page to the WAL again. `docs/user-guide.md` gives the measurements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// `shared_buffers`, in bytes.
    pub shared_buffers: i64,
    /// `max_wal_size`, in bytes.
    pub max_wal_size: i64,
    /// `checkpoint_timeout`, in seconds.
    pub checkpoint_timeout: i64,
    /// `wal_compression` (`off`, `pglz`, `lz4`, `zstd`).
    pub wal_compression: String,
    /// Whether the shared memory is in huge pages, where the server says: `Some(false)` when
    /// `huge_pages` is `off`, else PostgreSQL 17's `huge_pages_status`; `None` from
    /// PostgreSQL 15 and 16 under the default `huge_pages = try`, which do not tell.
    pub huge_pages: Option<bool>,
}

/// One setting below what sustained traffic needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advice {
    /// The setting's name.
    pub setting: &'static str,
    /// Its value now, as PostgreSQL writes it.
    pub current: String,
    /// What to set it to, at least.
    pub advised: &'static str,
}

impl fmt::Display for Advice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is {}; under sustained traffic set it to {}", self.setting, self.current, self.advised)
    }
}

impl ServerSettings {
    /// The settings below what a store under sustained traffic needs; empty when none is.
    ///
    /// The bounds are the least that kept the database's cost per event flat to 10 million
    /// events on a small machine; the user guide advises more where there is memory and disk.
    ///
    /// ```
    /// use notify_store_pg::ServerSettings;
    /// let defaults = ServerSettings {
    ///     shared_buffers: 128 << 20,
    ///     max_wal_size: 1 << 30,
    ///     checkpoint_timeout: 300,
    ///     wal_compression: "off".to_owned(),
    ///     huge_pages: None,
    /// };
    /// let advice: Vec<&str> = defaults.advice().iter().map(|a| a.setting).collect();
    /// assert_eq!(advice, ["shared_buffers", "max_wal_size", "checkpoint_timeout", "wal_compression"]);
    /// ```
    pub fn advice(&self) -> Vec<Advice> {
        let mut advice = Vec::new();
        if self.shared_buffers < GIB {
            advice.push(Advice {
                setting: "shared_buffers",
                current: size(self.shared_buffers),
                advised: "a quarter of the memory, 1GB or more",
            });
        }
        if self.max_wal_size < 4 * GIB {
            advice.push(Advice {
                setting: "max_wal_size",
                current: size(self.max_wal_size),
                advised: "16GB",
            });
        }
        if self.checkpoint_timeout < 900 {
            advice.push(Advice {
                setting: "checkpoint_timeout",
                current: format!("{}s", self.checkpoint_timeout),
                advised: "15min",
            });
        }
        if self.wal_compression == "off" {
            advice.push(Advice { setting: "wal_compression", current: "off".to_owned(), advised: "lz4" });
        }
        // A backend maps each page of the buffer cache it touches: in 4 KB pages that is a
        // fault per page per connection and a TLB that covers little of a large cache.
        if self.huge_pages == Some(false) && self.shared_buffers >= GIB {
            advice.push(Advice {
                setting: "huge_pages",
                current: "off".to_owned(),
                advised: "on, with vm.nr_hugepages reserving shared_buffers",
            });
        }
        advice
    }
}

/// A size as PostgreSQL writes one: whole gigabytes or megabytes where it can.
fn size(bytes: i64) -> String {
    if bytes >= GIB && bytes % GIB == 0 {
        format!("{}GB", bytes / GIB)
    } else if bytes >= MIB && bytes % MIB == 0 {
        format!("{}MB", bytes / MIB)
    } else {
        format!("{bytes} bytes")
    }
}

/// Reads the settings from the server.
pub(crate) async fn read(client: &tokio_postgres::Client) -> Result<ServerSettings, tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT pg_size_bytes(current_setting('shared_buffers')), \
                    pg_size_bytes(current_setting('max_wal_size')), \
                    (SELECT setting::bigint FROM pg_settings WHERE name = 'checkpoint_timeout'), \
                    current_setting('wal_compression'), \
                    current_setting('huge_pages'), \
                    current_setting('huge_pages_status', true)",
            &[],
        )
        .await?;
    Ok(ServerSettings {
        shared_buffers: row.get(0),
        max_wal_size: row.get(1),
        checkpoint_timeout: row.get(2),
        wal_compression: row.get(3),
        huge_pages: match (row.get::<_, String>(4).as_str(), row.get::<_, Option<String>>(5).as_deref()) {
            ("off", _) | (_, Some("off")) => Some(false),
            (_, Some("on")) => Some(true),
            _ => None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn advised() -> ServerSettings {
        ServerSettings {
            shared_buffers: 4 * GIB,
            max_wal_size: 16 * GIB,
            checkpoint_timeout: 900,
            wal_compression: "lz4".to_owned(),
            huge_pages: Some(true),
        }
    }

    #[test]
    fn the_advised_settings_draw_no_advice_and_each_short_one_draws_its_own() {
        assert_eq!(advised().advice(), []);
        let short = ServerSettings { shared_buffers: 256 * MIB, ..advised() };
        assert_eq!(
            short.advice().iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "shared_buffers is 256MB; under sustained traffic set it to a quarter of the memory, 1GB or more"
            ]
        );
        let short = ServerSettings { max_wal_size: GIB, ..advised() };
        assert_eq!(short.advice().iter().map(|a| a.current.as_str()).collect::<Vec<_>>(), ["1GB"]);
        let short = ServerSettings { checkpoint_timeout: 300, ..advised() };
        assert_eq!(short.advice().iter().map(|a| a.current.as_str()).collect::<Vec<_>>(), ["300s"]);
        let other = ServerSettings { wal_compression: "pglz".to_owned(), ..advised() };
        assert_eq!(other.advice(), []);
    }

    #[test]
    fn huge_pages_are_advised_only_when_known_to_be_off_under_a_large_cache() {
        let off = ServerSettings { huge_pages: Some(false), ..advised() };
        assert_eq!(
            off.advice().iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "huge_pages is off; under sustained traffic set it to on, with vm.nr_hugepages reserving shared_buffers"
            ]
        );
        let unknown = ServerSettings { huge_pages: None, ..advised() };
        assert_eq!(unknown.advice(), []);
        // Under 1 GB of buffers the cache's own advice comes first, and the pages matter little.
        let small = ServerSettings { shared_buffers: 512 * MIB, huge_pages: Some(false), ..advised() };
        assert_eq!(small.advice().iter().map(|a| a.setting).collect::<Vec<_>>(), ["shared_buffers"]);
    }

    #[test]
    fn sizes_read_as_postgresql_writes_them() {
        assert_eq!(size(128 * MIB), "128MB");
        assert_eq!(size(16 * GIB), "16GB");
        assert_eq!(size(1536 * MIB), "1536MB");
        assert_eq!(size(8192), "8192 bytes");
    }
}
