//! TLS as platform teams have it: a certificate authority of their own (a proxy that inspects TLS, an internal CA)
//! named only by `SSL_CERT_FILE`. Without it the connection is refused for the unknown issuer; with it the service
//! answers. And a forward proxy named by `HTTPS_PROXY`, bypassed for the hosts `NO_PROXY` names.

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

/// A forward proxy for HTTPS, as a company's is: it answers `CONNECT host:port` with a tunnel to that host (and
/// anything else with 405), and keeps the targets it tunnelled to. Returns its URL and those targets.
async fn connect_proxy() -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let tunnels = Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = tunnels.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read_exact(&mut byte).await.is_err() || head.len() > 8192 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let mut words = head.split_whitespace();
                let (Some("CONNECT"), Some(target)) = (words.next(), words.next()) else {
                    let refusal = b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n";
                    let _ = client.write_all(refusal).await;
                    return;
                };
                let Ok(mut upstream) = tokio::net::TcpStream::connect(target).await else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                    return;
                };
                kept.lock().unwrap().push(target.to_owned());
                if client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n").await.is_ok() {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
            });
        }
    });
    (url, tunnels)
}

#[tokio::test(flavor = "multi_thread")]
async fn https_goes_through_the_proxy_https_proxy_names_unless_no_proxy_names_the_host() {
    let t = Tenant::rules().await;
    let (proxy, tunnels) = connect_proxy().await;
    // Entra is the HTTPS endpoint here (the simulated REST, XMLA and storage are plain HTTP, which HTTPS_PROXY
    // leaves alone).
    let authority = reqwest::Url::parse(&t.stack.sim.authority_url()).unwrap();
    let entra = format!("{}:{}", authority.host_str().unwrap(), authority.port().unwrap());
    let env = t.env("financelake").set("HTTPS_PROXY", &proxy);
    let _: backup_core::output::BackupOutput =
        t.cli(&env, "backup -w Finance -d DB --file proxied.abf").ok().await;
    let through = tunnels.lock().unwrap().clone();
    assert!(through.contains(&entra), "the sign-in did not go through the proxy: {through:?}");
    // NO_PROXY names the host: straight there, the proxy sees nothing more.
    let direct = env.set("NO_PROXY", authority.host_str().unwrap());
    let _: backup_core::output::BackupOutput =
        t.cli(&direct, "backup -w Finance -d DB --file direct.abf").ok().await;
    assert_eq!(tunnels.lock().unwrap().len(), through.len(), "NO_PROXY was not honoured");
    // A proxy that is not there: the sign-in fails, and nothing is sent.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // With a password in it, as proxy URLs may have: never shown.
    let gone = format!("http://ops:proxy-pass@{}", listener.local_addr().unwrap());
    drop(listener);
    let backups = t.stack.sim.count("backup");
    let nowhere =
        t.env("financelake").set("HTTPS_PROXY", &gone).set("PBI_BACKUP_SIGN_IN_TIMEOUT", "4");
    let err = t
        .cli(&nowhere, "backup -w Finance -d DB --file nowhere.abf")
        .fails(exit_codes::FAILURE)
        .await;
    assert_eq!(err.kind, "unreachable", "{err:?}");
    let named = format!("the proxy {}", gone.trim_start_matches("http://ops:proxy-pass@"));
    assert!(err.message.contains(&named), "{err:?}");
    assert!(!err.message.contains("proxy-pass"), "the proxy's password shows: {err:?}");
    assert_eq!(t.stack.sim.count("backup"), backups, "a backup was sent without a sign-in");
}
