//! The real XMLA client against the Power BI simulator: every endpoint kind, backup and restore, every refusal.

use std::io::Cursor;

use adls_store::{Store, StoreExt, StorePath};
use backup_core::{Credential, Error};
use test_fixtures::pbi_sim::codes;
use xmla_proto::{Backup, Command, Password, Restore};

use crate::support::{RULES, Tenant};

fn server_code(result: Result<Vec<xmla_proto::Message>, Error>) -> (u32, String) {
    match result {
        Err(Error::Server { failure, .. }) => {
            let e = &failure.errors[0];
            (e.code.expect("a code"), e.description.clone())
        }
        other => panic!("expected a server refusal, got {other:?}"),
    }
}

async fn backup(
    client: &backup_core::XmlaClient,
    db: &str,
    file: &str,
) -> Result<Vec<xmla_proto::Message>, Error> {
    client.execute(Command::backup_tmsl(Backup::new(db, file)), Some(db)).await
}

#[tokio::test]
async fn powerbi_backup_writes_a_real_abf_into_the_workspace_folder() {
    let t = Tenant::start().await;
    let c = t.workspace("Finance");
    let dbs = c.databases().await.unwrap();
    assert!(
        dbs.iter().any(|d| d.name == "Budget" && d.compatibility_level == Some(1600)),
        "{dbs:?}"
    );
    assert_eq!(c.tables("Budget").await.unwrap(), vec!["Account", "Budget"]);

    assert!(backup(&c, "Budget", "Budget.abf").await.unwrap().is_empty());
    let store = t.stack.store("financelake").unwrap();
    let path = StorePath::file("power-bi-backup", "Finance", "Budget.abf").unwrap();
    let bytes = store.get_bytes(&path).await.unwrap();
    let report = abf_format::inspect(
        Cursor::new(&bytes[..]),
        abf_format::InspectOptions { full: true, ..Default::default() },
    )
    .unwrap();
    assert!(report.valid, "{:?}", report.problems);
    assert_eq!(report.database.name.as_deref(), Some("Budget"));
    let tables: Vec<&str> = report.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(tables, vec!["Budget", "Account"]);
    assert_eq!(t.stack.sim.count("backup"), 1);

    // ASSL names the database by its ID (a name is not found); the same file again needs AllowOverwrite.
    let id = dbs.iter().find(|d| d.name == "Budget").and_then(|d| d.database_id.clone()).unwrap();
    assert_ne!(id, "Budget");
    let (code, _) =
        server_code(c.execute(Command::backup(Backup::new("Budget", "Other.abf")), None).await);
    assert_eq!(code, codes::DATABASE_NOT_FOUND, "an ASSL DatabaseID resolved as a name");
    let (code, text) =
        server_code(c.execute(Command::backup(Backup::new(&id, "Budget.abf")), None).await);
    assert_eq!(code, codes::FILE_EXISTS);
    assert!(text.contains("Set AllowOverwrite"), "{text}");
    let mut again = Backup::new(&id, "Budget.abf");
    again.allow_overwrite = true;
    again.apply_compression = false;
    c.execute(Command::backup(again), None).await.unwrap();
}

#[tokio::test]
async fn restore_as_a_new_name_over_an_existing_one_and_from_a_missing_file() {
    let t = Tenant::start().await;
    let c = t.workspace("Finance");
    backup(&c, "Budget", "b.abf").await.unwrap();

    let mut r = Restore::new("b.abf");
    r.database_name = Some("Budget (restored)".into());
    c.execute(Command::restore(r.clone()), None).await.unwrap();
    assert_eq!(c.tables("Budget (restored)").await.unwrap(), vec!["Account", "Budget"]);

    let (code, text) = server_code(c.execute(Command::restore(r.clone()), None).await);
    assert_eq!(code, codes::DATABASE_EXISTS, "{text}");
    r.allow_overwrite = true;
    c.execute(Command::restore(r), None).await.unwrap();

    let (code, text) =
        server_code(c.execute(Command::restore(Restore::new("nope.abf")), None).await);
    assert_eq!(code, codes::FILE_MISSING);
    assert!(text.contains("power-bi-backup/Finance"), "{text}");
}

