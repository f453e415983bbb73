//! The spec's `outbound` object: which `scheme://host[:port]` the guest may
//! reach beyond `egress_allow`, and the limits its requests run under.

use super::grant::{Grant, GrantScheme, is_consul_name, normalise_host};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 10_000;
const DEFAULT_FIRST_BYTE_TIMEOUT_MS: u64 = 60_000;
const DEFAULT_BETWEEN_BYTES_TIMEOUT_MS: u64 = 60_000;
const DEFAULT_MAX_CONCURRENT: u32 = 16;
const MAX_TIMEOUT_MS: u64 = 3_600_000;
const MAX_CONCURRENT: u32 = 1024;

/// `outbound` as written in the spec file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutbound {
    grants: Vec<RawGrant>,
    #[serde(default)]
    consul_dns: Option<String>,
    #[serde(default)]
    ca_files: Vec<PathBuf>,
    #[serde(default = "default_connect_timeout_ms")]
    connect_timeout_ms: u64,
    #[serde(default = "default_first_byte_timeout_ms")]
    first_byte_timeout_ms: u64,
    #[serde(default = "default_between_bytes_timeout_ms")]
    between_bytes_timeout_ms: u64,
    #[serde(default = "default_max_concurrent")]
    max_concurrent_per_instance: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrant {
    scheme: String,
    host: String,
    #[serde(default)]
    port: Option<u16>,
}

fn default_connect_timeout_ms() -> u64 {
    DEFAULT_CONNECT_TIMEOUT_MS
}

fn default_first_byte_timeout_ms() -> u64 {
    DEFAULT_FIRST_BYTE_TIMEOUT_MS
}

fn default_between_bytes_timeout_ms() -> u64 {
    DEFAULT_BETWEEN_BYTES_TIMEOUT_MS
}

fn default_max_concurrent() -> u32 {
    DEFAULT_MAX_CONCURRENT
}

/// A checked `outbound`.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundSpec {
    pub grants: Vec<Grant>,
    /// Consul's DNS interface, asked for the SRV records of `*.service.consul` grants.
    pub consul_dns: Option<SocketAddr>,
    /// PEM files of CAs trusted for https besides the system's roots.
    pub ca_files: Vec<PathBuf>,
    /// Upper bounds of the guest's request options, and their values when it sets none.
    pub connect_timeout: Duration,
    pub first_byte_timeout: Duration,
    pub between_bytes_timeout: Duration,
    pub max_concurrent_per_instance: usize,
}

fn field(name: &str, why: impl std::fmt::Display) -> String {
    format!("field `outbound.{name}`: {why}")
}

fn timeout(name: &str, ms: u64) -> Result<Duration, String> {
    if !(1..=MAX_TIMEOUT_MS).contains(&ms) {
        return Err(field(name, format!("expected 1 to {MAX_TIMEOUT_MS}, got {ms}")));
    }
    Ok(Duration::from_millis(ms))
}

impl RawOutbound {
    pub fn check(self) -> Result<OutboundSpec, String> {
        let grants = self
            .grants
            .into_iter()
            .enumerate()
            .map(|(index, grant)| grant.check(index))
            .collect::<Result<Vec<_>, _>>()?;
        let consul_dns = self
            .consul_dns
            .map(|text| {
                text.parse::<SocketAddr>()
                    .map_err(|_| field("consul_dns", format!("expected \"IP:PORT\", got {text:?}")))
            })
            .transpose()?;
        for (index, path) in self.ca_files.iter().enumerate() {
            if path.as_os_str().is_empty() {
                return Err(field(&format!("ca_files[{index}]"), "must not be empty"));
            }
        }
        if !(1..=MAX_CONCURRENT).contains(&self.max_concurrent_per_instance) {
            return Err(field(
                "max_concurrent_per_instance",
                format!("expected 1 to {MAX_CONCURRENT}, got {}", self.max_concurrent_per_instance),
            ));
        }
        Ok(OutboundSpec {
            grants,
            consul_dns,
            ca_files: self.ca_files,
            connect_timeout: timeout("connect_timeout_ms", self.connect_timeout_ms)?,
            first_byte_timeout: timeout("first_byte_timeout_ms", self.first_byte_timeout_ms)?,
            between_bytes_timeout: timeout("between_bytes_timeout_ms", self.between_bytes_timeout_ms)?,
            max_concurrent_per_instance: self.max_concurrent_per_instance as usize,
        })
    }
}

