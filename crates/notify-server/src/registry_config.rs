//! The `notifications:` block a registry needs to notify this server, as printed by
//! `notify-server registry-config`.
//!
//! The values follow from how the registry delivers: one event at a time per endpoint, resent
//! until it gets a 2xx/3xx. Its `timeout` is set a little above this server's request timeout
//! (the server answers 503 before the registry gives up, instead of the registry abandoning a
//! request that may still succeed), and its `backoff` to the server's `Retry-After`.

use base64::Engine as _;

use crate::config::{Config, WebhookAuth};

/// Options of the printed block.
#[derive(Debug, Clone, Default)]
pub struct RegistryConfigOptions {
    /// Name the registry in the URL (`/events/NAME`), for several registries on one server.
    pub path_registry: Option<String>,
    /// The endpoint's `name` in the registry configuration.
    pub endpoint_name: String,
}

fn quoted(s: &str) -> String {
    // A JSON string is a valid YAML double-quoted scalar.
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

/// Renders the block.
pub fn render(config: &Config, options: &RegistryConfigOptions) -> String {
    let mut url = config.webhook_url();
    if let Some(name) = &options.path_registry {
        url = format!("{url}/{name}");
    }
    let headers = match &config.webhook.auth {
        WebhookAuth::Disabled => {
            "      # The server accepts posts without credentials (webhook.auth = \"none\").\n".to_owned()
        }
        WebhookAuth::Credentials { bearer: Some(token), .. } => format!(
            "      headers:\n        Authorization: [{}]\n",
            quoted(&format!("Bearer {}", token.expose()))
        ),
        WebhookAuth::Credentials { bearer: None, basic: Some((user, password)) } => {
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{}", password.expose()));
            format!("      headers:\n        Authorization: [{}]\n", quoted(&format!("Basic {encoded}")))
        }
        WebhookAuth::Credentials { bearer: None, basic: None } => String::new(),
    };
    let url_note = if config.public_url.is_none() {
        "      # Derived from the listen address: set public_url (NOTIFY_PUBLIC_URL) to the address\n      \
         # the registry reaches this server at, if it is another.\n"
    } else {
        ""
    };
    let timeout = config.request_timeout.as_secs() + 2;
    let backoff = config.webhook.retry_after.as_secs().max(1);
    format!(
        "# Notification endpoint for registry-notify, printed by `notify-server registry-config`.\n\
         # Add it to the registry's configuration (config.yml); merge with an existing\n\
         # `notifications:` block if there is one. It contains the webhook credentials.\n\
         notifications:\n\
         \x20 events:\n\
         \x20   # Manifest events then list their config, layers and child manifests.\n\
         \x20   includereferences: true\n\
         \x20 endpoints:\n\
         \x20   - name: {name}\n\
         {url_note}\
         \x20     url: {url}\n\
         {headers}\
         \x20     # The server answers within {server_timeout}s (503 if its store is slow); waiting a\n\
         \x20     # little longer avoids abandoning a delivery that is about to succeed.\n\
         \x20     timeout: {timeout}s\n\
         \x20     # The registry resends a failed delivery forever, one event at a time; after\n\
         \x20     # `threshold` failures it waits `backoff` between attempts.\n\
         \x20     threshold: 3\n\
         \x20     backoff: {backoff}s\n\
         \x20     # Leave events unfiltered: the server records everything it is sent. Note that\n\
         \x20     # `ignoredmediatypes` cannot drop blob deletes (a delete carries no media type),\n\
         \x20     # and `ignore: actions: [pull]` would hide every pull from the statistics.\n",
        name = quoted(&options.endpoint_name),
        url = quoted(&url),
        server_timeout = config.request_timeout.as_secs(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ApiAuth, Secret};

    #[test]
    fn the_block_carries_url_header_references_and_timeouts() {
        let mut config = Config::with_auth(
            WebhookAuth::Credentials { bearer: Some(Secret::new("s3cret")), basic: None },
            ApiAuth::Disabled,
        );
        config.public_url = Some("http://notify.internal:8080".into());
        let options = RegistryConfigOptions {
            path_registry: Some("registry.example.com".into()),
            endpoint_name: "registry-notify".into(),
        };
        let yaml = render(&config, &options);
        assert!(yaml.contains("url: \"http://notify.internal:8080/events/registry.example.com\""), "{yaml}");
        assert!(yaml.contains("Authorization: [\"Bearer s3cret\"]"), "{yaml}");
        assert!(yaml.contains("includereferences: true"), "{yaml}");
        assert!(yaml.contains("timeout: 12s"), "{yaml}");
        assert!(yaml.contains("ignoredmediatypes` cannot drop blob deletes"), "{yaml}");
    }

    #[test]
    fn basic_credentials_are_encoded() {
        let config = Config::with_auth(
            WebhookAuth::Credentials { bearer: None, basic: Some(("registry".into(), Secret::new("pw"))) },
            ApiAuth::Disabled,
        );
        let yaml =
            render(&config, &RegistryConfigOptions { endpoint_name: "n".into(), ..Default::default() });
        assert!(yaml.contains("Authorization: [\"Basic cmVnaXN0cnk6cHc=\"]"), "{yaml}");
        assert!(yaml.contains("url: \"http://127.0.0.1:8080/events\""), "{yaml}");
    }

    #[test]
    fn a_wildcard_listen_address_is_not_printed_as_the_url() {
        let mut config = Config::with_auth(WebhookAuth::Disabled, ApiAuth::Disabled);
        config.listen = "0.0.0.0:9000".parse().unwrap();
        let yaml =
            render(&config, &RegistryConfigOptions { endpoint_name: "n".into(), ..Default::default() });
        assert!(yaml.contains("url: \"http://127.0.0.1:9000/events\""), "{yaml}");
        assert!(yaml.contains("set public_url"), "{yaml}");
        assert!(!yaml.contains("Authorization"), "{yaml}");
    }
}
