//! Entra over TLS: Microsoft's identity platform is HTTPS only, and azure_identity refuses an authority that is
//! not. pbi-sim and the DFS emulator serve their token endpoints a second time on a TLS listener, with a certificate
//! from a certificate authority made at start and written to a PEM file, which a client trusts through
//! `SSL_CERT_FILE` or pbi-backup's `PBI_BACKUP_CA_FILE`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio_rustls::rustls;

/// Starts serving `app` over TLS on `listen`; writes the CA's PEM to `ca_file`. Returns the address.
pub(crate) async fn serve(
    app: Router,
    listen: SocketAddr,
    ca_file: &Path,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let acceptor = acceptor(ca_file)?;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let app = app.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let service = TowerToHyperService::new(app);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    Ok((addr, task))
}

/// A TLS acceptor for `127.0.0.1` and `localhost`, its CA's PEM written to `ca_file`.
pub(crate) fn acceptor(ca_file: &Path) -> std::io::Result<tokio_rustls::TlsAcceptor> {
    let (acceptor, pem) = make_acceptor().map_err(std::io::Error::other)?;
    std::fs::write(ca_file, pem)?;
    Ok(acceptor)
}

fn make_acceptor() -> Result<(tokio_rustls::TlsAcceptor, String), String> {
    let e = |e: rcgen::Error| e.to_string();
    let ca_key = rcgen::KeyPair::generate().map_err(e)?;
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(e)?;
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name.push(rcgen::DnType::CommonName, "pbi-sim Entra test CA");
    let ca_cert = ca.self_signed(&ca_key).map_err(e)?;
    let key = rcgen::KeyPair::generate().map_err(e)?;
    let server =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .map_err(e)?
            .signed_by(&key, &ca_cert, &ca_key)
            .map_err(e)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(
            vec![server.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((tokio_rustls::TlsAcceptor::from(Arc::new(config)), ca_cert.pem()))
}