#[tokio::test]
async fn every_seed_refusal_comes_back_as_a_server_error_with_its_code() {
    let t = Tenant::start().await;
    let cases = [
        (
            "No Storage",
            "Orphan",
            codes::NO_STORAGE,
            "not connected to an Azure Data Lake Storage Gen2 account",
        ),
        ("Members Only", "Team", codes::NOT_ADMIN, "Only workspace admins"),
        ("Asia Sales", "APAC", codes::MULTI_GEO, "multi-geo"),
        ("Dataflows Era", "Old", codes::DATAFLOWS_ONLY, "Disconnect it and connect it again"),
    ];
    for (ws, db, expected, text) in cases {
        let (code, description) = server_code(backup(&t.workspace(ws), db, "x.abf").await);
        assert_eq!(code, expected, "{ws}: {description}");
        assert!(description.contains(text), "{ws}: {description}");
    }
    // A workspace on shared capacity is refused at routing, before any XMLA is sent.
    let err =
        backup(&t.workspace("Shared Workspace"), "Small", "x.abf").await.unwrap_err().to_string();
    assert!(err.contains("WorkspaceNotOnPbiPremium") && err.contains("Premium or PPU"), "{err}");
    // PPU counts as Premium.
    backup(&t.workspace("Personal Premium"), "Forecast", "f.abf").await.unwrap();
    // An unknown workspace names the nearest; one that differs only in case is that workspace, as the service
    // matches powerbi:// names.
    let err = backup(&t.workspace("Finanse"), "Budget", "x.abf").await.unwrap_err().to_string();
    assert!(err.contains("workspace 'Finanse' not found") && err.contains("'Finance'"), "{err}");
    backup(&t.workspace("finance"), "Budget", "cased.abf").await.unwrap();
}

#[tokio::test]
async fn memory_and_role_rules_of_restore() {
    let t = Tenant::start().await;
    let c = t.workspace("Finance");
    backup(&c, "Big Model", "big.abf").await.unwrap();
    let mut over = Restore::new("big.abf");
    over.database_name = Some("Big Model".into());
    over.allow_overwrite = true;
    let (code, text) = server_code(c.execute(Command::restore(over.clone()), None).await);
    assert_eq!(code, codes::NOT_ENOUGH_MEMORY);
    assert!(text.contains("/forceRestore"), "{text}");
    over.force_restore = true;
    c.execute(Command::restore(over), None).await.unwrap();

    backup(&c, "Migrated From AAS", "aas.abf").await.unwrap();
    let mut r = Restore::new("aas.abf");
    r.database_name = Some("Migrated".into());
    let (code, text) = server_code(c.execute(Command::restore(r.clone()), None).await);
    assert_eq!(code, codes::INCOMPATIBLE_ROLES);
    assert!(text.contains("Processors") && text.contains("ignoreIncompatibilities"), "{text}");
    r.ignore_incompatibilities = true;
    let warnings = c.execute(Command::restore(r), None).await.unwrap();
    assert!(warnings[0].description.contains("Processors"), "{warnings:?}");
}

#[tokio::test]
async fn encrypted_backups_need_their_password() {
    let t = Tenant::start().await;
    let c = t.workspace("Finance");
    let mut b = Backup::new("Budget", "enc.abf");
    b.password = Some(Password::new("correct horse"));
    c.execute(Command::backup_tmsl(b), Some("Budget")).await.unwrap();
    let mut r = Restore::new("enc.abf");
    r.database_name = Some("Budget 2".into());
    let (code, _) = server_code(c.execute(Command::restore(r.clone()), None).await);
    assert_eq!(code, codes::PASSWORD);
    r.password = Some(Password::new("correct horse"));
    c.execute(Command::restore(r), None).await.unwrap();
}

