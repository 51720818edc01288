//! The server's configuration: where it comes from, what it may contain, and its validation.
//!
//! Three layers, each overriding the one before it:
//! 1. a **TOML** file named by `--config` / `NOTIFY_CONFIG` (optional; no file is searched for
//!    implicitly, so what runs is what was asked for);
//! 2. environment variables `NOTIFY_<KEY>`;
//! 3. command-line flags `--<key>`.
//!
//! A file key `section.name` is the variable `NOTIFY_SECTION_NAME` and the flag
//! `--section-name` (`webhook.token` → `NOTIFY_WEBHOOK_TOKEN`, `--webhook-token`); top-level keys
//! drop the section. The [`Overrides`] struct lists every variable and flag; `policy.aliases`
//! and the two `policy.ignored_*` lists are file-only because they are maps and lists.
//!
//! Secrets (`webhook.token`, `webhook.password`, `api.token`, `store_url`) may instead be read
//! from a file with the `_file` form of the key (trailing newlines are dropped), so they need not
//! appear in a process listing or an environment dump. A secret and its `_file` form are one
//! setting: a higher layer giving either replaces both.
//!
//! Everything is validated at start, all problems reported at once. Authentication is never
//! off by omission: the webhook and the query API each need credentials or an explicit
//! `auth = "none"`.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify_core::Policy;
use serde::Deserialize;

use crate::store;

/// Where the server listens when nothing says otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The webhook path when nothing says otherwise.
pub const DEFAULT_WEBHOOK_PATH: &str = "/events";
/// The largest webhook body accepted when nothing says otherwise. A registry envelope holds one
/// event in practice (a few KiB even with many references); the limit only stops abuse.
pub const DEFAULT_MAX_BODY: usize = 4 * 1024 * 1024;
/// How long one request may take when nothing says otherwise.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for in-flight requests when nothing says otherwise.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Threads that run requests when nothing says otherwise. The server's own work is parsing,
/// translating and handing events to the store: one thread carries about 25,000 events a
/// second of it on a 2-core machine, far more than registries send, and with the database
/// on the same machine one thread left more of the cores to it than two (11–13 % more events
/// a second with 32 senders, until a read sees them all; `docs/benchmarks.md`). Raise it for heavy query
/// traffic on a machine of many cores. Blocking work (SQLite) runs on threads of its own.
pub const DEFAULT_WORKER_THREADS: usize = 1;
/// The most threads `worker_threads` may ask for.
pub const MAX_WORKER_THREADS: usize = 256;
/// The log filter when nothing says otherwise. The PostgreSQL driver reports every server
/// NOTICE at info, which says nothing an operator needs.
pub const DEFAULT_LOG_FILTER: &str = "info,tokio_postgres=warn";
/// The `Retry-After` sent with a 503 when nothing says otherwise.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

/// A secret value: never printed by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself; call only where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Whether an endpoint requires credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AuthSwitch {
    /// Credentials are required; they must be configured (the default, except on a loopback
    /// listen address with no credentials configured, where nothing can reach the server from
    /// another host).
    Required,
    /// No credentials are checked. Beyond loopback this must be said explicitly.
    None,
}

/// Who may POST events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookAuth {
    /// Anyone (explicitly configured).
    Disabled,
    /// A request must carry one of these.
    Credentials {
        /// `Authorization: Bearer <token>`.
        bearer: Option<Secret>,
        /// `Authorization: Basic <base64(username:password)>`.
        basic: Option<(String, Secret)>,
    },
}

/// Who may read the query API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiAuth {
    /// Anyone (explicitly configured).
    Disabled,
    /// `Authorization: Bearer <token>`.
    Bearer(Secret),
}

/// TLS certificate and key, PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// Certificate chain.
    pub cert_file: PathBuf,
    /// Private key.
    pub key_file: PathBuf,
}

/// The webhook endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Path of the endpoint; `{path}/{registry}` names the registry.
    pub path: String,
    /// Who may post.
    pub auth: WebhookAuth,
    /// The largest body accepted, in bytes.
    pub max_body: usize,
    /// The `Retry-After` of a 503.
    pub retry_after: Duration,
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Text or JSON.
    pub format: LogFormat,
    /// A `tracing` filter directive, e.g. `info` or `notify_server=debug,info`.
    pub filter: String,
}

