//! How to reach MongoDB and how to write to it: everything a deployment chooses.
//!
//! The URL is handed to the driver as is, so every option of a MongoDB connection string works
//! (`mongodb://` with a host list, `mongodb+srv://` with DNS seed lists, TLS, credentials,
//! `replicaSet`, `directConnection`, …). What this crate adds on top: the database and a
//! collection-name prefix (several deployments can share one database), the write concern of
//! every write (default: majority with journaling, so an acknowledged event survives a primary
//! failover), the pool size, whether to use multi-document transactions, and the lease of the
//! write protocol used without them (see the crate docs).

use std::time::Duration;

/// The database used when the configuration names none.
pub const DEFAULT_DATABASE: &str = "notify";

/// Whether [`crate::MongoStore`] applies each event in a multi-document transaction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TransactionMode {
    /// Use transactions when the deployment supports them: a replica set member or a `mongos`
    /// (asked with `hello` at start-up); a standalone server gets the marker protocol.
    #[default]
    Auto,
    /// Always use transactions; applying fails on a standalone server.
    Always,
    /// Never use transactions: the marker protocol everywhere.
    Never,
}

/// How many members must have an event before `apply` reports it stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acknowledgement {
    /// A majority of the replica set's voting members (`w: "majority"`).
    Majority,
    /// This many members (`w: n`); 1 is the primary alone.
    Nodes(u32),
}

/// The write concern of every write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteConcernSetting {
    /// Which members acknowledge.
    pub w: Acknowledgement,
    /// Whether they acknowledge only once the write is in their on-disk journal.
    pub journal: bool,
    /// How long to wait for the acknowledgement before failing (transiently); `None`: forever.
    pub timeout: Option<Duration>,
}

impl Default for WriteConcernSetting {
    fn default() -> Self {
        WriteConcernSetting {
            w: Acknowledgement::Majority,
            journal: true,
            timeout: Some(Duration::from_secs(10)),
        }
    }
}

/// Everything [`crate::MongoStore::connect`] needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MongoConfig {
    /// A `mongodb://` or `mongodb+srv://` connection string.
    pub url: String,
    /// The database holding the collections.
    pub database: String,
    /// Prepended to every collection name (`""`: none), e.g. `notify_` gives `notify_events`.
    pub collection_prefix: String,
    /// The write concern of every write.
    pub write_concern: WriteConcernSetting,
    /// Most connections per server; `None`: the driver's default (10) or the URL's
    /// `maxPoolSize`.
    pub max_pool_size: Option<u32>,
    /// How long server selection may take before a call fails as unavailable; `None`: the
    /// driver's default (30 s) or the URL's `serverSelectionTimeoutMS`.
    pub server_selection_timeout: Option<Duration>,
    /// Whether to apply events in transactions.
    pub transactions: TransactionMode,
    /// How long a writer owns a pending event under the marker protocol before another writer
    /// may finish it (see the crate docs). Writers renew it while they work, so it only bounds
    /// how long a crashed writer's event waits for its redelivery to finish it. Clocks of the
    /// writers must agree to within half of it.
    pub apply_lease: Duration,
    /// Whether `connect` finishes events left pending by crashed writers and removes their
    /// leftover markers ([`crate::MongoStore::recover`]).
    pub recover_on_connect: bool,
}

impl MongoConfig {
    /// The defaults for `url`: database [`DEFAULT_DATABASE`], no prefix, majority and journal,
    /// transactions when supported, a 30 s apply lease.
    pub fn new(url: impl Into<String>) -> Self {
        MongoConfig {
            url: url.into(),
            database: DEFAULT_DATABASE.to_owned(),
            collection_prefix: String::new(),
            write_concern: WriteConcernSetting::default(),
            max_pool_size: None,
            server_selection_timeout: None,
            transactions: TransactionMode::Auto,
            apply_lease: Duration::from_secs(30),
            recover_on_connect: true,
        }
    }

    /// The same configuration with another database.
    pub fn with_database(mut self, database: impl Into<String>) -> Self {
        self.database = database.into();
        self
    }

    /// The same configuration with a collection-name prefix.
    pub fn with_collection_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.collection_prefix = prefix.into();
        self
    }
}