#[tokio::test]
async fn asazure_backup_and_restore() {
    let t = Tenant::start().await;
    let c = t.client(
        "asazure://westeurope.asazure.windows.net/aasprod",
        Credential::ClientSecret {
            tenant_id: t.stack.sim.tenant_id(),
            client_id: crate::support::BOT.into(),
            secret: crate::support::BOT_SECRET.to_owned().into(),
        },
    );
    c.execute(Command::backup(Backup::new("AdventureWorks", "aw.abf")), None).await.unwrap();
    let store = t.stack.store("aaslake").unwrap();
    assert!(
        store.head(&StorePath::file("aas-backups", "aasprod", "aw.abf").unwrap()).await.is_ok()
    );
    let mut r = Restore::new("aw.abf");
    r.database_name = Some("AdventureWorks Copy".into());
    c.execute(Command::restore(r), None).await.unwrap();
    let names: Vec<String> = c.databases().await.unwrap().into_iter().map(|d| d.name).collect();
    assert_eq!(names, vec!["AdventureWorks", "AdventureWorks Copy"]);
    // Power BI's restore options are refused by Analysis Services, and nothing is restored.
    for (ignore, force) in [(true, false), (false, true)] {
        let mut r = Restore::new("aw.abf");
        r.database_name = Some("AdventureWorks Forced".into());
        r.ignore_incompatibilities = ignore;
        r.force_restore = force;
        let err = c.execute(Command::restore(r), None).await.unwrap_err();
        assert!(err.to_string().contains("only for Power BI"), "{err}");
    }
    assert_eq!(c.databases().await.unwrap().len(), 2);
}

#[tokio::test]
async fn plain_http_msmdpump_with_basic_authentication() {
    let t = Tenant::start().await;
    let url = format!("{}/olap/msmdpump.dll", t.stack.sim.base_url());
    let good =
        Credential::Basic { user: "pumpuser".into(), password: "pump-pass".to_owned().into() };
    let c = t.client(&url, good);
    // By name in TMSL; ASSL's DatabaseID is an ID, which a name is not.
    c.execute(Command::backup_tmsl(Backup::new("Budget", "pump.abf")), None).await.unwrap();
    let err =
        c.execute(Command::backup(Backup::new("Budget", "pump2.abf")), None).await.unwrap_err();
    assert!(matches!(err, Error::Server { .. }), "an ASSL DatabaseID resolved as a name: {err}");
    let bad = Credential::Basic { user: "pumpuser".into(), password: "wrong".to_owned().into() };
    let err = t.client(&url, bad).databases().await.unwrap_err();
    assert!(matches!(err, Error::Refused { status: Some(401), .. }), "{err}");
    assert!(!err.to_string().contains("wrong"), "the password must not be echoed: {err}");
}

#[tokio::test]
async fn legacy_virtual_server_fallback_on_401() {
    let t = Tenant::start().await;
    t.stack.sim.refuse_mwc_tokens(true);
    let c = t.workspace("Finance");
    backup(&c, "Budget", "legacy.abf").await.unwrap();
    assert_eq!(t.stack.sim.count("legacy-xmla"), 1);
}

#[tokio::test]
async fn a_token_that_expires_during_a_run_is_refreshed() {
    let scenario = RULES.replace(
        "tenant-storage = \"tenantlake\"",
        "tenant-storage = \"tenantlake\"\ntoken-lifetime-seconds = 2",
    );
    let t = Tenant::start_with(test_fixtures::pbi_sim::Scenario::parse(&scenario).unwrap()).await;
    let c = t.workspace("Finance");
    backup(&c, "Budget", "one.abf").await.unwrap();
    let tokens_before = t.stack.sim.count("token");
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    backup(&c, "Budget", "two.abf").await.unwrap();
    assert!(
        t.stack.sim.count("token") > tokens_before,
        "a new token was fetched after the first expired"
    );
}

