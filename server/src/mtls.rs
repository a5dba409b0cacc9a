//! The mTLS listener (RFC 8705): the same application behind TLS that asks every
//! client for a certificate. The handshake accepts any certificate whose key signs
//! the handshake (proof of possession), because `self_signed_tls_client_auth` (§2.2)
//! clients register the certificate itself. Separately, the chain is validated
//! against the partner CAs the bank configured (`--mtls-client-ca`); only a chain
//! that validates lets `tls_client_auth` (§2.1) trust the certificate's subject.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use app::oauth::mtls::{ClientCertificate, MtlsConnection};
use axum::extract::ConnectInfo;
use axum::Extension;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// The listener's certificate and key: the configured PEM files, or a self-signed
/// certificate for the listener's host generated into the data directory (development).
pub fn identity(
    cert: Option<&Path>,
    key: Option<&Path>,
    data_dir: &Path,
    host: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let (cert, key) = match (cert, key) {
        (Some(cert), Some(key)) => (cert.to_path_buf(), key.to_path_buf()),
        (None, None) => generated(data_dir, host)?,
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    let chain = CertificateDer::pem_file_iter(&cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read {}: {e}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(&key)
        .map_err(|e| format!("cannot read {}: {e}", key.display()))?;
    Ok((chain, key))
}

fn generated(data_dir: &Path, host: &str) -> Result<(PathBuf, PathBuf), String> {
    let cert = data_dir.join("mtls-server.crt");
    let key = data_dir.join("mtls-server.key");
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    let names = vec![host.to_string(), "localhost".to_string()];
    let generated = rcgen::generate_simple_self_signed(names).map_err(|e| e.to_string())?;
    std::fs::write(&cert, generated.cert.pem()).map_err(|e| e.to_string())?;
    std::fs::write(&key, generated.signing_key.serialize_pem()).map_err(|e| e.to_string())?;
    Ok((cert, key))
}

pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = AnyClientCertificate {
        algorithms: provider.signature_verification_algorithms,
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(chain, key)
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Asks for a certificate, accepts any, and checks the handshake signature (the proof
/// of possession of the certificate's key).
#[derive(Debug)]
struct AnyClientCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCertificate {
    fn client_auth_mandatory(&self) -> bool {
        // Clients without a certificate may still use the aliases with another method.
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The validator of client chains against the partner CAs in a PEM file (RFC 8705
/// §2.1): path validation, validity dates and the client-auth key usage, by webpki.
pub fn partner_ca_verifier(pem: &Path) -> Result<Arc<dyn ClientCertVerifier>, String> {
    let mut roots = rustls::RootCertStore::empty();
    let certificates = CertificateDer::pem_file_iter(pem)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read {}: {e}", pem.display()))?;
    for certificate in certificates {
        roots
            .add(certificate)
            .map_err(|e| format!("{}: not a usable CA certificate: {e}", pem.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("{} holds no CA certificate", pem.display()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| e.to_string())
}

/// What the mTLS listener serves: the OAuth endpoints a client authenticates at or
/// reads (token, PAR, introspection, revocation, metadata and JWKS, of both issuers)
/// and the APIs that honour certificate-bound tokens. Portal pages, the customer's
/// authorization pages, metrics and everything else answer 404 there.
pub fn served_on_mtls(path: &str) -> bool {
    use app::oauth::{introspect, metadata, par, revoke, token, Issuer};
    let endpoints = [
        token::PATH,
        par::PATH,
        introspect::PATH,
        revoke::PATH,
        metadata::JWKS_PATH,
    ];
    Issuer::ALL.into_iter().any(|issuer| {
        path == issuer.metadata_path() || endpoints.iter().any(|e| path == issuer.path(e))
    }) || path
        .strip_prefix(app::sandbox::api::BASE)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

async fn mtls_paths(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if served_on_mtls(request.uri().path()) {
        next.run(request).await
    } else {
        (
            axum::http::StatusCode::NOT_FOUND,
            "Not found: the mTLS listener serves only the OAuth endpoints and the APIs.\n",
        )
            .into_response()
    }
}

/// Serves `router` on `listener` over TLS; each request carries the connection's
/// client certificate as an `MtlsConnection` extension, marked trusted only when its
/// chain validates against `partner_cas`.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    config: Arc<ServerConfig>,
    partner_cas: Option<Arc<dyn ClientCertVerifier>>,
) {
    let acceptor = TlsAcceptor::from(config);
    let router = router.layer(axum::middleware::from_fn(mtls_paths));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::warn!(error = %err, "mTLS accept failed");
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        let partner_cas = partner_cas.clone();
        tokio::spawn(async move {
            let Ok(Ok(tls)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await
            else {
                return;
            };
            let chain = tls.get_ref().1.peer_certificates().unwrap_or_default();
            let certificate = chain.first().and_then(|end_entity| {
                let mut certificate = ClientCertificate::from_der(end_entity)?;
                certificate.chain_trusted = partner_cas.as_ref().is_some_and(|verifier| {
                    verifier
                        .verify_client_cert(end_entity, &chain[1..], UnixTime::now())
                        .is_ok()
                });
                Some(certificate)
            });
            let service = router
                .layer(Extension(MtlsConnection { certificate }))
                .layer(Extension(ConnectInfo::<SocketAddr>(peer)));
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            if let Err(err) = builder
                .serve_connection(TokioIo::new(tls), TowerToHyperService::new(service))
                .await
            {
                tracing::debug!(error = %err, "mTLS connection ended");
            }
        });
    }
}
