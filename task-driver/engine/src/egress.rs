//! Outgoing wasi:http from the guest. Two ways out:
//! - `egress_allow`: exact `host:port` authorities (the plugin's capability
//!   API on loopback), plain HTTP/1.1, no other check: the operator's own
//!   plugin put them there.
//! - `outbound` grants (`outbound/`): `scheme://host[:port]` destinations,
//!   http or https, never to this machine's addresses, at most
//!   `max_concurrent_per_instance` at once per instance.
//!
//! Anything else is refused inside the host with one stderr line; the guest
//! sees `error-code.HTTP-request-denied` (its `fetch` rejects).

use crate::outbound::{Exchange, IoFuture, Outbound, send_on};
use http::uri::Scheme;
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(600);

/// Parses a spec entry `host:port` into its normal form (lower-case host).
pub fn parse_authority(entry: &str) -> Result<String, String> {
    let authority: http::uri::Authority =
        entry.parse().map_err(|_| format!("{entry:?} is not a host:port authority"))?;
    if authority.as_str() != entry || entry.contains('@') {
        return Err(format!("{entry:?} is not a host:port authority"));
    }
    match authority.port_u16() {
        Some(port) if port != 0 => Ok(format!("{}:{port}", authority.host().to_ascii_lowercase())),
        _ => Err(format!("{entry:?} needs a port, as in \"host:port\"")),
    }
}

/// The authority a request goes to, in the form of `parse_authority`, with
/// the scheme's default port when the guest gave none.
pub fn request_authority(uri: &http::Uri) -> Option<String> {
    let authority = uri.authority()?;
    let port = match authority.port_u16() {
        Some(port) => port,
        None if uri.scheme() == Some(&Scheme::HTTPS) => 443,
        None => 80,
    };
    Some(format!("{}:{port}", authority.host().to_ascii_lowercase()))
}

/// The set of authorities the guest may reach.
#[derive(Debug, Default)]
pub struct EgressPolicy {
    allowed: HashSet<String>,
}

impl EgressPolicy {
    /// `allowed` holds entries already normalised by `parse_authority`.
    pub fn new(allowed: &[String]) -> Self {
        EgressPolicy { allowed: allowed.iter().cloned().collect() }
    }

    pub fn allows(&self, uri: &http::Uri) -> bool {
        request_authority(uri).is_some_and(|authority| self.allowed.contains(&authority))
    }
}

/// The wasi:http hooks each store (each instance) gets.
pub struct EgressHooks {
    policy: Arc<EgressPolicy>,
    /// The grants, and this instance's permits for requests under them.
    outbound: Option<(Arc<Outbound>, Arc<Semaphore>)>,
}

impl EgressHooks {
    pub fn new(policy: Arc<EgressPolicy>, outbound: Option<Arc<Outbound>>) -> Self {
        let outbound = outbound.map(|outbound| {
            let permits = Arc::new(Semaphore::new(outbound.max_concurrent_per_instance));
            (outbound, permits)
        });
        EgressHooks { policy, outbound }
    }
}

type SendFuture = Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), Error>> + Send>;

fn refuse(error: Error) -> SendFuture {
    Box::new(async { Err(error) })
}

impl WasiHttpHooks for EgressHooks {
    fn default_scheme(&mut self) -> Option<Scheme> {
        Some(Scheme::HTTP)
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_error: IoFuture,
    ) -> SendFuture {
        let uri = request.uri();
        let target = request_authority(uri).unwrap_or_default();
        let listed = self.policy.allows(uri);
        if listed && uri.scheme() == Some(&Scheme::HTTP) {
            return Box::new(send_plain(request, target, options.unwrap_or_default()));
        }
        let route = match &self.outbound {
            Some((outbound, permits)) => outbound.route(uri).map(|to| (outbound, permits, to)),
            None => Err("not granted"),
        };
        match route {
            Ok((outbound, permits, to)) => {
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    eprintln!(
                        "lean-wasm-host: outbound request to {to} refused: this instance already has {} outgoing requests in flight (outbound.max_concurrent_per_instance)",
                        outbound.max_concurrent_per_instance
                    );
                    return refuse(Error::ConnectionLimitReached);
                };
                Box::new(outbound.clone().send(to, request, options, permit))
            }
            Err(_) if listed => {
                eprintln!(
                    "lean-wasm-host: egress to {target:?} refused: only http:// is supported in egress_allow"
                );
                refuse(Error::ConfigurationError)
            }
            Err(why) => {
                let scheme = uri.scheme_str().unwrap_or("http");
                eprintln!("lean-wasm-host: outbound request to {scheme}://{target} refused: {why}");
                refuse(Error::HttpRequestDenied)
            }
        }
    }
}

