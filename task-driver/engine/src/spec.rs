//! The spec file the runner writes for one task: parsed once, checked field by
//! field, and never read again. Every error names the field it is about.

use crate::error::HostError;
use crate::outbound::spec::{OutboundSpec, RawOutbound};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const MAX_INSTANCES: u32 = 1024;
const DEFAULT_MAX_REUSE: u64 = 1000;
/// An instance whose memory grew more than this past its initial size is
/// replaced after its request (see pool.rs).
const DEFAULT_RECYCLE_GROWN_BYTES: u64 = 4 << 20;
const DEFAULT_RECYCLE_IDLE_MS: u64 = 30_000;
const MAX_TIMEOUT_MS: u64 = 3_600_000;
const WASM_PAGE: u64 = 64 * 1024;
const MAX_INSTANCE_MEMORY: u64 = 4 << 30;

/// The spec as written on disk.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    component: PathBuf,
    sha256: String,
    cache_dir: PathBuf,
    listen: String,
    instances: u32,
    #[serde(default = "default_max_reuse")]
    max_reuse: u64,
    #[serde(default = "default_recycle_grown_bytes")]
    recycle_grown_bytes: u64,
    request_timeout_ms: u64,
    max_request_body_bytes: u64,
    instance_memory_bytes: u64,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    egress_allow: Vec<String>,
    #[serde(default)]
    outbound: Option<RawOutbound>,
    events: PathBuf,
    ready_file: PathBuf,
    #[serde(default)]
    exit_file: Option<PathBuf>,
    #[serde(default = "default_true")]
    exit_with_parent: bool,
    #[serde(default = "default_recycle_idle_ms")]
    recycle_idle_ms: u64,
}

fn default_max_reuse() -> u64 {
    DEFAULT_MAX_REUSE
}

fn default_recycle_grown_bytes() -> u64 {
    DEFAULT_RECYCLE_GROWN_BYTES
}

fn default_true() -> bool {
    true
}

fn default_recycle_idle_ms() -> u64 {
    DEFAULT_RECYCLE_IDLE_MS
}

/// A checked spec.
#[derive(Debug, Clone)]
pub struct Spec {
    pub component: PathBuf,
    /// Lower-case hex.
    pub sha256: String,
    pub cache_dir: PathBuf,
    pub listen: SocketAddr,
    pub instances: u32,
    pub max_reuse: u64,
    /// An instance whose memories grew more than this past their initial size is replaced after its request.
    pub recycle_grown_bytes: usize,
    pub request_timeout: Duration,
    pub max_request_body_bytes: u64,
    pub instance_memory_bytes: u64,
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
    /// Normalised `host:port` authorities, lower-case host.
    pub egress_allow: Vec<String>,
    /// Grants to reach other hosts (`outbound/`); None: none beyond `egress_allow`.
    pub outbound: Option<OutboundSpec>,
    pub events: PathBuf,
    pub ready_file: PathBuf,
    /// Where the host reports how it ended (the shape of the runner's `ExitReport`).
    pub exit_file: Option<PathBuf>,
    /// Stop when the process that started us dies (a runner); false when the
    /// host itself is the task's process (started detached by the plugin).
    pub exit_with_parent: bool,
    /// An instance that served requests and then idled this long is replaced
    /// by a fresh copy-on-write one, giving its dirty pages back; None: never.
    pub recycle_idle: Option<Duration>,
}

impl Spec {
    pub fn load(path: &Path) -> Result<Spec, HostError> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| HostError::config(format!("cannot read spec {}: {err}", path.display())))?;
        Spec::parse(&text).map_err(|why| HostError::config(format!("invalid spec {}: {why}", path.display())))
    }

    /// Parses and checks a spec; the error text names the offending field.
    pub fn parse(text: &str) -> Result<Spec, String> {
        let mut de = serde_json::Deserializer::from_str(text);
        let raw: RawSpec = serde_path_to_error::deserialize(&mut de).map_err(|err| {
            let path = err.path().to_string();
            if path == "." || path.is_empty() {
                err.inner().to_string()
            } else {
                format!("field `{path}`: {}", err.inner())
            }
        })?;
        raw.check()
    }
}

fn field(name: &str, why: impl std::fmt::Display) -> String {
    format!("field `{name}`: {why}")
}

fn non_empty_path(name: &str, path: PathBuf) -> Result<PathBuf, String> {
    if path.as_os_str().is_empty() {
        return Err(field(name, "must not be empty"));
    }
    Ok(path)
}