/// The validated configuration the server runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Listen address.
    pub listen: SocketAddr,
    /// The URL the registry reaches this server at (for `registry-config`); derived from
    /// `listen` when unset.
    pub public_url: Option<String>,
    /// Store URL; its scheme selects the backend (see [`crate::store`]).
    pub store_url: Secret,
    /// Longest time one request may take before a 503.
    pub request_timeout: Duration,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// Threads that run requests (see [`DEFAULT_WORKER_THREADS`]).
    pub worker_threads: usize,
    /// How long the event log keeps an event (by its timestamp); `None` keeps it forever.
    /// See [`crate::retention`].
    pub log_retention: Option<Duration>,
    /// TLS, when enabled.
    pub tls: Option<TlsConfig>,
    /// Logging.
    pub log: LogConfig,
    /// The webhook.
    pub webhook: WebhookConfig,
    /// Access to the query API.
    pub api_auth: ApiAuth,
    /// How events are translated.
    pub policy: Policy,
}

impl Config {
    /// A configuration with every default and the given authentication, for embedding the
    /// server in tests and tools.
    pub fn with_auth(webhook: WebhookAuth, api: ApiAuth) -> Self {
        Config {
            listen: DEFAULT_LISTEN.parse().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8080))),
            public_url: None,
            store_url: Secret::new(store::DEFAULT_STORE_URL),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            worker_threads: DEFAULT_WORKER_THREADS,
            log_retention: None,
            tls: None,
            log: LogConfig { format: LogFormat::Text, filter: DEFAULT_LOG_FILTER.to_owned() },
            webhook: WebhookConfig {
                path: DEFAULT_WEBHOOK_PATH.to_owned(),
                auth: webhook,
                max_body: DEFAULT_MAX_BODY,
                retry_after: DEFAULT_RETRY_AFTER,
            },
            api_auth: api,
            policy: Policy::default(),
        }
    }

    /// Loads the file named in `overrides` (if any), applies the overrides (environment and
    /// flags, as clap parsed them) and validates the result.
    pub fn load(overrides: &Overrides) -> Result<Self, ConfigError> {
        let file = match &overrides.config {
            Some(path) => FileConfig::read(path)?,
            None => FileConfig::default(),
        };
        file.merge(overrides).resolve()
    }

    /// The URL the registry should post to, without a registry suffix.
    pub fn webhook_url(&self) -> String {
        let base = match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => {
                let scheme = if self.tls.is_some() { "https" } else { "http" };
                // A wildcard address is where the server listens, not where it is reached.
                let mut addr = self.listen;
                if addr.ip().is_unspecified() {
                    addr.set_ip(if addr.is_ipv4() {
                        std::net::Ipv4Addr::LOCALHOST.into()
                    } else {
                        std::net::Ipv6Addr::LOCALHOST.into()
                    });
                }
                format!("{scheme}://{addr}")
            }
        };
        format!("{base}{}", self.webhook.path)
    }

    /// A description of the effective configuration with secrets hidden, for `check-config`.
    pub fn describe(&self) -> String {
        let secret = |s: &Option<Secret>| if s.is_some() { "(set)" } else { "(unset)" };
        let webhook_auth = match &self.webhook.auth {
            WebhookAuth::Disabled => "none (anyone may post)".to_owned(),
            WebhookAuth::Credentials { bearer, basic } => format!(
                "bearer token {}, basic {}",
                secret(bearer),
                basic.as_ref().map_or("(unset)".to_owned(), |(u, _)| format!("user {u:?} with password"))
            ),
        };
        let api_auth = match &self.api_auth {
            ApiAuth::Disabled => "none (anyone may read)",
            ApiAuth::Bearer(_) => "bearer token (set)",
        };
        let tls = self.tls.as_ref().map_or("off".to_owned(), |t| {
            format!("cert {} key {}", t.cert_file.display(), t.key_file.display())
        });
        format!(
            "listen            {}\n\
             webhook url       {}\n\
             store             {}\n\
             request_timeout   {}\n\
             shutdown_grace    {}\n\
             worker_threads    {}\n\
             log_retention     {}\n\
             tls               {tls}\n\
             log               {}, filter {:?}\n\
             webhook.auth      {webhook_auth}\n\
             webhook.max_body  {} bytes\n\
             webhook.retry     {}\n\
             api.auth          {api_auth}\n\
             policy            {}\n",
            self.listen,
            self.webhook_url(),
            store::redact_url(self.store_url.expose()),
            humantime::format_duration(self.request_timeout),
            humantime::format_duration(self.shutdown_grace),
            self.worker_threads,
            self.log_retention.map_or("forever".to_owned(), |d| humantime::format_duration(d).to_string()),
            match self.log.format {
                LogFormat::Text => "text",
                LogFormat::Json => "json",
            },
            self.log.filter,
            self.webhook.max_body,
            humantime::format_duration(self.webhook.retry_after),
            serde_json::to_string(&self.policy).unwrap_or_default(),
        )
    }
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file cannot be read.
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML for this server.
    #[error("configuration file {path} is invalid: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the TOML parser reported, with the position.
        message: String,
    },
    /// Values are missing, malformed or contradict each other.
    #[error("the configuration is invalid:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<String>),
}

