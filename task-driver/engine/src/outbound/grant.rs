//! Which guest requests a grant lets out: the same scheme, the same host
//! (lower-case, without a trailing dot) and the same port (the scheme's
//! default when either side gives none). A `*.service.consul` grant has no
//! port: the request may give none or the scheme's default, and the port
//! comes from Consul's SRV answer.

use http::uri::Scheme;
use std::fmt;
use std::net::Ipv6Addr;

const CONSUL_SERVICE_SUFFIX: &str = ".service.consul";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantScheme {
    Http,
    Https,
}

impl GrantScheme {
    pub fn default_port(self) -> u16 {
        match self {
            GrantScheme::Http => 80,
            GrantScheme::Https => 443,
        }
    }

    fn of(scheme: Option<&Scheme>) -> Option<GrantScheme> {
        match scheme {
            Some(s) if *s == Scheme::HTTP => Some(GrantScheme::Http),
            Some(s) if *s == Scheme::HTTPS => Some(GrantScheme::Https),
            _ => None,
        }
    }
}

impl fmt::Display for GrantScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GrantScheme::Http => "http",
            GrantScheme::Https => "https",
        })
    }
}

/// One entry of `outbound.grants`, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub scheme: GrantScheme,
    pub host: String,
    /// None: the scheme's default, or for a Consul service, the SRV answer's.
    pub port: Option<u16>,
}

pub fn is_consul_name(host: &str) -> bool {
    host.len() > CONSUL_SERVICE_SUFFIX.len() && host.ends_with(CONSUL_SERVICE_SUFFIX)
}

/// Lower-cases a host name and drops its trailing dot; None unless it is a
/// plain DNS name, an IPv4 address or a bracketed IPv6 address.
pub fn normalise_host(host: &str) -> Option<String> {
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().is_ok().then_some(host);
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    (host.len() <= 253 && host.split('.').all(label_ok)).then_some(host)
}

/// Where a guest request wants to go, as the grants compare it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub scheme: GrantScheme,
    /// Normalised as in `normalise_host`; what TLS checks the certificate against.
    pub host: String,
    /// The port the guest gave, else the scheme's default.
    pub port: u16,
}

impl Destination {
    /// None when the URI has no http(s) scheme or no usable host.
    pub fn of(uri: &http::Uri) -> Option<Destination> {
        let scheme = GrantScheme::of(uri.scheme())?;
        let authority = uri.authority()?;
        let host = normalise_host(authority.host())?;
        Some(Destination { scheme, host, port: authority.port_u16().unwrap_or(scheme.default_port()) })
    }

    /// Whether its address comes from a Consul SRV answer rather than the system resolver.
    pub fn via_consul(&self) -> bool {
        is_consul_name(&self.host)
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

impl Grant {
    pub fn allows(&self, to: &Destination) -> bool {
        let port = if is_consul_name(&self.host) {
            to.scheme.default_port()
        } else {
            self.port.unwrap_or(self.scheme.default_port())
        };
        self.scheme == to.scheme && self.host == to.host && port == to.port
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants() -> Vec<Grant> {
        let grant = |scheme, host: &str, port| Grant { scheme, host: host.to_string(), port };
        vec![
            grant(GrantScheme::Http, "email.service.consul", None),
            grant(GrantScheme::Https, "api.example.com", Some(8443)),
            grant(GrantScheme::Https, "hooks.example.com", None),
            grant(GrantScheme::Http, "plain.example.com", Some(80)),
            grant(GrantScheme::Http, "10.1.2.3", Some(9000)),
            grant(GrantScheme::Https, "[2001:db8::1]", None),
        ]
    }

    fn allowed(uri: &str) -> bool {
        let uri: http::Uri = uri.parse().unwrap();
        Destination::of(&uri).is_some_and(|to| grants().iter().any(|g| g.allows(&to)))
    }

    #[test]
    fn a_request_needs_the_same_scheme_host_and_port() {
        let table = [
            ("http://email.service.consul/send", true),
            ("http://EMAIL.service.consul./send", true),
            ("http://email.service.consul:80/send", true),
            ("http://email.service.consul:8080/send", false),
            ("https://email.service.consul/send", false),
            ("http://other.service.consul/", false),
            ("https://api.example.com:8443/v1?q=1", true),
            ("https://api.example.com/v1", false),
            ("http://api.example.com:8443/v1", false),
            ("https://hooks.example.com/x", true),
            ("https://hooks.example.com:443/x", true),
            ("https://hooks.example.com:8443/x", false),
            ("https://evil.hooks.example.com/x", false),
            ("https://hooks.example.com.evil.net/x", false),
            ("http://plain.example.com/", true),
            ("http://plain.example.com:81/", false),
            ("http://10.1.2.3:9000/", true),
            ("http://10.1.2.3/", false),
            ("https://[2001:db8::1]/", true),
            ("https://[2001:db8::1]:8443/", false),
            ("ftp://plain.example.com/", false),
            ("/relative", false),
        ];
        for (uri, expected) in table {
            assert_eq!(allowed(uri), expected, "{uri}");
        }
    }

    #[test]
    fn hosts_are_normalised_or_refused() {
        assert_eq!(normalise_host("API.Example.COM.").as_deref(), Some("api.example.com"));
        assert_eq!(normalise_host("[2001:DB8::1]").as_deref(), Some("[2001:db8::1]"));
        assert_eq!(normalise_host("10.0.0.1").as_deref(), Some("10.0.0.1"));
        for bad in ["", ".", "a..b", "*.example.com", "x:80", "user@x", "[::1", "[x]", "a b"] {
            assert_eq!(normalise_host(bad), None, "{bad:?}");
        }
        assert!(is_consul_name("email.service.consul"));
        assert!(!is_consul_name(".service.consul") && !is_consul_name("service.consul"));
    }

    #[test]
    fn destinations_print_scheme_host_and_port() {
        let to = Destination::of(&"https://API.example.com/x".parse().unwrap()).unwrap();
        assert_eq!(to.to_string(), "https://api.example.com:443");
    }
}
