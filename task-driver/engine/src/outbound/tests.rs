//! The grants end to end, against servers on loopback: Consul's DNS is a
//! UDP responder started here, https uses a CA made at test time.

use super::dns::testing::srv_answer;
use super::spec::RawOutbound;
use super::*;
use crate::egress::{EgressHooks, EgressPolicy};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, UdpSocket};
use tokio_rustls::TlsAcceptor;
use wasmtime_wasi_http::WasiHttpHooks;
use wasmtime_wasi_http::io::TokioIo;

fn outbound(spec: serde_json::Value) -> Outbound {
    let raw: RawOutbound = serde_json::from_value(spec).unwrap();
    Outbound::new(&raw.check().unwrap()).unwrap()
}

fn hooks(outbound: Outbound) -> EgressHooks {
    EgressHooks::new(Arc::new(EgressPolicy::default()), Some(Arc::new(outbound)))
}

/// A request as wasmtime hands it to the hooks: absolute URI, `Host` set from the authority.
fn request(uri: &str) -> http::Request<WasiBody> {
    let uri: http::Uri = uri.parse().unwrap();
    let host = uri.authority().unwrap().to_string();
    let body = http_body_util::Empty::<Bytes>::new().map_err(|never| match never {}).boxed_unsync();
    http::Request::builder().uri(uri).header(http::header::HOST, host).body(body).unwrap()
}

type Sent = Result<(http::Response<WasiBody>, IoFuture), Error>;

fn send(
    hooks: &mut EgressHooks,
    uri: &str,
    options: Option<RequestOptions>,
) -> Pin<Box<dyn Future<Output = Sent> + Send>> {
    Box::into_pin(hooks.send_request(request(uri), options, Box::new(async { Ok(()) })))
}

async fn body_text(sent: Sent) -> String {
    let (response, _io) = sent.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

/// An HTTP/1.1 server on 127.0.0.1 answering `<Host header> <method> <path>`
/// after `delay`; its port and how many requests it has seen.
async fn http_server(tls: Option<TlsAcceptor>, delay: Duration) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (tls, counter) = (tls.clone(), counter.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    async move {
                        tokio::time::sleep(delay).await;
                        let host = req.headers().get(http::header::HOST).map_or("-", |h| h.to_str().unwrap());
                        let text = format!("{host} {} {}", req.method(), req.uri());
                        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(text))))
                    }
                });
                let http = hyper::server::conn::http1::Builder::new();
                match tls {
                    Some(tls) => {
                        if let Ok(stream) = tls.accept(stream).await {
                            let _ = http.serve_connection(TokioIo::new(stream), service).await;
                        }
                    }
                    None => {
                        let _ = http.serve_connection(TokioIo::new(stream), service).await;
                    }
                }
            });
        }
    });
    (port, seen)
}

/// Consul's DNS as far as we use it: every SRV question gets one instance, 127.0.0.1:`port`.
async fn consul_dns(port: u16) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let address = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buffer = [0; 512];
        loop {
            let (length, from) = socket.recv_from(&mut buffer).await.unwrap();
            let answer = srv_answer(&buffer[..length], &[(std::net::Ipv4Addr::LOCALHOST.into(), port)]);
            socket.send_to(&answer, from).await.unwrap();
        }
    });
    address
}

/// A grant of `scheme://x.service.consul` served by `port` on loopback, plus `extra` settings.
async fn consul_grant(scheme: &str, port: u16, extra: serde_json::Value) -> Outbound {
    let mut spec = serde_json::json!({
        "grants": [{ "scheme": scheme, "host": "x.service.consul" }],
        "consul_dns": consul_dns(port).await.to_string(),
    });
    for (key, value) in extra.as_object().unwrap() {
        spec[key] = value.clone();
    }
    outbound(spec)
}

#[test]
fn this_machines_addresses_are_recognised() {
    for local in [
        "127.0.0.1",
        "127.8.9.10",
        "169.254.169.254",
        "0.0.0.0",
        "::1",
        "::",
        "fe80::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.1.1",
    ] {
        assert!(is_on_this_machine(local.parse().unwrap()), "{local}");
    }
    for remote in ["10.0.0.1", "192.168.1.1", "93.184.216.34", "2001:db8::1", "::ffff:10.0.0.1", "fec0::1"] {
        assert!(!is_on_this_machine(remote.parse().unwrap()), "{remote}");
    }
}

#[tokio::test]
async fn granted_names_for_this_machine_are_still_refused() {
    let mut hooks = hooks(outbound(serde_json::json!({ "grants": [
        { "scheme": "http", "host": "localhost" },
        { "scheme": "http", "host": "127.0.0.1", "port": 8500 },
        { "scheme": "http", "host": "169.254.169.254" },
        { "scheme": "http", "host": "[::1]", "port": 8080 },
        { "scheme": "http", "host": "[::ffff:127.0.0.1]" },
        { "scheme": "http", "host": "0.0.0.0" },
    ] })));
    for uri in [
        "http://localhost/",
        "http://LOCALHOST./v1",
        "http://127.0.0.1:8500/v1/kv/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
    ] {
        assert!(matches!(send(&mut hooks, uri, None).await, Err(Error::HttpRequestDenied)), "{uri}");
    }
}