/// A duration written as text (`"30s"`, `"2m"`) or as whole seconds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
enum DurationValue {
    Seconds(u64),
    Text(String),
}

/// A size written as bytes or with a unit (`"4MiB"`, `"512KiB"`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
enum SizeValue {
    Bytes(u64),
    Text(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct TlsFile {
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct WebhookFile {
    path: Option<String>,
    auth: Option<AuthSwitch>,
    token: Option<String>,
    token_file: Option<PathBuf>,
    username: Option<String>,
    password: Option<String>,
    password_file: Option<PathBuf>,
    max_body: Option<SizeValue>,
    retry_after: Option<DurationValue>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ApiFile {
    auth: Option<AuthSwitch>,
    token: Option<String>,
    token_file: Option<PathBuf>,
}

/// The configuration as layers give it: everything optional, nothing checked yet.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct FileConfig {
    listen: Option<String>,
    public_url: Option<String>,
    store_url: Option<String>,
    store_url_file: Option<PathBuf>,
    request_timeout: Option<DurationValue>,
    shutdown_grace: Option<DurationValue>,
    worker_threads: Option<usize>,
    log_retention: Option<DurationValue>,
    log_format: Option<LogFormat>,
    log_filter: Option<String>,
    tls: TlsFile,
    webhook: WebhookFile,
    api: ApiFile,
    policy: Policy,
}

/// Environment variables and flags: each overrides the configuration file's key of the same
/// name (see the module documentation for the naming rule).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Overrides {
    /// TOML configuration file.
    #[arg(long, env = "NOTIFY_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Listen address, e.g. 0.0.0.0:8080 [default: 127.0.0.1:8080].
    #[arg(long, env = "NOTIFY_LISTEN", global = true, value_name = "ADDR")]
    pub listen: Option<String>,
    /// The URL the registry reaches this server at, e.g. `http://notify.internal:8080`.
    #[arg(long, env = "NOTIFY_PUBLIC_URL", global = true, value_name = "URL")]
    pub public_url: Option<String>,
    /// Store URL: sqlite://FILE, postgres://…, mongodb://…, memory:// [default: sqlite://./notify.db].
    #[arg(long, env = "NOTIFY_STORE_URL", global = true, hide_env_values = true, value_name = "URL")]
    pub store_url: Option<String>,
    /// File holding the store URL.
    #[arg(long, env = "NOTIFY_STORE_URL_FILE", global = true, value_name = "FILE")]
    pub store_url_file: Option<PathBuf>,
    /// Longest time one request may take, e.g. 10s.
    #[arg(long, env = "NOTIFY_REQUEST_TIMEOUT", global = true, value_name = "DURATION")]
    pub request_timeout: Option<String>,
    /// How long shutdown waits for in-flight requests, e.g. 30s.
    #[arg(long, env = "NOTIFY_SHUTDOWN_GRACE", global = true, value_name = "DURATION")]
    pub shutdown_grace: Option<String>,
    /// Threads that run requests [default: 1].
    #[arg(long, env = "NOTIFY_WORKER_THREADS", global = true, value_name = "N")]
    pub worker_threads: Option<usize>,
    /// How long the event log keeps an event, e.g. 90d; older entries are pruned and older
    /// deliveries quarantined [default: forever].
    #[arg(long, env = "NOTIFY_LOG_RETENTION", global = true, value_name = "DURATION")]
    pub log_retention: Option<String>,
    /// Log format.
    #[arg(long, env = "NOTIFY_LOG_FORMAT", global = true, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Log filter, e.g. info or notify_server=debug,info [default: info,tokio_postgres=warn].
    #[arg(long, env = "NOTIFY_LOG_FILTER", global = true, value_name = "FILTER")]
    pub log_filter: Option<String>,
    /// TLS certificate chain (PEM); enables TLS together with --tls-key-file.
    #[arg(long, env = "NOTIFY_TLS_CERT_FILE", global = true, value_name = "FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, env = "NOTIFY_TLS_KEY_FILE", global = true, value_name = "FILE")]
    pub tls_key_file: Option<PathBuf>,
    /// Webhook path [default: /events].
    #[arg(long, env = "NOTIFY_WEBHOOK_PATH", global = true, value_name = "PATH")]
    pub webhook_path: Option<String>,
    /// Webhook authentication: required (configure a token or username/password) or none.
    #[arg(long, env = "NOTIFY_WEBHOOK_AUTH", global = true, value_name = "MODE")]
    pub webhook_auth: Option<AuthSwitch>,
    /// Token the registry sends as `Authorization: Bearer <token>`.
    #[arg(long, env = "NOTIFY_WEBHOOK_TOKEN", global = true, hide_env_values = true, value_name = "TOKEN")]
    pub webhook_token: Option<String>,
    /// File holding the webhook token.
    #[arg(long, env = "NOTIFY_WEBHOOK_TOKEN_FILE", global = true, value_name = "FILE")]
    pub webhook_token_file: Option<PathBuf>,
    /// User name for `Authorization: Basic`.
    #[arg(long, env = "NOTIFY_WEBHOOK_USERNAME", global = true, value_name = "NAME")]
    pub webhook_username: Option<String>,
    /// Password for `Authorization: Basic`.
    #[arg(
        long,
        env = "NOTIFY_WEBHOOK_PASSWORD",
        global = true,
        hide_env_values = true,
        value_name = "PASSWORD"
    )]
    pub webhook_password: Option<String>,
    /// File holding the Basic password.
    #[arg(long, env = "NOTIFY_WEBHOOK_PASSWORD_FILE", global = true, value_name = "FILE")]
    pub webhook_password_file: Option<PathBuf>,
    /// Largest webhook body, e.g. 4MiB [default: 4MiB].
    #[arg(long, env = "NOTIFY_WEBHOOK_MAX_BODY", global = true, value_name = "SIZE")]
    pub webhook_max_body: Option<String>,
    /// Retry-After of a 503, e.g. 5s.
    #[arg(long, env = "NOTIFY_WEBHOOK_RETRY_AFTER", global = true, value_name = "DURATION")]
    pub webhook_retry_after: Option<String>,
    /// Query API authentication: required (configure a token) or none.
    #[arg(long, env = "NOTIFY_API_AUTH", global = true, value_name = "MODE")]
    pub api_auth: Option<AuthSwitch>,
    /// Token readers send as `Authorization: Bearer <token>`.
    #[arg(long, env = "NOTIFY_API_TOKEN", global = true, hide_env_values = true, value_name = "TOKEN")]
    pub api_token: Option<String>,
    /// File holding the read token.
    #[arg(long, env = "NOTIFY_API_TOKEN_FILE", global = true, value_name = "FILE")]
    pub api_token_file: Option<PathBuf>,
    /// A fixed registry name for every event (policy.registry).
    #[arg(long, env = "NOTIFY_REGISTRY", global = true, value_name = "NAME")]
    pub registry: Option<String>,
    /// Count HEAD requests as pulls (policy.count_head_requests).
    #[arg(long, env = "NOTIFY_COUNT_HEAD_REQUESTS", global = true, value_name = "BOOL")]
    pub count_head_requests: Option<bool>,
    /// Count blob downloads as pulls (policy.count_blob_pulls).
    #[arg(long, env = "NOTIFY_COUNT_BLOB_PULLS", global = true, value_name = "BOOL")]
    pub count_blob_pulls: Option<bool>,
}

