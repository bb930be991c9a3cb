//! Signing in as Azure workloads do, end to end through the binary against pbi-sim's Entra (HTTPS, its own CA)
//! and the DFS emulators: each credential kind backs up and restores, `auto` picks the one its environment holds,
//! and a sign-in that cannot succeed stops the run before anything is sent.

use std::time::{Duration, Instant};

use backup_core::output::{BackupOutput, DoctorOutput, exit_codes};
use test_fixtures::certs::AppCertificate;
use test_fixtures::tenant::{BOT, RULES_SCENARIO as RULES};

use crate::support::{Env, Tenant};

const CERT_APP: &str = "c0c0c0c0-0000-4000-8000-00000000000c";
const WORKLOAD_APP: &str = "c0c0c0c0-0000-4000-8000-00000000000f";
const SYSTEM_MI: &str = "c0c0c0c0-0000-4000-8000-0000000000a1";
const USER_MI: &str = "c0c0c0c0-0000-4000-8000-0000000000a2";
const USER_MI_RESOURCE: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/backup-uami";
const ISSUER: &str = "https://oidc.prod-aks.azure.com/tenant-x/";
const SUBJECT: &str = "system:serviceaccount:backup:pbi-backup";

/// The rules scenario with four more principals, each Admin of Finance: an app with a certificate, an app with a
/// federated credential, and a system- and a user-assigned managed identity.
fn scenario(cert: &AppCertificate) -> String {
    let admin = r#"roles = { "Finance" = "Admin" }"#;
    format!(
        "{RULES}
[[principals]]
kind = \"app\"
name = \"cert-app\"
id = \"{CERT_APP}\"
certificate = '''
{}'''
{admin}

[[principals]]
kind = \"app\"
name = \"aks-job\"
id = \"{WORKLOAD_APP}\"
federated-credentials = [{{ issuer = \"{ISSUER}\", subject = \"{SUBJECT}\" }}]
{admin}

[[principals]]
kind = \"app\"
name = \"vm-identity\"
id = \"{SYSTEM_MI}\"
managed-identity = \"system\"
{admin}

[[principals]]
kind = \"app\"
name = \"backup-uami\"
id = \"{USER_MI}\"
managed-identity = \"user\"
resource-id = \"{USER_MI_RESOURCE}\"
{admin}
",
        cert.cert_pem
    )
}

/// The tenant's storage and services, with no credential at all: each test adds the one it signs in with.
fn bare(t: &Tenant) -> Env {
    let mut env = t.env("financelake");
    for k in ["AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"] {
        env = env.unset(k);
    }
    env
}

/// A federated token as an AKS service account's: issuer, subject, audience, expiry. Entra's signature check of it
/// is not simulated (ARCHITECTURE.md), so the signature part is a placeholder.
fn federated_token(issuer: &str, subject: &str) -> String {
    use base64::Engine as _;
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    format!(
        "{}.{}.c2ln",
        b64(serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": "k1"})),
        b64(
            serde_json::json!({"iss": issuer, "sub": subject, "aud": ["api://AzureADTokenExchange"], "exp": now + 3600, "iat": now})
        )
    )
}

/// A backup of Finance/DB to `DB-<tag>.abf` and its restore as the new model `DB <tag>`, with `env`; `doctor`
/// names `who` as who signed in.
async fn backup_and_restore(t: &Tenant, env: &Env, tag: &str, who: &str) {
    let before = t.stack.sim.count("backup");
    let out: BackupOutput =
        t.cli(env, "backup -w Finance -d DB --file").arg(format!("DB-{tag}.abf")).ok().await;
    assert_eq!((out.succeeded, out.failed), (1, 0), "{out:?}");
    assert_eq!(t.stack.sim.count("backup"), before + 1);
    let file = out.results[0].file.clone();
    let _: serde_json::Value = t
        .cli(env, "restore -w Finance --as")
        .arg(format!("DB {tag}"))
        .arg("--file")
        .arg(&file)
        .ok()
        .await;
    let doctor: DoctorOutput = t.cli(env, "doctor -w Finance").json(exit_codes::SUCCESS).await;
    let shown = serde_json::to_string(&doctor).unwrap();
    assert!(shown.contains(who), "doctor does not say {who} signed in: {shown}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_signs_in_from_pem_and_from_pfx_without_a_secret() {
    let cert = AppCertificate::new("pbi-backup cert-app");
    let t = Tenant::start(&scenario(&cert)).await;
    let pem = t.work.path().join("app.pem");
    std::fs::write(&pem, &cert.key_and_cert_pem).unwrap();
    // auto: the certificate in the environment is what signs in.
    let env = bare(&t)
        .set("AZURE_CLIENT_ID", CERT_APP)
        .set("AZURE_CLIENT_CERTIFICATE_PATH", pem.to_str().unwrap());
    backup_and_restore(&t, &env, "pem", CERT_APP).await;

    let pfx = t.work.path().join("app.pfx");
    std::fs::write(&pfx, cert.pkcs12("pfx-pass-1")).unwrap();
    let env = env
        .set("PBI_BACKUP_AUTH", "client-certificate")
        .set("AZURE_CLIENT_CERTIFICATE_PATH", pfx.to_str().unwrap())
        .set("AZURE_CLIENT_CERTIFICATE_PASSWORD", "pfx-pass-1");
    backup_and_restore(&t, &env, "pfx", CERT_APP).await;

    // A wrong password names the file and never shows the password.
    let wrong = env.set("AZURE_CLIENT_CERTIFICATE_PASSWORD", "not-it-9");
    let run = t.cli(&wrong, "backup -w Finance -d DB").arg("--json").run().await;
    assert_ne!(run.code, exit_codes::SUCCESS, "{}", run.stdout);
    assert!(run.stdout.contains("app.pfx"), "{}\n{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains("not-it-9") && !run.stderr.contains("not-it-9"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_entra_does_not_know_is_refused_in_entras_words_before_anything_is_sent() {
    let registered = AppCertificate::new("registered");
    let other = AppCertificate::new("someone else's");
    let t = Tenant::start(&scenario(&registered)).await;
    let pem = t.work.path().join("other.pem");
    std::fs::write(&pem, &other.key_and_cert_pem).unwrap();
    let env = bare(&t)
        .set("AZURE_CLIENT_ID", CERT_APP)
        .set("AZURE_CLIENT_CERTIFICATE_PATH", pem.to_str().unwrap());
    let err = t.cli(&env, "backup -w Finance -d DB").fails(exit_codes::SERVER_REFUSED).await;
    assert!(err.message.contains("AADSTS700027"), "{err:?}");
    assert_eq!(t.stack.sim.count("backup"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn workload_identity_signs_in_with_the_federated_token_file() {
    let cert = AppCertificate::new("unused");
    let t = Tenant::start(&scenario(&cert)).await;
    let token = t.work.path().join("azure-identity-token");
    std::fs::write(&token, federated_token(ISSUER, SUBJECT)).unwrap();
    let env = bare(&t)
        .set("AZURE_CLIENT_ID", WORKLOAD_APP)
        .set("AZURE_FEDERATED_TOKEN_FILE", token.to_str().unwrap());
    backup_and_restore(&t, &env, "workload", WORKLOAD_APP).await;
    // Another service account's token matches no federated credential: Entra's AADSTS70021, nothing sent.
    std::fs::write(&token, federated_token(ISSUER, "system:serviceaccount:other:job")).unwrap();
    let before = t.stack.sim.count("backup");
    let err = t.cli(&env, "backup -w Finance -d DB").fails(exit_codes::SERVER_REFUSED).await;
    assert!(err.message.contains("AADSTS70021"), "{err:?}");
    assert_eq!(t.stack.sim.count("backup"), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn managed_identity_signs_in_through_the_app_service_endpoint_system_and_user_assigned() {
    let cert = AppCertificate::new("unused");
    let t = Tenant::start(&scenario(&cert)).await;
    let host = bare(&t)
        .set("IDENTITY_ENDPOINT", &t.stack.sim.identity_endpoint())
        .set("IDENTITY_HEADER", t.stack.sim.identity_header());
    // auto on a host with a managed identity and nothing else: the system-assigned identity.
    let env = host.clone().set("PBI_BACKUP_AUTH", "auto");
    backup_and_restore(&t, &env, "auto-mi", "chosen by auto").await;
    assert!(t.stack.sim.count("identity-app-service") > 0);
    // A user-assigned identity by its client id (AZURE_CLIENT_ID, as the Azure SDKs read it).
    let env =
        host.clone().set("AZURE_CLIENT_ID", USER_MI).set("PBI_BACKUP_AUTH", "managed-identity");
    backup_and_restore(&t, &env, "uami", USER_MI).await;
    // The wrong header is refused by the endpoint, and nothing is sent.
    let before = t.stack.sim.count("backup");
    let wrong = host.set("IDENTITY_HEADER", "wrong").set("PBI_BACKUP_AUTH", "managed-identity");
    let run = t.cli(&wrong, "backup -w Finance -d DB").arg("--json").run().await;
    assert_ne!(run.code, exit_codes::SUCCESS);
    assert_eq!(t.stack.sim.count("backup"), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn managed_identity_signs_in_through_imds_system_and_user_assigned_by_resource_id() {
    let cert = AppCertificate::new("unused");
    let t = Tenant::start(&scenario(&cert)).await;
    // IMDS is http://169.254.169.254, which a test cannot listen on: the request goes through an HTTP proxy that
    // is pbi-sim, as it would through a company proxy.
    let imds = bare(&t)
        .set("HTTP_PROXY", &t.stack.sim.base_url())
        .set("NO_PROXY", "127.0.0.1,localhost")
        .set("PBI_BACKUP_AUTH", "managed-identity");
    backup_and_restore(&t, &imds, "imds", "system-assigned").await;
    assert!(t.stack.sim.count("identity-imds") > 0);
    let user = t.work.path().join("uami.toml");
    std::fs::write(
        &user,
        format!("[powerbi]\nmanaged-identity-resource-id = \"{USER_MI_RESOURCE}\"\n"),
    )
    .unwrap();
    let env = imds.set("PBI_BACKUP_CONFIG", user.to_str().unwrap());
    backup_and_restore(&t, &env, "imds-uami", USER_MI_RESOURCE).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_authority_that_cannot_be_reached_stops_the_run_within_the_deadline_naming_it() {
    let t = Tenant::rules().await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    let env = t
        .env("financelake")
        .set("PBI_BACKUP_AUTHORITY", &format!("https://127.0.0.1:{port}/"))
        .set("PBI_BACKUP_SIGN_IN_TIMEOUT", "4");
    let started = Instant::now();
    let err = t.cli(&env, "backup -w Finance -d DB").fails(exit_codes::FAILURE).await;
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
    assert_eq!(err.kind, "unreachable", "{err:?}");
    assert!(err.message.contains("127.0.0.1"), "{err:?}");
    assert_eq!(t.stack.sim.count("backup"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn storage_signs_in_with_the_same_entra_sign_in_as_power_bi() {
    let t = Tenant::rules().await;
    let env = t.env("financelake").unset("AZURE_STORAGE_KEY").unset("PBI_BACKUP_ADLS_AUTH");
    let out: BackupOutput = t.cli(&env, "backup -w Finance -d DB").ok().await;
    assert_eq!((out.succeeded, out.failed), (1, 0), "{out:?}");
    let _ = BOT;
    // The storage token came from pbi-sim's Entra: a refused storage sign-in (a wrong secret) sends nothing.
    let before = t.stack.sim.count("backup");
    let wrong = env.set("AZURE_CLIENT_SECRET", "wrong-secret");
    let err = t.cli(&wrong, "backup -w Finance -d DB").fails(exit_codes::SERVER_REFUSED).await;
    assert!(err.message.contains("AADSTS7000215"), "{err:?}");
    assert_eq!(t.stack.sim.count("backup"), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_authority_whose_ca_is_known_only_through_ssl_cert_file_signs_in() {
    let t = Tenant::rules().await;
    let env = t.env("financelake").unset("PBI_BACKUP_CA_FILE");
    // Without the simulator's CA, the TLS handshake with its Entra fails, naming the certificate.
    let err = t.cli(&env, "doctor -w Finance").fails(exit_codes::FAILURE).await;
    assert_eq!(err.kind, "unreachable", "{err:?}");
    assert!(err.message.to_lowercase().contains("certificate"), "{err:?}");
    let ca = t.stack.sim.ca_file().to_str().unwrap().to_owned();
    let trusted = env.set("SSL_CERT_FILE", &ca);
    let out: BackupOutput = t.cli(&trusted, "backup -w Finance -d DB").ok().await;
    assert_eq!((out.succeeded, out.failed), (1, 0), "{out:?}");
}