#[tokio::test]
async fn requests_without_a_grant_are_refused() {
    let mut hooks =
        hooks(outbound(serde_json::json!({ "grants": [{ "scheme": "https", "host": "api.example.com" }] })));
    for uri in ["http://api.example.com/", "https://api.example.com:8443/", "https://example.com/"] {
        assert!(matches!(send(&mut hooks, uri, None).await, Err(Error::HttpRequestDenied)), "{uri}");
    }
}

#[tokio::test]
async fn consul_names_are_refused_without_consul_dns() {
    let mut hooks =
        hooks(outbound(serde_json::json!({ "grants": [{ "scheme": "http", "host": "x.service.consul" }] })));
    assert!(matches!(
        send(&mut hooks, "http://x.service.consul/", None).await,
        Err(Error::HttpRequestDenied)
    ));
}

#[tokio::test]
async fn consul_names_reach_the_srv_answer_with_their_own_host() {
    let (port, seen) = http_server(None, Duration::ZERO).await;
    let mut hooks = hooks(consul_grant("http", port, serde_json::json!({})).await);
    let text = body_text(send(&mut hooks, "http://x.service.consul/hello?a=1", None).await).await;
    assert_eq!(text, "x.service.consul GET /hello?a=1");
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    // A port other than the scheme's default is not what the grant means.
    assert!(matches!(
        send(&mut hooks, &format!("http://x.service.consul:{port}/"), None).await,
        Err(Error::HttpRequestDenied)
    ));
}

/// A CA and a server certificate for `x.service.consul` signed by it.
fn test_pki() -> (String, TlsAcceptor) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "lean test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["x.service.consul".to_string()]).unwrap();
    let certificate = params.signed_by(&key, &*ca).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(tls::ring_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certificate.der().clone()], key)
        .unwrap();
    (ca.pem(), TlsAcceptor::from(Arc::new(config)))
}

#[tokio::test]
async fn https_trusts_the_ca_files_and_nothing_unknown() {
    let (ca_pem, acceptor) = test_pki();
    let (port, seen) = http_server(Some(acceptor), Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("cloud-ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();

    let mut trusting = hooks(consul_grant("https", port, serde_json::json!({ "ca_files": [ca_file] })).await);
    let text = body_text(send(&mut trusting, "https://x.service.consul/secure", None).await).await;
    assert_eq!(text, "x.service.consul GET /secure");

    let mut untrusting = hooks(consul_grant("https", port, serde_json::json!({})).await);
    let refused = send(&mut untrusting, "https://x.service.consul/secure", None).await;
    assert!(matches!(refused, Err(Error::TlsCertificateError)), "{:?}", refused.map(|_| ()));
    assert_eq!(seen.load(Ordering::SeqCst), 1, "no request went over the untrusted connection");
}

#[tokio::test]
async fn an_instance_has_at_most_its_share_of_requests_in_flight() {
    let (port, _) = http_server(None, Duration::ZERO).await;
    let mut hooks =
        hooks(consul_grant("http", port, serde_json::json!({ "max_concurrent_per_instance": 1 })).await);
    let first = send(&mut hooks, "http://x.service.consul/1", None);
    let second = send(&mut hooks, "http://x.service.consul/2", None).await;
    assert!(matches!(second, Err(Error::ConnectionLimitReached)));
    assert_eq!(body_text(first.await).await, "x.service.consul GET /1");
    // The first response's body is gone: its permit is back.
    assert_eq!(
        body_text(send(&mut hooks, "http://x.service.consul/3", None).await).await,
        "x.service.consul GET /3"
    );
}

#[tokio::test]
async fn first_byte_timeouts_are_clamped_to_the_spec() {
    let (port, _) = http_server(None, Duration::from_secs(30)).await;
    let mut hooks =
        hooks(consul_grant("http", port, serde_json::json!({ "first_byte_timeout_ms": 300 })).await);
    let options = RequestOptions { first_byte_timeout: Some(Duration::from_secs(60)), ..Default::default() };
    let started = Instant::now();
    let sent = send(&mut hooks, "http://x.service.consul/slow", Some(options)).await;
    assert!(matches!(sent, Err(Error::ConnectionReadTimeout)));
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());

    // A guest asking for less than the spec gets what it asked.
    let mut hooks = self::hooks(consul_grant("http", port, serde_json::json!({})).await);
    let options =
        RequestOptions { first_byte_timeout: Some(Duration::from_millis(300)), ..Default::default() };
    let started = Instant::now();
    let sent = send(&mut hooks, "http://x.service.consul/slow", Some(options)).await;
    assert!(matches!(sent, Err(Error::ConnectionReadTimeout)));
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn a_body_that_stalls_fails_after_the_between_bytes_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut head = [0; 1024];
        let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut head).await;
        let _ =
            stream.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n").await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let mut hooks =
        hooks(consul_grant("http", port, serde_json::json!({ "between_bytes_timeout_ms": 300 })).await);
    let (response, _io) = send(&mut hooks, "http://x.service.consul/stream", None).await.unwrap();
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first, "hello");
    let started = Instant::now();
    assert!(matches!(body.frame().await, Some(Err(Error::ConnectionReadTimeout))));
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}