/// A secret given directly or by file; the pair is one setting across layers.
fn overlay_secret<T: Clone>(
    value: &mut Option<String>,
    file: &mut Option<T>,
    new_value: &Option<String>,
    new_file: &Option<T>,
) {
    if new_value.is_some() || new_file.is_some() {
        *value = new_value.clone();
        *file = new_file.clone();
    }
}

fn overlay<T: Clone>(slot: &mut Option<T>, new: &Option<T>) {
    if new.is_some() {
        slot.clone_from(new);
    }
}

impl FileConfig {
    fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        Self::parse(&text).map_err(|message| ConfigError::Parse { path: path.to_owned(), message })
    }

    fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())
    }

    fn merge(mut self, o: &Overrides) -> Self {
        overlay(&mut self.listen, &o.listen);
        overlay(&mut self.public_url, &o.public_url);
        overlay_secret(&mut self.store_url, &mut self.store_url_file, &o.store_url, &o.store_url_file);
        overlay(&mut self.request_timeout, &o.request_timeout.clone().map(DurationValue::Text));
        overlay(&mut self.shutdown_grace, &o.shutdown_grace.clone().map(DurationValue::Text));
        overlay(&mut self.worker_threads, &o.worker_threads);
        overlay(&mut self.log_retention, &o.log_retention.clone().map(DurationValue::Text));
        overlay(&mut self.log_format, &o.log_format);
        overlay(&mut self.log_filter, &o.log_filter);
        overlay(&mut self.tls.cert_file, &o.tls_cert_file);
        overlay(&mut self.tls.key_file, &o.tls_key_file);
        let w = &mut self.webhook;
        overlay(&mut w.path, &o.webhook_path);
        overlay(&mut w.auth, &o.webhook_auth);
        overlay_secret(&mut w.token, &mut w.token_file, &o.webhook_token, &o.webhook_token_file);
        overlay(&mut w.username, &o.webhook_username);
        overlay_secret(&mut w.password, &mut w.password_file, &o.webhook_password, &o.webhook_password_file);
        overlay(&mut w.max_body, &o.webhook_max_body.clone().map(SizeValue::Text));
        overlay(&mut w.retry_after, &o.webhook_retry_after.clone().map(DurationValue::Text));
        overlay(&mut self.api.auth, &o.api_auth);
        overlay_secret(&mut self.api.token, &mut self.api.token_file, &o.api_token, &o.api_token_file);
        if o.registry.is_some() {
            self.policy.registry.clone_from(&o.registry);
        }
        if let Some(v) = o.count_head_requests {
            self.policy.count_head_requests = v;
        }
        if let Some(v) = o.count_blob_pulls {
            self.policy.count_blob_pulls = v;
        }
        self
    }

    fn resolve(self) -> Result<Config, ConfigError> {
        let mut problems = Vec::new();
        let mut defaults = Config::with_auth(WebhookAuth::Disabled, ApiAuth::Disabled);

        if let Some(listen) = &self.listen {
            match listen.parse::<SocketAddr>() {
                Ok(addr) => defaults.listen = addr,
                Err(_) => problems.push(format!(
                    "listen: {listen:?} is not an address with a port, e.g. 0.0.0.0:8080 or [::]:8080"
                )),
            }
        }
        if let Some(url) = &self.public_url {
            let ok = (url.starts_with("http://") || url.starts_with("https://"))
                && url.len() > "https://".len()
                && !url.contains(char::is_whitespace);
            if ok {
                defaults.public_url = Some(url.trim_end_matches('/').to_owned());
            } else {
                problems.push(format!("public_url: {url:?} is not an http:// or https:// URL"));
            }
        }
        if let Some(url) = secret("store_url", self.store_url, self.store_url_file.as_deref(), &mut problems)
        {
            match store::check(url.expose()) {
                Ok(_) => defaults.store_url = url,
                Err(e) => problems.push(format!("store_url: {e}")),
            }
        }
        duration("request_timeout", self.request_timeout, &mut defaults.request_timeout, &mut problems);
        duration("shutdown_grace", self.shutdown_grace, &mut defaults.shutdown_grace, &mut problems);
        match self.worker_threads {
            Some(n) if (1..=MAX_WORKER_THREADS).contains(&n) => defaults.worker_threads = n,
            Some(n) => problems.push(format!("worker_threads: {n} is outside 1..={MAX_WORKER_THREADS}")),
            None => {}
        }
        defaults.log_retention = retention(self.log_retention, &mut problems);
        if let Some(format) = self.log_format {
            defaults.log.format = format;
        }
        if let Some(filter) = self.log_filter {
            if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&filter) {
                problems.push(format!("log_filter: {filter:?} is not a tracing filter: {e}"));
            }
            defaults.log.filter = filter;
        }
        match (self.tls.cert_file, self.tls.key_file) {
            (None, None) => {}
            (Some(cert_file), Some(key_file)) => {
                for (key, path) in [("tls.cert_file", &cert_file), ("tls.key_file", &key_file)] {
                    if let Err(e) = std::fs::metadata(path) {
                        problems.push(format!("{key}: cannot read {}: {e}", path.display()));
                    }
                }
                defaults.tls = Some(TlsConfig { cert_file, key_file });
            }
            _ => problems.push("tls: give both tls.cert_file and tls.key_file, or neither".to_owned()),
        }

        let w = self.webhook;
        if let Some(path) = w.path {
            match check_webhook_path(&path) {
                Ok(()) => defaults.webhook.path = path,
                Err(e) => problems.push(format!("webhook.path: {path:?} {e}")),
            }
        }
        let token = secret("webhook.token", w.token, w.token_file.as_deref(), &mut problems);
        let password = secret("webhook.password", w.password, w.password_file.as_deref(), &mut problems);
        let basic = match (w.username, password) {
            (None, None) => None,
            (Some(user), Some(password)) => {
                if user.contains(':') {
                    problems.push("webhook.username: a Basic user name cannot contain ':'".to_owned());
                }
                Some((user, password))
            }
            (Some(_), None) => {
                problems.push("webhook.username is set without webhook.password".to_owned());
                None
            }
            (None, Some(_)) => {
                problems.push("webhook.password is set without webhook.username".to_owned());
                None
            }
        };
        defaults.webhook.auth = match (w.auth, token, basic) {
            (Some(AuthSwitch::None), None, None) => WebhookAuth::Disabled,
            (Some(AuthSwitch::None), _, _) => {
                problems.push(
                    "webhook.auth is \"none\" but webhook credentials are configured: remove one".to_owned(),
                );
                WebhookAuth::Disabled
            }
            // Only this machine can reach a loopback listener: the zero-configuration first
            // run needs no secret. Anything reachable from the network must say what it wants.
            (None, None, None) if defaults.listen.ip().is_loopback() => WebhookAuth::Disabled,
            (_, None, None) => {
                problems.push(
                    "webhook: no credentials: set webhook.token (or webhook.token_file), or \
                     webhook.username and webhook.password; to accept unauthenticated posts set \
                     webhook.auth = \"none\" explicitly"
                        .to_owned(),
                );
                WebhookAuth::Disabled
            }
            (_, bearer, basic) => WebhookAuth::Credentials { bearer, basic },
        };
        if let Some(size) = w.max_body {
            match parse_size(&size) {
                Ok(n) if (1024..=1 << 30).contains(&n) => defaults.webhook.max_body = n as usize,
                Ok(n) => problems.push(format!("webhook.max_body: {n} bytes is outside 1KiB..=1GiB")),
                Err(e) => problems.push(format!("webhook.max_body: {e}")),
            }
        }
        duration("webhook.retry_after", w.retry_after, &mut defaults.webhook.retry_after, &mut problems);

        let a = self.api;
        let api_token = secret("api.token", a.token, a.token_file.as_deref(), &mut problems);
        defaults.api_auth = match (a.auth, api_token) {
            (Some(AuthSwitch::None), None) => ApiAuth::Disabled,
            (Some(AuthSwitch::None), Some(_)) => {
                problems.push("api.auth is \"none\" but api.token is configured: remove one".to_owned());
                ApiAuth::Disabled
            }
            (_, Some(token)) => ApiAuth::Bearer(token),
            (None, None) if defaults.listen.ip().is_loopback() => ApiAuth::Disabled,
            (_, None) => {
                problems.push(
                    "api: no read token: set api.token (or api.token_file); to let anyone read \
                     set api.auth = \"none\" explicitly"
                        .to_owned(),
                );
                ApiAuth::Disabled
            }
        };

        if let Some(registry) = &self.policy.registry {
            if let Err(e) = check_registry_name(registry) {
                problems.push(format!("policy.registry: {e}"));
            }
        }
        for (alias, canonical) in &self.policy.aliases {
            if let Err(e) = check_registry_name(canonical) {
                problems.push(format!("policy.aliases.{alias:?}: {e}"));
            }
        }
        defaults.policy = self.policy;

        if problems.is_empty() { Ok(defaults) } else { Err(ConfigError::Invalid(problems)) }
    }
}

