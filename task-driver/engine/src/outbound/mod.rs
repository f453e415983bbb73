//! Outbound grants: the `scheme://host[:port]` destinations the spec's
//! `outbound.grants` let a guest reach, over plain HTTP/1.1 or TLS.
//!
//! A request is sent only if a grant matches it (`grant.rs`). Its host is
//! then resolved, by Consul's DNS for `*.service.consul` (`dns.rs`), by the
//! system resolver otherwise, and addresses on this machine (loopback,
//! link-local, unspecified) are never dialled, so a grant cannot reach the
//! node's agents or a cloud's metadata service. Every refusal is one stderr
//! line naming `scheme://host:port` and why; the guest sees
//! `HTTP-request-denied`.

mod dns;
pub mod grant;
mod http1;
pub mod spec;
mod tls;

use grant::{Destination, Grant, GrantScheme};
pub use http1::{Exchange, IoFuture, send_on};
use spec::OutboundSpec;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio_rustls::TlsConnector;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

/// The grants and what sending under them needs, shared by every instance.
pub struct Outbound {
    grants: Vec<Grant>,
    consul_dns: Option<SocketAddr>,
    /// Only when some grant is https.
    tls: Option<TlsConnector>,
    connect_timeout: Duration,
    first_byte_timeout: Duration,
    between_bytes_timeout: Duration,
    pub max_concurrent_per_instance: usize,
}

/// Why a request was not sent; the text completes "refused: ".
pub type Refusal = &'static str;

impl Outbound {
    /// Reads the trusted CAs when an https grant needs them; the error names the field.
    pub fn new(spec: &OutboundSpec) -> Result<Outbound, String> {
        let https = spec.grants.iter().any(|grant| grant.scheme == GrantScheme::Https);
        Ok(Outbound {
            grants: spec.grants.clone(),
            consul_dns: spec.consul_dns,
            tls: https.then(|| tls::connector(&spec.ca_files)).transpose()?,
            connect_timeout: spec.connect_timeout,
            first_byte_timeout: spec.first_byte_timeout,
            between_bytes_timeout: spec.between_bytes_timeout,
            max_concurrent_per_instance: spec.max_concurrent_per_instance,
        })
    }

    /// The granted destination of `uri`, or why there is none.
    pub fn route(&self, uri: &http::Uri) -> Result<Destination, Refusal> {
        let to = Destination::of(uri).ok_or("not granted")?;
        if !self.grants.iter().any(|grant| grant.allows(&to)) {
            return Err("not granted");
        }
        if to.via_consul() && self.consul_dns.is_none() {
            return Err("a Consul service, and no outbound.consul_dns is configured");
        }
        Ok(to)
    }

    /// Sends a request `route` allowed; a failure is also logged.
    pub async fn send(
        self: Arc<Self>,
        to: Destination,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        permit: OwnedSemaphorePermit,
    ) -> Result<(http::Response<WasiBody>, IoFuture), Error> {
        let result = self.try_send(&to, request, options.unwrap_or_default(), permit).await;
        match result {
            Ok(sent) => Ok(sent),
            Err(Failure::Refused(why)) => {
                eprintln!("lean-wasm-host: outbound request to {to} refused: {why}");
                Err(Error::HttpRequestDenied)
            }
            Err(Failure::Failed(code, why)) => {
                eprintln!("lean-wasm-host: outbound request to {to} failed: {why}");
                Err(code)
            }
        }
    }

