//! `notify-server`: reads the configuration, opens the store, and runs the router (or one of
//! the maintenance subcommands). Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser as _;
use notify_server::cli::{Cli, Command};
use notify_server::config::{ApiAuth, Config, WebhookAuth, check_registry_name};
use notify_server::metrics::Metrics;
use notify_server::registry_config::{RegistryConfigOptions, render};
use notify_server::retention::{self, Retention};
use notify_server::{logging, server, shutdown, store, transfer};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(&cli.overrides) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("notify-server: {e}");
            return ExitCode::from(2);
        }
    };
    // Built here rather than by `#[tokio::main]`: its size is configuration.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.worker_threads)
        .enable_all()
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(run(cli.command.unwrap_or(Command::Serve), config)),
        Err(e) => {
            eprintln!("notify-server: cannot start the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> ExitCode {
    let result = match command {
        Command::CheckConfig => {
            print!("{}", config.describe());
            println!("configuration is valid");
            Ok(())
        }
        Command::RegistryConfig { path_registry, endpoint_name } => {
            if let Some(Err(e)) = path_registry.as_deref().map(check_registry_name) {
                eprintln!("notify-server: --path-registry: {e}");
                return ExitCode::from(2);
            }
            print!("{}", render(&config, &RegistryConfigOptions { path_registry, endpoint_name }));
            Ok(())
        }
        Command::Migrate => {
            logging::init(&config.log);
            store::migrate(config.store_url.expose())
                .await
                .map(|done| println!("{done}"))
                .map_err(|e| e.to_string())
        }
        Command::Serve => {
            logging::init(&config.log);
            serve(&config).await
        }
        Command::Export { output } => {
            logging::init(&config.log);
            export(&config, output.as_deref()).await
        }
        Command::Prune => {
            let Some(period) = config.log_retention else {
                eprintln!(
                    "notify-server: prune: no log_retention is set (e.g. --log-retention 90d), so the log is kept forever"
                );
                return ExitCode::from(2);
            };
            logging::init(&config.log);
            prune(&config, period).await
        }
        Command::Import { input } => {
            logging::init(&config.log);
            import(&config, input.as_deref()).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("notify-server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: &Config) -> Result<(), String> {
    let listener = server::bind(config).map_err(|e| e.to_string())?;
    let store = store::open(config.store_url.expose()).await.map_err(|e| e.to_string())?;
    if config.webhook.auth == WebhookAuth::Disabled || config.api_auth == ApiAuth::Disabled {
        tracing::warn!(
            webhook_auth = config.webhook.auth != WebhookAuth::Disabled,
            api_auth = config.api_auth != ApiAuth::Disabled,
            "authentication is off for part of the server; set webhook.token and api.token before \
             listening beyond this machine"
        );
    }
    // What a newcomer needs next: where to point the registry, ready to paste.
    let options = RegistryConfigOptions { path_registry: None, endpoint_name: "registry-notify".to_owned() };
    println!(
        "notify-server: store {}; paste this into the registry's configuration:\n\n{}",
        store::redact_url(config.store_url.expose()),
        render(config, &options)
    );
    server::serve(config, store, listener, shutdown::signal()).await.map_err(|e| e.to_string())
}

async fn export(config: &Config, output: Option<&std::path::Path>) -> Result<(), String> {
    let store = store::open(config.store_url.expose()).await.map_err(|e| e.to_string())?;
    let mut out: Box<dyn std::io::Write> = match output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let summary = transfer::export(store.as_ref(), &mut out).await.map_err(|e| e.to_string())?;
    eprintln!(
        "notify-server: exported {} events and {} quarantined events from {}",
        summary.events,
        summary.quarantined,
        store::redact_url(config.store_url.expose())
    );
    if summary.without_raw > 0 {
        eprintln!("notify-server: {} log entries have no raw JSON and were left out", summary.without_raw);
    }
    Ok(())
}

async fn prune(config: &Config, period: std::time::Duration) -> Result<(), String> {
    let store = store::open(config.store_url.expose()).await.map_err(|e| e.to_string())?;
    let pruned = retention::prune_once(store.as_ref(), Retention::new(period), &Metrics::new())
        .await
        .map_err(|e| format!("prune: {}", e.chain()))?;
    eprintln!(
        "notify-server: pruned {} log entries stamped before {} (retention {}, less an hour of \
         clock margin) from {}",
        pruned.removed,
        pruned.before,
        humantime::format_duration(period),
        store::redact_url(config.store_url.expose())
    );
    Ok(())
}

async fn import(config: &Config, input: Option<&std::path::Path>) -> Result<(), String> {
    let store = store::open(config.store_url.expose()).await.map_err(|e| e.to_string())?;
    let mut reader: Box<dyn std::io::BufRead> = match input {
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let summary =
        transfer::import(store.as_ref(), &config.policy, &mut reader).await.map_err(|e| e.to_string())?;
    eprintln!(
        "notify-server: imported into {}: {} applied, {} already there, {} quarantined",
        store::redact_url(config.store_url.expose()),
        summary.applied,
        summary.duplicate,
        summary.quarantined
    );
    Ok(())
}