/// Reads a secret given inline or by file; both at once is a mistake worth reporting.
fn secret(
    key: &str,
    value: Option<String>,
    file: Option<&Path>,
    problems: &mut Vec<String>,
) -> Option<Secret> {
    let value = match (value, file) {
        (Some(_), Some(_)) => {
            problems.push(format!("{key} and {key}_file are both set: keep one"));
            return None;
        }
        (Some(v), None) => v,
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(text) => text.trim_end_matches(['\r', '\n']).to_owned(),
            Err(e) => {
                problems.push(format!("{key}_file: cannot read {}: {e}", path.display()));
                return None;
            }
        },
        (None, None) => return None,
    };
    if value.trim().is_empty() {
        problems.push(format!("{key} is empty"));
        return None;
    }
    Some(Secret(value))
}

/// A duration value as text or seconds; `example` shows the form in the error.
fn parse_duration(key: &str, value: DurationValue, example: &str) -> Result<Duration, String> {
    match value {
        DurationValue::Seconds(s) => Ok(Duration::from_secs(s)),
        DurationValue::Text(t) => humantime::parse_duration(t.trim())
            .map_err(|e| format!("{key}: {t:?} is not a duration like {example}: {e}")),
    }
}

fn duration(key: &str, value: Option<DurationValue>, slot: &mut Duration, problems: &mut Vec<String>) {
    let Some(value) = value else { return };
    match parse_duration(key, value, "10s or 2m") {
        Ok(d) if d.is_zero() => problems.push(format!("{key}: must be longer than zero")),
        Ok(d) if d > Duration::from_secs(3600) => problems.push(format!("{key}: must be at most one hour")),
        Ok(d) => *slot = d,
        Err(e) => problems.push(e),
    }
}