    async fn try_send(
        &self,
        to: &Destination,
        request: http::Request<WasiBody>,
        options: RequestOptions,
        permit: OwnedSemaphorePermit,
    ) -> Result<(http::Response<WasiBody>, IoFuture), Failure> {
        let connect_timeout = clamp(options.connect_timeout, self.connect_timeout);
        let first_byte_timeout = clamp(options.first_byte_timeout, self.first_byte_timeout);
        let exchange = Exchange {
            first_byte_timeout,
            between_bytes_timeout: Some(clamp(options.between_bytes_timeout, self.between_bytes_timeout)),
            permit: Some(permit),
        };
        let timed_out =
            || Failure::Failed(Error::ConnectionTimeout, format!("no connection within {connect_timeout:?}"));
        let sent = match to.scheme {
            GrantScheme::Http => {
                let stream =
                    tokio::time::timeout(connect_timeout, self.dial(to)).await.map_err(|_| timed_out())??;
                send_on(stream, request, exchange).await
            }
            GrantScheme::Https => {
                let connector = self.tls.as_ref().expect("an https grant has a connector");
                let name = tls::server_name(&to.host)
                    .map_err(|code| Failure::Failed(code, "not a TLS server name".into()))?;
                let handshake = async {
                    let stream = self.dial(to).await?;
                    connector.connect(name, stream).await.map_err(|err| {
                        let (code, why) = tls::handshake_error(err);
                        Failure::Failed(code, why)
                    })
                };
                let stream =
                    tokio::time::timeout(connect_timeout, handshake).await.map_err(|_| timed_out())??;
                send_on(stream, request, exchange).await
            }
        };
        sent.map_err(|code| {
            let why = match code {
                Error::ConnectionReadTimeout => format!("no response within {first_byte_timeout:?}"),
                _ => code.to_string(),
            };
            Failure::Failed(code, why)
        })
    }

    /// A TCP connection to the first address of `to` that answers.
    async fn dial(&self, to: &Destination) -> Result<TcpStream, Failure> {
        let addresses = self.resolve(to).await?;
        let mut last = None;
        for address in addresses {
            match TcpStream::connect(address).await {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(stream);
                }
                Err(err) => last = Some(err),
            }
        }
        let err = last.expect("resolve gives at least one address");
        Err(Failure::Failed(Error::ConnectionRefused, format!("cannot connect: {err}")))
    }

    /// The addresses to dial, in order; never empty.
    async fn resolve(&self, to: &Destination) -> Result<Vec<SocketAddr>, Failure> {
        if to.via_consul() {
            // Taken as Consul gives them, loopback included: in a single-node
            // cloud every service instance listens on 127.0.0.1, and only
            // Consul (the operator's) decides what a granted service name
            // points at; the guest cannot make it name anything else.
            let server = self.consul_dns.expect("route refuses Consul names without consul_dns");
            return dns::resolve_srv(server, &to.host).await.map_err(|err| {
                let code = match err {
                    dns::SrvError::Timeout => Error::DnsTimeout,
                    _ if err.is_not_found() => Error::DestinationNotFound,
                    _ => Error::DnsError { rcode: None, info_code: None },
                };
                Failure::Failed(code, err.to_string())
            });
        }
        let bare = to.host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(&to.host);
        let found: Vec<SocketAddr> = tokio::net::lookup_host((bare, to.port))
            .await
            .map_err(|err| {
                Failure::Failed(
                    Error::DnsError { rcode: Some(err.to_string()), info_code: None },
                    format!("cannot resolve: {err}"),
                )
            })?
            .collect();
        let usable: Vec<SocketAddr> =
            found.iter().copied().filter(|address| !is_on_this_machine(address.ip())).collect();
        if usable.is_empty() {
            return Err(Failure::Refused("resolves only to loopback, link-local or unspecified addresses"));
        }
        Ok(usable)
    }
}

enum Failure {
    Refused(Refusal),
    /// The error the guest sees and a line for the log.
    Failed(Error, String),
}

/// The guest's own timeout when it set one, never more than the spec's.
fn clamp(guest: Option<Duration>, limit: Duration) -> Duration {
    guest.map_or(limit, |asked| asked.min(limit))
}

/// Loopback, link-local or unspecified (also as IPv4-mapped IPv6): addresses
/// that reach this machine or its cloud's metadata service, never a granted host.
pub fn is_on_this_machine(ip: IpAddr) -> bool {
    match ip {
        // 0.0.0.0/8 as a whole: Linux treats 0.x.y.z destinations as this host.
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_link_local() || v4.octets()[0] == 0,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_on_this_machine(v4.into()),
            None => v6.is_loopback() || v6.is_unspecified() || v6.is_unicast_link_local(),
        },
    }
}

#[cfg(test)]
mod tests;