impl RawSpec {
    fn check(self) -> Result<Spec, String> {
        let sha256 = self.sha256.to_ascii_lowercase();
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(field("sha256", format!("expected 64 hex digits, got {:?}", self.sha256)));
        }
        let listen: SocketAddr = self
            .listen
            .parse()
            .map_err(|_| field("listen", format!("expected \"IP:PORT\", got {:?}", self.listen)))?;
        if !(1..=MAX_INSTANCES).contains(&self.instances) {
            return Err(field("instances", format!("expected 1 to {MAX_INSTANCES}, got {}", self.instances)));
        }
        if self.max_reuse == 0 {
            return Err(field("max_reuse", "expected at least 1"));
        }
        if !(1..=MAX_TIMEOUT_MS).contains(&self.request_timeout_ms) {
            return Err(field(
                "request_timeout_ms",
                format!("expected 1 to {MAX_TIMEOUT_MS}, got {}", self.request_timeout_ms),
            ));
        }
        if !(WASM_PAGE..=MAX_INSTANCE_MEMORY).contains(&self.instance_memory_bytes) {
            return Err(field(
                "instance_memory_bytes",
                format!("expected {WASM_PAGE} to {MAX_INSTANCE_MEMORY}, got {}", self.instance_memory_bytes),
            ));
        }
        for key in self.env.keys() {
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                return Err(field("env", format!("invalid variable name {key:?}")));
            }
        }
        let egress_allow = self
            .egress_allow
            .iter()
            .map(|entry| crate::egress::parse_authority(entry).map_err(|why| field("egress_allow", why)))
            .collect::<Result<Vec<_>, _>>()?;
        let outbound = self.outbound.map(RawOutbound::check).transpose()?;
        Ok(Spec {
            component: non_empty_path("component", self.component)?,
            sha256,
            cache_dir: non_empty_path("cache_dir", self.cache_dir)?,
            listen,
            instances: self.instances,
            max_reuse: self.max_reuse,
            recycle_grown_bytes: usize::try_from(self.recycle_grown_bytes).unwrap_or(usize::MAX),
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            max_request_body_bytes: self.max_request_body_bytes,
            instance_memory_bytes: self.instance_memory_bytes,
            env: self.env.into_iter().collect(),
            args: self.args,
            egress_allow,
            outbound,
            events: non_empty_path("events", self.events)?,
            ready_file: non_empty_path("ready_file", self.ready_file)?,
            exit_file: self.exit_file.map(|path| non_empty_path("exit_file", path)).transpose()?,
            exit_with_parent: self.exit_with_parent,
            recycle_idle: (self.recycle_idle_ms > 0).then(|| Duration::from_millis(self.recycle_idle_ms)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn valid() -> Value {
        json!({
            "component": "/srv/hello.wasm",
            "sha256": "AB".repeat(32),
            "cache_dir": "/var/cache/lean",
            "listen": "127.0.0.1:47123",
            "instances": 4,
            "request_timeout_ms": 30000,
            "max_request_body_bytes": 1048576,
            "instance_memory_bytes": 134217728,
            "env": { "GREETING": "hi" },
            "args": ["hello"],
            "egress_allow": ["127.0.0.1:9000", "API.example.com:443"],
            "events": "/state/events.jsonl",
            "ready_file": "/state/ready.json"
        })
    }

    fn parse(value: &Value) -> Result<Spec, String> {
        Spec::parse(&value.to_string())
    }

    fn with(key: &str, value: Value) -> Value {
        let mut spec = valid();
        spec[key] = value;
        spec
    }

    #[test]
    fn accepts_a_full_spec_and_normalises_it() {
        let spec = parse(&valid()).unwrap();
        assert_eq!(spec.sha256, "ab".repeat(32));
        assert_eq!(spec.listen.port(), 47123);
        assert_eq!(spec.max_reuse, 1000, "max_reuse defaults to 1000");
        assert_eq!(spec.recycle_grown_bytes, 4 << 20, "an instance grown 4 MiB past its image is replaced");
        assert_eq!(spec.request_timeout, Duration::from_secs(30));
        assert_eq!(spec.env, vec![("GREETING".to_string(), "hi".to_string())]);
        assert_eq!(spec.egress_allow, vec!["127.0.0.1:9000", "api.example.com:443"]);
        assert!(spec.exit_with_parent, "a host started by a runner stops with it unless told otherwise");
        assert_eq!(spec.recycle_idle, Some(Duration::from_secs(30)));
        assert_eq!(spec.exit_file, None);
        assert_eq!(spec.outbound, None, "no outbound grants unless asked for");
    }

    #[test]
    fn outbound_grants_are_checked_under_their_own_names() {
        let grants = json!({
            "grants": [
                { "scheme": "http", "host": "email.service.consul" },
                { "scheme": "https", "host": "api.example.com", "port": 8443 }
            ],
            "consul_dns": "127.0.0.1:8600"
        });
        let spec = parse(&with("outbound", grants)).unwrap();
        let outbound = spec.outbound.unwrap();
        assert_eq!(outbound.grants.len(), 2);
        assert_eq!(outbound.max_concurrent_per_instance, 16);
        let bad = json!({ "grants": [{ "scheme": "http", "host": "a" }, { "scheme": "https", "host": "b", "port": 0 }] });
        let err = parse(&with("outbound", bad)).unwrap_err();
        assert!(err.starts_with("field `outbound.grants[1].port`:"), "{err}");
        let err =
            parse(&with("outbound", json!({ "grants": [{ "scheme": "http", "host": 7 }] }))).unwrap_err();
        assert!(err.starts_with("field `outbound.grants[0].host`:"), "{err}");
        let err = parse(&with("outbound", json!({ "grants": [], "proxy": "x" }))).unwrap_err();
        assert!(err.starts_with("field `outbound") && err.contains("unknown field `proxy`"), "{err}");
    }

    #[test]
    fn a_detached_host_may_outlive_its_starter_and_never_recycle() {
        let mut spec = with("exit_with_parent", json!(false));
        spec["recycle_idle_ms"] = json!(0);
        spec["exit_file"] = json!("/state/exit.json");
        let spec = parse(&spec).unwrap();
        assert!(!spec.exit_with_parent);
        assert_eq!(spec.recycle_idle, None);
        assert_eq!(spec.exit_file.as_deref(), Some(Path::new("/state/exit.json")));
    }

    #[test]
    fn optional_fields_may_be_left_out() {
        let mut spec = valid();
        for key in ["env", "args", "egress_allow", "max_reuse"] {
            spec.as_object_mut().unwrap().remove(key);
        }
        let spec = parse(&spec).unwrap();
        assert!(spec.env.is_empty() && spec.args.is_empty() && spec.egress_allow.is_empty());
    }

    #[test]
    fn unknown_fields_are_refused_by_name() {
        let err = parse(&with("instance", json!(3))).unwrap_err();
        assert!(err.contains("unknown field `instance`"), "{err}");
    }

    #[test]
    fn missing_fields_are_named() {
        let mut spec = valid();
        spec.as_object_mut().unwrap().remove("ready_file");
        let err = parse(&spec).unwrap_err();
        assert!(err.contains("missing field `ready_file`"), "{err}");
    }

    #[test]
    fn type_errors_name_the_field() {
        let err = parse(&with("instances", json!("four"))).unwrap_err();
        assert!(err.starts_with("field `instances`:"), "{err}");
        let err = parse(&with("env", json!({ "A": 1 }))).unwrap_err();
        assert!(err.starts_with("field `env.A`:"), "{err}");
    }

    #[test]
    fn out_of_range_values_name_the_field() {
        let cases = [
            ("instances", json!(0), "field `instances`"),
            ("instances", json!(1025), "field `instances`"),
            ("max_reuse", json!(0), "field `max_reuse`"),
            ("request_timeout_ms", json!(0), "field `request_timeout_ms`"),
            ("instance_memory_bytes", json!(1024), "field `instance_memory_bytes`"),
            ("sha256", json!("abc"), "field `sha256`"),
            ("sha256", json!("zz".repeat(32)), "field `sha256`"),
            ("listen", json!("localhost"), "field `listen`"),
            ("egress_allow", json!(["http://x:80"]), "field `egress_allow`"),
            ("egress_allow", json!(["x"]), "field `egress_allow`"),
            ("env", json!({ "A=B": "c" }), "field `env`"),
            ("component", json!(""), "field `component`"),
            ("exit_file", json!(""), "field `exit_file`"),
            ("recycle_idle_ms", json!(-1), "field `recycle_idle_ms`"),
        ];
        for (key, value, expected) in cases {
            let err = parse(&with(key, value.clone())).unwrap_err();
            assert!(err.starts_with(expected), "{key}={value}: {err}");
        }
    }

    #[test]
    fn load_prefixes_the_config_code_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("spec.json");
        std::fs::write(&file, "{").unwrap();
        let err = Spec::load(&file).unwrap_err().to_string();
        assert!(err.starts_with("LEAN_ERR_DRIVER_CONFIG: invalid spec "), "{err}");
        let err = Spec::load(&dir.path().join("absent.json")).unwrap_err().to_string();
        assert!(err.contains("cannot read spec"), "{err}");
    }
}