/// `log_retention`: at least a day, since an event delivered later than the retention is
/// quarantined instead of counted, and a registry that could not reach the server for hours
/// still delivers what queued meanwhile; at most a century.
fn retention(value: Option<DurationValue>, problems: &mut Vec<String>) -> Option<Duration> {
    const DAY: u64 = 24 * 3600;
    let problem = match parse_duration("log_retention", value?, "90d or 1y") {
        Ok(d) if d < Duration::from_secs(DAY) => "log_retention: must be at least one day (1d)".to_owned(),
        Ok(d) if d > Duration::from_secs(36_525 * DAY) => {
            "log_retention: must be at most a century; leave it out to keep the log forever".to_owned()
        }
        Ok(d) => return Some(d),
        Err(e) => e,
    };
    problems.push(problem);
    None
}

fn parse_size(value: &SizeValue) -> Result<u64, String> {
    let text = match value {
        SizeValue::Bytes(n) => return Ok(*n),
        SizeValue::Text(t) => t.trim(),
    };
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 =
        digits.parse().map_err(|_| format!("{text:?} is not a size like 4194304, 512KiB or 4MiB"))?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" | "k" => 1 << 10,
        "MiB" | "M" => 1 << 20,
        "GiB" | "G" => 1 << 30,
        other => return Err(format!("{text:?}: unknown unit {other:?} (use B, KiB, MiB or GiB)")),
    };
    n.checked_mul(factor).ok_or_else(|| format!("{text:?} is too large"))
}

