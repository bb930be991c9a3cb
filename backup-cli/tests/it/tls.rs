//! TLS as platform teams have it: a certificate authority of their own (a proxy that inspects TLS, an internal CA)
//! named only by `SSL_CERT_FILE`. Without it the connection is refused for the unknown issuer; with it the service
//! answers.

use std::sync::Arc;

use backup_core::output::exit_codes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

use crate::support::Tenant;

/// A TLS server on 127.0.0.1 with a certificate from a fresh CA, answering every request with the 401 the Power BI
/// REST API sends to a caller it does not accept. Returns its address and the CA's PEM.
async fn tls_server() -> (std::net::SocketAddr, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name.push(rcgen::DnType::CommonName, "pbi-backup test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let server =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap()
            .signed_by(&key, &ca_cert, &ca_key)
            .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![server.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let body = r#"{"error":{"code":"PowerBINotAuthorizedException","pbi.error":{"code":"PowerBINotAuthorizedException","details":[]}}}"#;
                let answer = format!(
                    "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (addr, ca_cert.pem())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_authority_named_by_ssl_cert_file_is_trusted() {
    let t = Tenant::rules().await;
    let (addr, ca) = tls_server().await;
    let ca_file = t.work.path().join("company-ca.pem");
    std::fs::write(&ca_file, ca).unwrap();
    let env = t.env("financelake").set("PBI_BACKUP_POWERBI_API", &format!("https://{addr}/"));
    // Not trusted: the handshake fails on the unknown issuer, and that is what is said.
    let run = t.cli(&env, "doctor -w Finance --json").exits(exit_codes::FAILURE).await;
    let err = run.error().error;
    assert_eq!(err.kind, "unreachable", "{err:?}");
    assert!(err.message.to_lowercase().contains("certificate"), "{err:?}");
    // Trusted through SSL_CERT_FILE: the server's own answer (a refusal) comes back.
    let trusted = env.set("SSL_CERT_FILE", ca_file.to_str().unwrap());
    let run = t.cli(&trusted, "doctor -w Finance --json").run().await;
    assert!(!run.stdout.contains("\"unreachable\""), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("not accept") || run.stdout.contains("PowerBINotAuthorized"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
}