/// Sends one request to an `egress_allow` authority on a fresh HTTP/1.1 connection.
async fn send_plain(
    request: http::Request<WasiBody>,
    target: String,
    options: RequestOptions,
) -> Result<(http::Response<WasiBody>, IoFuture), Error> {
    let connect = options.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let stream = tokio::time::timeout(connect, TcpStream::connect(&target))
        .await
        .map_err(|_| Error::ConnectionTimeout)?
        .map_err(Error::Connect)?;
    let _ = stream.set_nodelay(true);
    let exchange = Exchange {
        first_byte_timeout: options.first_byte_timeout.unwrap_or(DEFAULT_FIRST_BYTE_TIMEOUT),
        between_bytes_timeout: None,
        permit: None,
    };
    send_on(stream, request, exchange).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::BodyExt;
    use wasmtime_wasi_http::io::TokioIo;

    fn policy() -> EgressPolicy {
        let allowed: Vec<String> = ["127.0.0.1:9000", "API.example.com:443", "svc:80"]
            .iter()
            .map(|e| parse_authority(e).unwrap())
            .collect();
        EgressPolicy::new(&allowed)
    }

    fn uri(s: &str) -> http::Uri {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_normalises_authorities() {
        assert_eq!(parse_authority("Example.COM:8080").unwrap(), "example.com:8080");
        assert_eq!(parse_authority("[::1]:80").unwrap(), "[::1]:80");
        for bad in ["example.com", "http://x:80", "x:80/path", "user@x:80", "x:0", "x:99999", ""] {
            assert!(parse_authority(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn allows_only_listed_authorities() {
        let p = policy();
        assert!(p.allows(&uri("http://127.0.0.1:9000/blob/a")));
        assert!(p.allows(&uri("https://api.example.com/v1")), "https defaults to port 443");
        assert!(p.allows(&uri("http://SVC/x")), "http defaults to port 80, host case ignored");
        assert!(!p.allows(&uri("http://127.0.0.1:9001/")), "other port");
        assert!(!p.allows(&uri("http://api.example.com/v1")), "port 80 is not listed");
        assert!(!p.allows(&uri("http://localhost:9000/")), "names are not resolved");
        assert!(!p.allows(&uri("/relative")), "no authority");
        assert!(!EgressPolicy::default().allows(&uri("http://127.0.0.1:9000/")));
    }

    fn request(to: &str) -> http::Request<WasiBody> {
        let body = http_body_util::Empty::<Bytes>::new().map_err(|never| match never {}).boxed_unsync();
        http::Request::builder().uri(to).body(body).unwrap()
    }

    #[tokio::test]
    async fn refused_requests_never_leave_the_host() {
        let mut hooks = EgressHooks::new(Arc::new(policy()), None);
        let denied = Box::into_pin(hooks.send_request(
            request("http://10.0.0.1:80/"),
            None,
            Box::new(async { Ok(()) }),
        ));
        assert!(matches!(denied.await, Err(Error::HttpRequestDenied)));
        let tls = Box::into_pin(hooks.send_request(
            request("https://api.example.com/"),
            None,
            Box::new(async { Ok(()) }),
        ));
        assert!(matches!(tls.await, Err(Error::ConfigurationError)));
    }

    #[tokio::test]
    async fn allowed_requests_reach_the_listed_server() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let service =
                hyper::service::service_fn(|req: http::Request<hyper::body::Incoming>| async move {
                    let text = format!("{} {}", req.method(), req.uri());
                    Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(
                        Bytes::from(text),
                    )))
                });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        let allowed = vec![format!("127.0.0.1:{port}")];
        let mut hooks = EgressHooks::new(Arc::new(EgressPolicy::new(&allowed)), None);
        let sent = hooks.send_request(
            request(&format!("http://127.0.0.1:{port}/a?b=1")),
            None,
            Box::new(async { Ok(()) }),
        );
        let (response, _io) = Box::into_pin(sent).await.unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "GET /a?b=1");
    }
}
