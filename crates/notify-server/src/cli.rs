//! The command line: subcommands and the configuration flags (see [`crate::config`] for every
//! flag and its environment variable).

use clap::{Parser, Subcommand};

use crate::config::Overrides;

/// Receives container-registry webhook notifications, stores every event, and answers queries
/// about repositories, tags, digests, history, statistics and migration.
#[derive(Debug, Parser)]
#[command(name = "notify-server", version, about, long_about = None)]
pub struct Cli {
    /// What to do; `serve` when left out.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Configuration file, environment variables and flags.
    #[command(flatten)]
    pub overrides: Overrides,
}

/// The subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Serve the webhook and the query API (the default).
    Serve,
    /// Prepare the store (create or upgrade its schema) and exit.
    Migrate,
    /// Print the registry's `notifications:` configuration block for this server.
    RegistryConfig {
        /// Name the registry in the webhook URL (`/events/NAME`), when several registries
        /// notify one server.
        #[arg(long, value_name = "NAME")]
        path_registry: Option<String>,
        /// The endpoint's name in the registry configuration.
        #[arg(long, value_name = "NAME", default_value = "registry-notify")]
        endpoint_name: String,
    },
    /// Validate the configuration, print it with secrets hidden, and exit.
    CheckConfig,
    /// Write the store's raw event log and quarantine as NDJSON (to move to another store).
    Export {
        /// Write to this file instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<std::path::PathBuf>,
    },
    /// Prune the event log now, as `serve` does hourly with a `log_retention`, and exit.
    Prune,
    /// Replay an export into the configured store; running it again is harmless.
    Import {
        /// Read this file instead of standard input.
        #[arg(value_name = "FILE")]
        input: Option<std::path::PathBuf>,
    },
}
