//! TLS for https grants: rustls with the ring provider (no aws-lc, no
//! OpenSSL), HTTP/1.1 only. Trusted roots are the system's, as
//! rustls-native-certs finds them (`SSL_CERT_FILE`, `SSL_CERT_DIR`, else the
//! distribution's bundle), plus every PEM file in `outbound.ca_files`.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_rustls::TlsConnector;
use wasmtime_wasi_http::Error;

/// A connector trusting the system's roots and `ca_files`; the error names the file.
pub fn connector(ca_files: &[PathBuf]) -> Result<TlsConnector, String> {
    let mut roots = RootCertStore::empty();
    let system = rustls_native_certs::load_native_certs();
    let (added, _unparsable) = roots.add_parsable_certificates(system.certs);
    if added == 0 {
        let why = system.errors.first().map_or("none found".to_string(), ToString::to_string);
        eprintln!("lean-wasm-host: outbound https trusts no system CA ({why}); only outbound.ca_files");
    }
    for (index, path) in ca_files.iter().enumerate() {
        let field = format!("field `outbound.ca_files[{index}]`");
        let pem =
            std::fs::read(path).map_err(|err| format!("{field}: cannot read {}: {err}", path.display()))?;
        let certificates = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| format!("{field}: {} is not PEM: {err}", path.display()))?;
        if certificates.is_empty() {
            return Err(format!("{field}: {} holds no PEM certificate", path.display()));
        }
        for certificate in certificates {
            roots.add(certificate).map_err(|err| {
                format!("{field}: {} holds a certificate rustls refuses: {err}", path.display())
            })?;
        }
    }
    let mut config = ClientConfig::builder_with_provider(ring_provider())
        .with_safe_default_protocol_versions()
        .map_err(|err| format!("cannot set up TLS: {err}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

/// rustls's ring provider. rustls 0.23.48 deprecates it for lacking
/// post-quantum key exchange, which only its aws-lc provider has; aws-lc is
/// a large C build we keep out, and classical key exchange is what most
/// servers speak today.
#[expect(deprecated, reason = "ring is the provider we choose; see above")]
pub fn ring_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The name the certificate must carry: the request's host (an IP literal
/// for an address).
pub fn server_name(host: &str) -> Result<ServerName<'static>, Error> {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(host.to_string()).map_err(|_| Error::HttpRequestUriInvalid)
}

/// The wasi:http error for a failed handshake, and a line for the log.
pub fn handshake_error(err: io::Error) -> (Error, String) {
    let why = format!("TLS handshake failed: {err}");
    let code = match err.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::InvalidCertificate(_)) => Error::TlsCertificateError,
        Some(rustls::Error::AlertReceived(alert)) => Error::TlsAlertReceived {
            alert_id: Some(u8::from(*alert)),
            alert_message: Some(format!("{alert:?}")),
        },
        Some(_) => Error::TlsProtocolError,
        None => Error::Tls(err),
    };
    (code, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_are_the_request_host() {
        assert_eq!(server_name("api.example.com").unwrap(), ServerName::try_from("api.example.com").unwrap());
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(server_name("[2001:db8::1]").unwrap(), ServerName::IpAddress(ip.into()));
    }

    #[test]
    fn a_ca_file_must_hold_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        let err = connector(&[empty]).err().unwrap();
        assert!(
            err.starts_with("field `outbound.ca_files[0]`:") && err.contains("no PEM certificate"),
            "{err}"
        );
        let err = connector(&[dir.path().join("absent.pem")]).err().unwrap();
        assert!(err.contains("cannot read"), "{err}");
    }
}