impl RawGrant {
    fn check(self, index: usize) -> Result<Grant, String> {
        let at = |name: &str| format!("grants[{index}].{name}");
        let scheme = match self.scheme.as_str() {
            "http" => GrantScheme::Http,
            "https" => GrantScheme::Https,
            other => {
                return Err(field(&at("scheme"), format!("expected \"http\" or \"https\", got {other:?}")));
            }
        };
        let host = normalise_host(&self.host).ok_or_else(|| {
            field(
                &at("host"),
                format!("expected a host name or IP address without port, got {:?}", self.host),
            )
        })?;
        if is_consul_name(&host) && self.port.is_some() {
            return Err(field(
                &at("port"),
                format!(
                    "{host} is a Consul service: its port comes from Consul's SRV answer, leave `port` out"
                ),
            ));
        }
        if self.port == Some(0) {
            return Err(field(&at("port"), "expected 1 to 65535, got 0"));
        }
        Ok(Grant { scheme, host, port: self.port })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn parse(value: Value) -> Result<OutboundSpec, String> {
        let text = value.to_string();
        let mut de = serde_json::Deserializer::from_str(&text);
        let raw: RawOutbound = serde_path_to_error::deserialize(&mut de)
            .map_err(|err| format!("field `outbound.{}`: {}", err.path(), err.inner()))?;
        raw.check()
    }

    #[test]
    fn accepts_the_documented_shape_and_fills_defaults() {
        let spec = parse(json!({
            "grants": [
                { "scheme": "http", "host": "Email.Service.Consul." },
                { "scheme": "https", "host": "api.example.com", "port": 8443 }
            ],
            "consul_dns": "127.0.0.1:8600",
            "ca_files": ["/etc/lean/cloud-ca.pem"]
        }))
        .unwrap();
        assert_eq!(
            spec.grants[0],
            Grant { scheme: GrantScheme::Http, host: "email.service.consul".into(), port: None }
        );
        assert_eq!(spec.grants[1].port, Some(8443));
        assert_eq!(spec.consul_dns, Some("127.0.0.1:8600".parse().unwrap()));
        assert_eq!(spec.connect_timeout, Duration::from_secs(10));
        assert_eq!(spec.first_byte_timeout, Duration::from_secs(60));
        assert_eq!(spec.between_bytes_timeout, Duration::from_secs(60));
        assert_eq!(spec.max_concurrent_per_instance, 16);
        let bare = parse(json!({ "grants": [] })).unwrap();
        assert_eq!((bare.consul_dns, bare.ca_files.len()), (None, 0));
    }

    #[test]
    fn bad_values_name_their_field() {
        let grant = |g: Value| json!({ "grants": [{ "scheme": "http", "host": "a.example" }, g] });
        let cases = [
            (grant(json!({ "scheme": "ftp", "host": "x" })), "field `outbound.grants[1].scheme`"),
            (grant(json!({ "scheme": "http", "host": "x:80" })), "field `outbound.grants[1].host`"),
            (grant(json!({ "scheme": "http", "host": "*.example.com" })), "field `outbound.grants[1].host`"),
            (grant(json!({ "scheme": "http", "host": "" })), "field `outbound.grants[1].host`"),
            (grant(json!({ "scheme": "http", "host": "x", "port": 0 })), "field `outbound.grants[1].port`"),
            (
                grant(json!({ "scheme": "http", "host": "x", "port": 70000 })),
                "field `outbound.grants[1].port`",
            ),
            (
                grant(json!({ "scheme": "http", "host": "mail.service.consul", "port": 25 })),
                "field `outbound.grants[1].port`",
            ),
            (grant(json!({ "scheme": "http", "host": "x", "path": "/" })), "field `outbound.grants[1]"),
            (json!({ "grants": [], "consul_dns": "localhost" }), "field `outbound.consul_dns`"),
            (json!({ "grants": [], "ca_files": [""] }), "field `outbound.ca_files[0]`"),
            (json!({ "grants": [], "connect_timeout_ms": 0 }), "field `outbound.connect_timeout_ms`"),
            (
                json!({ "grants": [], "first_byte_timeout_ms": 3_600_001 }),
                "field `outbound.first_byte_timeout_ms`",
            ),
            (
                json!({ "grants": [], "between_bytes_timeout_ms": 0 }),
                "field `outbound.between_bytes_timeout_ms`",
            ),
            (
                json!({ "grants": [], "max_concurrent_per_instance": 0 }),
                "field `outbound.max_concurrent_per_instance`",
            ),
            (
                json!({ "grants": [], "max_concurrent_per_instance": 5000 }),
                "field `outbound.max_concurrent_per_instance`",
            ),
            (json!({}), "missing field `grants`"),
        ];
        for (value, expected) in cases {
            let err = parse(value.clone()).unwrap_err();
            assert!(err.contains(expected), "{value}: {err}");
        }
    }
}