#[tokio::test]
async fn a_server_that_closes_the_connection_gives_an_unknown_outcome() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            use tokio::io::AsyncReadExt;
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            drop(sock);
        }
    });
    let t = Tenant::start().await;
    let c = t.client(&format!("http://{addr}/xmla"), Credential::Anonymous);
    let err = c.execute(Command::backup(Backup::new("Budget", "x.abf")), None).await.unwrap_err();
    assert!(matches!(err, Error::OutcomeUnknown { .. }), "{err:?}");
    assert!(err.to_string().contains("may still be running"), "{err}");
}

#[tokio::test]
async fn an_unreachable_server_is_not_an_unknown_outcome() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let t = Tenant::start().await;
    let err = t
        .client(&format!("http://{addr}/xmla"), Credential::Anonymous)
        .databases()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
}

#[tokio::test]
async fn a_paused_capacity_says_so() {
    let t = Tenant::start().await;
    t.stack.sim.set_capacity_state("P1 West Europe", "Suspended");
    let err = backup(&t.workspace("Finance"), "Budget", "x.abf").await.unwrap_err().to_string();
    assert!(err.contains("HTTP 500") && err.contains("paused capacity"), "{err}");
}

#[tokio::test]
async fn wrong_secret_is_an_auth_error_without_the_secret() {
    let t = Tenant::start().await;
    let c = backup_core::XmlaClient::new(
        backup_core::Endpoint::workspace("Finance"),
        t.tokens(crate::support::BOT, "not-the-secret"),
        t.options(),
    )
    .unwrap();
    let err = c.databases().await.unwrap_err();
    assert!(matches!(err, Error::Auth(_)), "{err:?}");
    assert!(!err.to_string().contains("not-the-secret"), "{err}");
    // Entra's reason is kept: its AADSTS code and text.
    assert!(err.to_string().contains("AADSTS7000215"), "{err}");
}

#[tokio::test]
async fn a_token_the_service_stops_accepting_is_replaced() {
    let t = Tenant::start().await;
    let c = t.workspace("Finance");
    backup(&c, "Budget", "before.abf").await.unwrap();
    let api = backup_core::powerbi::PowerBiApi::new(
        t.base(),
        t.tokens(crate::support::BOT, crate::support::BOT_SECRET),
    )
    .unwrap();
    assert!(!api.groups().await.unwrap().is_empty());
    // The service drops every token it issued (revoked, or expired earlier than they said).
    t.stack.sim.expire_tokens();
    let tokens_before = t.stack.sim.count("token");
    backup(&c, "Budget", "after.abf").await.unwrap();
    assert!(!api.groups().await.unwrap().is_empty());
    assert!(t.stack.sim.count("token") >= tokens_before + 2, "both clients signed in again");
}