/// The webhook path must be a fixed path that does not shadow the other routes.
fn check_webhook_path(path: &str) -> Result<(), &'static str> {
    if !path.starts_with('/') || path.len() < 2 {
        return Err("must start with '/' and name a path, e.g. /events");
    }
    if path.ends_with('/') {
        return Err("must not end with '/'");
    }
    if path.contains(['{', '}', '*', '?', '#', ' ']) || path.contains("//") {
        return Err("must be a plain path without '{', '}', '*', '?', '#', spaces or empty segments");
    }
    let reserved = ["/api", "/healthz", "/readyz", "/metrics"];
    if reserved.iter().any(|r| path == *r || path.starts_with(&format!("{r}/"))) {
        return Err("overlaps /api, /healthz, /readyz or /metrics");
    }
    Ok(())
}

/// A registry name as stores key it: lowercase, then mapped through the policy's aliases,
/// exactly as `notify_core::Policy` names the registry of an event.
pub fn canonical_registry(policy: &Policy, name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    policy
        .aliases
        .iter()
        .find(|(alias, _)| alias.eq_ignore_ascii_case(&lower))
        .map_or(lower, |(_, canonical)| canonical.clone())
}

/// A registry name, as given in `/events/{registry}` or configuration: the host (and port) the
/// registry's clients use. Bounded and printable so that it can key every store.
pub fn check_registry_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 255 {
        return Err(format!("registry name must be 1 to 255 bytes, not {}", name.len()));
    }
    let ok = name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'));
    if !ok {
        return Err(format!(
            "registry name {:?} may only hold letters, digits, '.', '-', '_' and ':'",
            name.chars().take(64).collect::<String>()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(toml_text: &str, overrides: &Overrides) -> Result<Config, ConfigError> {
        FileConfig::parse(toml_text).unwrap().merge(overrides).resolve()
    }

    #[test]
    fn authentication_is_never_off_by_omission_beyond_loopback() {
        let err = resolve("listen = \"0.0.0.0:8080\"", &Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("webhook: no credentials"), "{err}");
        assert!(err.contains("api: no read token"), "{err}");
        let required = "[webhook]\nauth = \"required\"\n[api]\nauth = \"required\"\n";
        let err = resolve(required, &Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("webhook: no credentials"), "{err}");
        assert!(err.contains("api: no read token"), "{err}");
        let loopback = resolve("", &Overrides::default()).unwrap();
        assert_eq!((loopback.webhook.auth, loopback.api_auth), (WebhookAuth::Disabled, ApiAuth::Disabled));
        let ok = resolve("[webhook]\nauth = \"none\"\n[api]\nauth = \"none\"\n", &Overrides::default());
        assert_eq!(ok.unwrap().webhook.auth, WebhookAuth::Disabled);
    }

    #[test]
    fn flags_override_the_file_and_a_secret_pair_is_one_setting() {
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, "from-file\n").unwrap();
        let file = format!(
            "listen = \"0.0.0.0:9000\"\n[webhook]\ntoken_file = {:?}\n[api]\ntoken = \"read\"\n",
            token_file.display().to_string()
        );
        let cfg = resolve(&file, &Overrides::default()).unwrap();
        assert_eq!(cfg.listen.port(), 9000);
        assert_eq!(
            cfg.webhook.auth,
            WebhookAuth::Credentials { bearer: Some(Secret::new("from-file")), basic: None }
        );
        let flags = Overrides {
            listen: Some("127.0.0.1:9001".into()),
            webhook_token: Some("from-flag".into()),
            ..Overrides::default()
        };
        let cfg = resolve(&file, &flags).unwrap();
        assert_eq!(cfg.listen.port(), 9001);
        assert_eq!(
            cfg.webhook.auth,
            WebhookAuth::Credentials { bearer: Some(Secret::new("from-flag")), basic: None }
        );
    }

    #[test]
    fn every_problem_is_reported_at_once_with_its_key() {
        let file = "listen = \"nowhere\"\nrequest_timeout = \"soon\"\nstore_url = \"ftp://x\"\n\
                    [webhook]\npath = \"events\"\ntoken = \"t\"\nmax_body = \"4 parsecs\"\n\
                    [api]\nauth = \"none\"\ntoken = \"r\"\n";
        let err = resolve(file, &Overrides::default()).unwrap_err();
        let ConfigError::Invalid(problems) = &err else { panic!("{err}") };
        for key in
            ["listen:", "request_timeout:", "store_url:", "webhook.path:", "webhook.max_body:", "api.auth"]
        {
            assert!(problems.iter().any(|p| p.starts_with(key)), "{key} missing from {problems:?}");
        }
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn a_store_option_the_store_cannot_use_is_a_problem_at_start() {
        let overrides = Overrides {
            store_url: Some("postgres://db/notify?pool_size=none".into()),
            ..Overrides::default()
        };
        let err = resolve("[webhook]\nauth = \"none\"\n[api]\nauth = \"none\"\n", &overrides).unwrap_err();
        let ConfigError::Invalid(problems) = &err else { panic!("{err}") };
        assert!(
            problems.iter().any(|p| p.starts_with("store_url:") && p.contains("pool_size")),
            "{problems:?}"
        );
    }

    #[test]
    fn unknown_keys_are_refused_with_their_position() {
        let err = FileConfig::parse("[webhook]\ntokn = \"x\"\n").unwrap_err();
        assert!(err.contains("tokn") && err.contains("line 2"), "{err}");
    }

    #[test]
    fn sizes_and_durations_accept_units() {
        assert_eq!(parse_size(&SizeValue::Text("4MiB".into())), Ok(4 << 20));
        assert_eq!(parse_size(&SizeValue::Text("512 KiB".into())), Ok(512 << 10));
        assert_eq!(parse_size(&SizeValue::Bytes(2048)), Ok(2048));
        let cfg = resolve(
            "request_timeout = 3\n[webhook]\nauth = \"none\"\nretry_after = \"2m\"\nmax_body = \"1MiB\"\n[api]\nauth = \"none\"\n",
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(cfg.request_timeout, Duration::from_secs(3));
        assert_eq!(cfg.webhook.retry_after, Duration::from_secs(120));
        assert_eq!(cfg.webhook.max_body, 1 << 20);
    }

    #[test]
    fn worker_threads_default_to_one_and_a_flag_overrides_the_file() {
        assert_eq!(resolve("", &Overrides::default()).unwrap().worker_threads, DEFAULT_WORKER_THREADS);
        let flag = Overrides { worker_threads: Some(4), ..Overrides::default() };
        let cfg = resolve("worker_threads = 2", &flag).unwrap();
        assert_eq!(cfg.worker_threads, 4);
        assert!(cfg.describe().contains("worker_threads    4"), "{}", cfg.describe());
        assert_eq!(resolve("worker_threads = 2", &Overrides::default()).unwrap().worker_threads, 2);
        for text in ["worker_threads = 0", "worker_threads = 257"] {
            let err = resolve(text, &Overrides::default()).unwrap_err().to_string();
            assert!(err.contains("worker_threads:") && err.contains("outside 1..=256"), "{text}: {err}");
        }
    }

    #[test]
    fn log_retention_is_forever_unless_given_and_at_least_a_day() {
        assert_eq!(resolve("", &Overrides::default()).unwrap().log_retention, None);
        let days = |text: &str| resolve(text, &Overrides::default()).map(|c| c.log_retention);
        assert_eq!(days("log_retention = \"90d\"").unwrap(), Some(Duration::from_secs(90 * 86_400)));
        assert_eq!(days("log_retention = 86400").unwrap(), Some(Duration::from_secs(86_400)));
        let flag = Overrides { log_retention: Some("1y".into()), ..Overrides::default() };
        let cfg = resolve("log_retention = \"90d\"", &flag).unwrap();
        assert_eq!(cfg.log_retention, Some(Duration::from_secs(31_557_600)));
        assert!(cfg.describe().contains("log_retention     1year"), "{}", cfg.describe());
        for (text, problem) in [
            ("log_retention = \"23h\"", "log_retention: must be at least one day (1d)"),
            ("log_retention = \"200y\"", "log_retention: must be at most a century"),
            ("log_retention = \"a while\"", "log_retention: \"a while\" is not a duration like 90d or 1y"),
        ] {
            let err = days(text).unwrap_err().to_string();
            assert!(err.contains(problem), "{text}: {err}");
        }
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let cfg = Config::with_auth(
            WebhookAuth::Credentials { bearer: Some(Secret::new("hunter2")), basic: None },
            ApiAuth::Bearer(Secret::new("hunter3")),
        );
        let shown = format!("{cfg:?}{}", cfg.describe());
        assert!(!shown.contains("hunter"), "{shown}");
    }
}