/// The routing calls in ADOMD.NET's order (routing → generateastoken → getDatabaseName → clusterResolve → xmla),
/// each with pbi-backup's User-Agent; the workspace id header only on the legacy (Bearer) path.
#[tokio::test]
async fn routing_follows_the_call_order_and_headers_of_known_clients() {
    let t = Tenant::start().await;
    let c = t.workspace("Finance");
    t.stack.sim.clear_requests();
    backup(&c, "Budget", "order.abf").await.unwrap();
    let seen: Vec<_> =
        t.stack.sim.requests().into_iter().filter(|r| !r.path.contains("/oauth2/")).collect();
    let paths: Vec<&str> = seen.iter().map(|r| r.path.as_str()).collect();
    let ws = paths[2].split('/').nth(5).unwrap_or_default().to_owned();
    assert_eq!(
        paths,
        [
            "/powerbi/databases/v201606/workspaces".to_owned(),
            "/metadata/v201606/generateastoken".to_owned(),
            format!("/powerbi/databases/v201606/workspaces/{ws}/getDatabaseName"),
            "/webapi/clusterResolve".to_owned(),
            "/webapi/xmla".to_owned(),
        ]
    );
    let ua = format!("pbi-backup/{}", env!("CARGO_PKG_VERSION"));
    for r in &seen {
        assert_eq!(r.user_agent.as_deref(), Some(ua.as_str()), "{r:?}");
    }
    let xmla = seen.last().unwrap();
    assert_eq!(xmla.auth_scheme.as_deref(), Some("MwcToken"));
    assert_eq!(xmla.xmla_header("x-ms-xmlaworkspaceobjectid"), None, "{xmla:?}");
    assert_eq!(xmla.xmla_header("x-ms-xmladatabase"), Some("Budget"));
    assert!(xmla.xmla_header("x-ms-xmlaserver").is_some_and(|s| !s.is_empty()), "{xmla:?}");
    assert!(seen[3].auth_scheme.is_none(), "clusterResolve is sent without a token, as ADOMD does");

    // A workspace-level command (a restore as a new model) names no dataset: no getDatabaseName.
    t.stack.sim.clear_requests();
    let mut r = Restore::new("order.abf");
    r.database_name = Some("Budget (order)".into());
    c.execute(Command::restore(r), None).await.unwrap();
    let paths: Vec<String> = t
        .stack
        .sim
        .requests()
        .into_iter()
        .map(|r| r.path)
        .filter(|p| !p.contains("/oauth2/"))
        .collect();
    assert!(!paths.iter().any(|p| p.ends_with("getDatabaseName")), "{paths:?}");

    // The legacy path sends the workspace id with its Bearer token.
    t.stack.sim.refuse_mwc_tokens(true);
    t.stack.sim.clear_requests();
    backup(&c, "Budget", "legacy order.abf").await.unwrap();
    let legacy = t.stack.sim.requests().into_iter().rfind(|r| r.path == "/xmla").unwrap();
    assert_eq!(legacy.auth_scheme.as_deref(), Some("Bearer"));
    assert_eq!(legacy.xmla_header("x-ms-xmlaworkspaceobjectid"), Some(ws.as_str()));
}

/// A dataset that is not in the workspace is said before the cluster is asked for anything.
#[tokio::test]
async fn a_missing_dataset_is_found_out_by_get_database_name() {
    let t = Tenant::start().await;
    let c = t.workspace("Finance");
    t.stack.sim.clear_requests();
    let err = backup(&c, "No Such Model", "x.abf").await.unwrap_err();
    assert!(matches!(err, Error::NotFound { what: "dataset", .. }), "{err}");
    assert!(!t.stack.sim.requests().iter().any(|r| r.path.starts_with("/webapi/")));
}

/// Routes are resolved once per workspace and dataset, for every client of a run that shares the cache: a bulk run
/// asks the routing calls once, not before each of its requests.
#[tokio::test]
async fn a_route_is_resolved_once_and_shared_by_the_clients_of_a_run() {
    let t = Tenant::start().await;
    let options = t.options();
    let client = || {
        backup_core::XmlaClient::new(
            backup_core::Endpoint::workspace("Finance"),
            t.tokens(crate::support::BOT, crate::support::BOT_SECRET),
            options.clone(),
        )
        .expect("client")
    };
    let first = client();
    t.stack.sim.clear_requests();
    backup(&first, "Budget", "route-1.abf").await.unwrap();
    first.tables("Budget").await.unwrap();
    client().tables("Budget").await.unwrap();
    let paths: Vec<String> = t.stack.sim.requests().into_iter().map(|r| r.path).collect();
    let count = |p: &str| paths.iter().filter(|x| x.ends_with(p)).count();
    assert_eq!((count("/generateastoken"), count("/clusterResolve")), (1, 1), "{paths:?}");
    assert_eq!(count("/webapi/xmla"), 3, "{paths:?}");
    // Another dataset is another route.
    first.tables("Migrated From AAS").await.unwrap();
    let paths: Vec<String> = t.stack.sim.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths.iter().filter(|x| x.ends_with("/generateastoken")).count(), 2, "{paths:?}");
    // A client with its own cache resolves for itself.
    let alone = t.workspace("Finance");
    t.stack.sim.clear_requests();
    alone.tables("Budget").await.unwrap();
    let paths: Vec<String> = t.stack.sim.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths.iter().filter(|x| x.ends_with("/generateastoken")).count(), 1, "{paths:?}");
}
