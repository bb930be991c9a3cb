//! pbi-sim through raw HTTP: the vectors of xmla-vectors.md as SSMS, Invoke-ASCmd and ADOMD.NET send them, the
//! routing calls, state that survives a restart, and the storage rules.

use std::net::SocketAddr;
use std::path::Path;

use adls_store::{PutMode, Store, StoreExt, StorePath};
use serde_json::{Value, json};
use test_fixtures::pbi_sim::{Scenario, SimStack};
use xmla_proto::{Outcome, parse_response};

const RULES: &str = include_str!("../../scenarios/rules.toml");
const BOT: &str = "b0b0b0b0-0000-4000-8000-000000000001";
const LOOPBACK: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

fn vector(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../xmla-proto/tests/vectors").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

async fn start(dir: &Path) -> SimStack {
    SimStack::start(Scenario::parse(RULES).unwrap(), dir, LOOPBACK).await.unwrap()
}

async fn token(stack: &SimStack, scope: &str) -> String {
    stack.token_as(BOT, "bot-secret", scope).await
}

/// Posts SOAP to the msmdpump door (basic auth, workspace Finance), returning status and body bytes.
async fn pump(stack: &SimStack, body: String, continuations: bool) -> (u16, Vec<u8>) {
    pump_at(&stack.sim.base_url(), body, continuations).await
}

/// Posts SOAP to the msmdpump door of the simulator at `base`.
async fn pump_at(base: &str, body: String, continuations: bool) -> (u16, Vec<u8>) {
    let mut rb = reqwest::Client::new()
        .post(format!("{base}/olap/msmdpump.dll"))
        .basic_auth("pumpuser", Some("pump-pass"))
        .header("SOAPAction", "\"urn:schemas-microsoft-com:xml-analysis:Execute\"")
        .header("Content-Type", "text/xml")
        .body(body);
    if continuations {
        rb = rb.header("x-ms-accepts-continuations", "1");
    }
    let r = rb.send().await.unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

fn statement(json: &str) -> String {
    let escaped = json.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    format!(
        r#"<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body><Execute xmlns="urn:schemas-microsoft-com:xml-analysis"><Command><Statement>{escaped}</Statement></Command><Properties><PropertyList/></Properties></Execute></Body></Envelope>"#
    )
}

fn outcome(body: &[u8]) -> Outcome {
    parse_response(body).unwrap().outcome
}

#[test]
fn every_shipped_scenario_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "toml") {
            Scenario::load(&p).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n >= 2, "found {n} scenarios");
    let err = Scenario::parse("[tenant]\nid = \"t\"\nhome-region = \"x\"\n[[workspaces]]\nname = \"W\"\ncapacity = \"nope\"\n")
        .unwrap_err();
    assert!(err.contains("capacity 'nope'"), "{err}");
}

#[tokio::test]
async fn request_vectors_as_clients_send_them_are_executed() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start(dir.path()).await;
    // V14: TMSL backup with a password, as Invoke-ASCmd sends a script.
    let (status, body) = pump(&stack, statement(&vector("V14.json")), false).await;
    assert_eq!((status, outcome(&body)), (200, Outcome::Succeeded));
    let store = stack.store("financelake").unwrap();
    assert!(
        store
            .exists(
                &StorePath::file("power-bi-backup", "Finance", "AS_AdventureWorksDW2014.abf")
                    .unwrap()
            )
            .await
            .unwrap()
    );
    // V12: TMSL restore with ignoreIncompatibilities from "/Backup.abf" (leading slash): back up DB there first.
    // The option is Power BI's: the msmdpump door refuses it (the client sends it through the Power BI door, tested
    // in backup-cli's restore tests).
    let b = r#"{"backup":{"database":"DB","file":"/Backup.abf"}}"#;
    assert_eq!(outcome(&pump(&stack, statement(b), false).await.1), Outcome::Succeeded);
    let (_, body) = pump(&stack, statement(&vector("V12.json")), false).await;
    let Outcome::Failed(f) = outcome(&body) else {
        panic!("the pump took ignoreIncompatibilities")
    };
    assert!(f.errors[0].description.contains("only for Power BI"), "{f:?}");
    let without = vector("V12.json").replace(",\n    \"ignoreIncompatibilities\": true", "");
    assert_ne!(without, vector("V12.json"), "the vector's option moved");
    assert_eq!(outcome(&pump(&stack, statement(&without), false).await.1), Outcome::Succeeded);
    // V15, the invalid reference example: a SOAP fault, HTTP 500.
    let (status, body) = pump(&stack, statement(&vector("V15.json")), false).await;
    assert_eq!(status, 500);
    assert!(matches!(outcome(&body), Outcome::Failed(f) if f.fault.is_some()));
    // V1 (MDX) and V2 (MDSCHEMA_CUBES), in the SOAP envelope they travel in, are read and refused as unsupported
    // inside an HTTP 200; alone, without the envelope, they are not SOAP messages: a fault, HTTP 500.
    for v in ["V1.xml", "V2.xml"] {
        let soap = format!(
            r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>{}</soap:Body></soap:Envelope>"#,
            vector(v)
        );
        let (status, body) = pump(&stack, soap, false).await;
        let Outcome::Failed(f) = outcome(&body) else { panic!("{v}") };
        assert_eq!(
            (status, f.errors.first().and_then(|e| e.code)),
            (200, Some(test_fixtures::pbi_sim::codes::UNSUPPORTED)),
            "{v}: {f:?}"
        );
        let (status, body) = pump(&stack, vector(v), false).await;
        assert_eq!(status, 500, "{v}");
        assert!(matches!(outcome(&body), Outcome::Failed(f) if f.fault.is_some()), "{v}");
    }
    // V19, the envelope used against the live service, filled in.
    let v19 = vector("V19.xml")
        .replace("{statement}", "{&quot;backup&quot;:{&quot;database&quot;:&quot;Budget&quot;,&quot;file&quot;:&quot;v19.abf&quot;}}")
        .replace("{catalog}", "Budget");
    assert_eq!(outcome(&pump(&stack, v19, false).await.1), Outcome::Succeeded);
    // V3 with ADOMD's opening body (an empty statement): the undeclared xsi: prefix is tolerated and the session
    // is begun.
    let open = r#"<Execute xmlns="urn:schemas-microsoft-com:xml-analysis"><Command><Statement/></Command><Properties><PropertyList/></Properties></Execute>"#;
    let v3 = vector("V3.xml").replace("...<!-- Discover or Execute call goes here.-->", open);
    let (_, body) = pump(&stack, v3, false).await;
    let r = parse_response(&body).unwrap();
    assert!(r.session_id.is_some(), "{}", String::from_utf8_lossy(&body));
    assert_eq!(r.outcome, Outcome::Succeeded);
}

#[tokio::test]
async fn trailing_nul_only_for_clients_that_accept_continuations() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start(dir.path()).await;
    let discover = vector("V2.xml").replace("MDSCHEMA_CUBES", "DBSCHEMA_CATALOGS");
    let (_, plain) = pump(&stack, discover.clone(), false).await;
    let (_, adomd) = pump(&stack, discover, true).await;
    assert_ne!(plain.last(), Some(&0));
    assert_eq!(adomd.last(), Some(&0));
    assert_eq!(parse_response(&plain).unwrap(), parse_response(&adomd).unwrap());
}

#[tokio::test]
async fn v20_adomd_routing_calls_and_v21_form_cluster_resolution() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start(dir.path()).await;
    let base = stack.sim.base_url();
    let http = reqwest::Client::new();
    let t = token(&stack, "https://analysis.windows.net/powerbi/api/.default").await;
    let list: Value = http
        .get(format!("{base}/powerbi/databases/v201606/workspaces?PreferClientRouting=true"))
        .header("User-Agent", "ASClient/.NET-Core")
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let finance = list.as_array().unwrap().iter().find(|w| w["name"] == "Finance").unwrap().clone();
    assert_eq!(finance["capacitySku"], "Premium");
    let capacity_uri = finance["capacityUri"].as_str().unwrap();
    let first_segment =
        capacity_uri.trim_start_matches(&format!("{base}/")).split('/').next().unwrap().to_owned();
    // ADOMD sends the first path segment with a trailing slash.
    let body = json!({"applyAuxiliaryPermission":false,"auxiliaryPermissionOwner":null,"bypassBuildPermission":false,
        "capacityObjectId": format!("{first_segment}/"),"datasetName":null,"intendedUsage":0,"sourceCapacityObjectId":null,
        "workspaceObjectId": finance["id"]});
    let tok: Value = http
        .post(format!("{base}/metadata/v201606/generateastoken"))
        .bearer_auth(&t)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(tok["Token"].as_str().is_some_and(|s| !s.is_empty()));
    let resolved: Value = http
        .post(format!("{base}/webapi/clusterResolve"))
        .json(&json!({"databaseName":null,"premiumPublicXmlaEndpoint":true,"serverName": format!("{first_segment}/")}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        resolved["clusterFQDN"].as_str().is_some() && resolved["coreServerName"].as_str().is_some()
    );
    // V21: the official AAS cmdlet's form body.
    let r = http
        .post(format!("{base}/webapi/clusterResolve"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("ServerName=aasprod")
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["coreServerName"], "aasprod:rw");
    // A workspace on shared capacity routes as Shared, and the token exchange refuses it.
    let shared = list.as_array().unwrap().iter().find(|w| w["name"] == "Shared Workspace").unwrap();
    assert_eq!(shared["capacitySku"], "Shared");
}

#[tokio::test]
async fn state_and_backups_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let stack = start(dir.path()).await;
        let (_, body) =
            pump(&stack, statement(r#"{"backup":{"database":"Budget","file":"keep.abf"}}"#), false)
                .await;
        assert_eq!(outcome(&body), Outcome::Succeeded);
        let r = r#"{"restore":{"database":"Budget Restored","file":"keep.abf"}}"#;
        assert_eq!(outcome(&pump(&stack, statement(r), false).await.1), Outcome::Succeeded);
        assert!(stack.sim.models("Finance").contains(&"Budget Restored".to_owned()));
    }
    let stack = start(dir.path()).await;
    assert!(stack.sim.models("Finance").contains(&"Budget Restored".to_owned()));
    let store = stack.store("financelake").unwrap();
    assert!(
        store
            .exists(&StorePath::file("power-bi-backup", "Finance", "keep.abf").unwrap())
            .await
            .unwrap()
    );
}

async fn rest(
    stack: &SimStack,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> reqwest::Response {
    let t = token(stack, "https://analysis.windows.net/powerbi/api/.default").await;
    reqwest::Client::new()
        .request(method, format!("{}/v1.0/myorg/{path}", stack.sim.base_url()))
        .bearer_auth(t)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn group_id(stack: &SimStack, name: &str) -> String {
    let v: Value =
        rest(stack, reqwest::Method::GET, "groups", Value::Null).await.json().await.unwrap();
    v["value"].as_array().unwrap().iter().find(|g| g["name"] == name).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn relinking_storage_fails_while_the_old_backup_folder_exists() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start(dir.path()).await;
    let id = group_id(&stack, "Finance").await;
    let accounts: Value =
        rest(&stack, reqwest::Method::GET, "dataflowStorageAccounts", Value::Null)
            .await
            .json()
            .await
            .unwrap();
    let finance_lake =
        accounts["value"].as_array().unwrap().iter().find(|a| a["name"] == "financelake").unwrap()
            ["id"]
            .clone();
    let r = rest(
        &stack,
        reqwest::Method::POST,
        &format!("groups/{id}/AssignToDataflowStorage"),
        json!({"dataflowStorageId": test_fixtures::pbi_sim::ZERO_GUID}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = rest(
        &stack,
        reqwest::Method::POST,
        &format!("groups/{id}/AssignToDataflowStorage"),
        json!({"dataflowStorageId": finance_lake}),
    )
    .await;
    assert_eq!(r.status(), 409);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("BackupFolderAlreadyExists") && text.contains("Rename or move"),
        "{text}"
    );
    // Move the folder away, as the rule asks; then the link succeeds.
    let store = stack.store("financelake").unwrap();
    let folder = StorePath::folder("power-bi-backup", "Finance").unwrap();
    for f in store.list_all(&folder).await.unwrap() {
        let to = StorePath::file("power-bi-backup", "Finance (old)", f.path.file_name().unwrap())
            .unwrap();
        store.rename(&f.path, &to, PutMode::Create).await.unwrap();
    }
    let _ = store.delete(&folder).await;
    let r = rest(
        &stack,
        reqwest::Method::POST,
        &format!("groups/{id}/AssignToDataflowStorage"),
        json!({"dataflowStorageId": finance_lake}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // Only admins may link: the viewer principal is refused with the service's 403 shape (a code and pbi.error, no
    // message).
    let viewer = stack
        .token_as(
            "b0b0b0b0-0000-4000-8000-000000000002",
            "viewer-secret",
            "https://analysis.windows.net/powerbi/api/.default",
        )
        .await;
    let r = reqwest::Client::new()
        .post(format!("{}/v1.0/myorg/groups/{id}/AssignToDataflowStorage", stack.sim.base_url()))
        .bearer_auth(viewer)
        .json(&json!({"dataflowStorageId": test_fixtures::pbi_sim::ZERO_GUID}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"]["code"].is_string(), "{body}");
    assert!(body["error"]["pbi.error"].is_object(), "{body}");
    assert!(body["error"].get("message").is_none(), "{body}");
}

#[tokio::test]
async fn a_disabled_storage_account_is_listed_so_and_cannot_be_assigned() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = RULES.replace(
        "name = \"aaslake\"\nlocation = \"West Europe\"",
        "name = \"aaslake\"\nlocation = \"West Europe\"\nenabled = false",
    );
    assert_ne!(scenario, RULES);
    let stack =
        SimStack::start(Scenario::parse(&scenario).unwrap(), dir.path(), LOOPBACK).await.unwrap();
    let accounts: Value =
        rest(&stack, reqwest::Method::GET, "dataflowStorageAccounts", Value::Null)
            .await
            .json()
            .await
            .unwrap();
    let listed = |name: &str| {
        accounts["value"].as_array().unwrap().iter().find(|a| a["name"] == name).unwrap().clone()
    };
    assert_eq!(listed("aaslake")["isEnabled"], false);
    assert_eq!(listed("tenantlake")["isEnabled"], true);
    let id = group_id(&stack, "No Storage").await;
    let r = rest(
        &stack,
        reqwest::Method::POST,
        &format!("groups/{id}/AssignToDataflowStorage"),
        json!({"dataflowStorageId": listed("aaslake")["id"]}),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("DataflowStorageAccountDisabled"));
    let groups: Value =
        rest(&stack, reqwest::Method::GET, "groups", Value::Null).await.json().await.unwrap();
    let g = groups["value"].as_array().unwrap().iter().find(|g| g["id"] == id.as_str()).unwrap();
    assert!(g.get("dataflowStorageId").is_none(), "assigned anyway: {g}");
}

#[tokio::test]
async fn renaming_a_workspace_renames_its_backup_folder_unless_the_name_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start(dir.path()).await;
    let (_, body) =
        pump(&stack, statement(r#"{"backup":{"database":"Budget","file":"b.abf"}}"#), false).await;
    assert_eq!(outcome(&body), Outcome::Succeeded);
    let store = stack.store("financelake").unwrap();
    let id = group_id(&stack, "Finance").await;
    let r = rest(
        &stack,
        reqwest::Method::PATCH,
        &format!("groups/{id}"),
        json!({"name": "Finance EU"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(
        store
            .exists(&StorePath::file("power-bi-backup", "Finance EU", "b.abf").unwrap())
            .await
            .unwrap()
    );
    assert!(
        store
            .list_all(&StorePath::folder("power-bi-backup", "Finance").unwrap())
            .await
            .unwrap_or_default()
            .is_empty()
    );
    // A folder of the new name already exists: the workspace is renamed, its folder is not.
    let taken = StorePath::file("power-bi-backup", "Finance 2026", "other.abf").unwrap();
    store.put(&taken, bytes::Bytes::from_static(b"x"), PutMode::Create).await.unwrap();
    let r = rest(
        &stack,
        reqwest::Method::PATCH,
        &format!("groups/{id}"),
        json!({"name": "Finance 2026"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(
        store
            .exists(&StorePath::file("power-bi-backup", "Finance EU", "b.abf").unwrap())
            .await
            .unwrap()
    );
    assert!(
        !store
            .exists(&StorePath::file("power-bi-backup", "Finance 2026", "b.abf").unwrap())
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn tokens_name_the_caller_by_object_id_as_the_users_list_does() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let stack = start(dir.path()).await;
    let t = token(&stack, "https://analysis.windows.net/powerbi/api/.default").await;
    let parts: Vec<&str> = t.split('.').collect();
    assert_eq!(parts.len(), 3, "not a JWT: {t}");
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[1]).unwrap(),
    )
    .unwrap();
    assert_eq!(claims["appid"], BOT);
    assert_eq!(claims["tid"], stack.sim.tenant_id());
    let oid = claims["oid"].as_str().unwrap().to_owned();
    assert_ne!(oid, BOT, "the object id is not the application id");
    let id = group_id(&stack, "Finance").await;
    let users: Value =
        rest(&stack, reqwest::Method::GET, &format!("groups/{id}/users"), Value::Null)
            .await
            .json()
            .await
            .unwrap();
    let listed: Vec<&str> = users["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["identifier"].as_str())
        .collect();
    assert!(listed.contains(&oid.as_str()), "the app is not listed by its object id: {listed:?}");
    assert!(!listed.contains(&BOT), "the app is listed by its application id: {listed:?}");
}

#[tokio::test]
async fn group_objects_carry_the_fields_the_rest_reference_lists() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start(dir.path()).await;
    let v: Value =
        rest(&stack, reqwest::Method::GET, "groups", Value::Null).await.json().await.unwrap();
    let groups = v["value"].as_array().unwrap();
    assert!(groups.iter().all(|g| g.get("type").is_none()), "{groups:?}");
    let by_name = |n: &str| groups.iter().find(|g| g["name"] == n).unwrap().clone();
    let shared = by_name("Shared Workspace");
    assert_eq!(shared["isOnDedicatedCapacity"], false);
    assert!(shared.get("defaultDatasetStorageFormat").is_none(), "{shared}");
    let dedicated = by_name("Finance");
    assert_eq!(dedicated["isOnDedicatedCapacity"], true);
    assert!(dedicated.get("defaultDatasetStorageFormat").is_some(), "{dedicated}");
}

/// The standalone pbi-sim on `state` with the rules scenario: the child and its base URL.
fn start_binary(state: &Path) -> (std::process::Child, String) {
    use std::io::BufRead as _;
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/rules.toml");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pbi-sim"))
        .args(["--port", "0", "--state"])
        .arg(state)
        .arg("--scenario")
        .arg(&scenario)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let line =
        std::io::BufReader::new(child.stdout.take().unwrap()).lines().next().unwrap().unwrap();
    let base = line.rsplit(' ').next().unwrap().to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{line}");
    (child, base)
}

fn first_error(body: &[u8]) -> Option<u32> {
    match outcome(body) {
        Outcome::Failed(f) => f.errors.first().and_then(|e| e.code),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_killed_after_acknowledged_writes_loses_none_of_them() {
    let state = tempfile::tempdir().unwrap();
    let (mut sim, base) = start_binary(state.path());
    // connection.env holds the scenario's secrets: for its owner only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let env = std::fs::metadata(state.path().join("connection.env")).unwrap();
        assert_eq!(env.permissions().mode() & 0o777, 0o600);
    }
    // Acknowledged: a backup (a file in the simulated storage) and a restore as a new model (the simulator's state).
    let backup = statement(r#"{"backup":{"database":"Budget","file":"killed.abf"}}"#);
    assert_eq!(outcome(&pump_at(&base, backup.clone(), false).await.1), Outcome::Succeeded);
    let restore = statement(r#"{"restore":{"database":"Budget Again","file":"killed.abf"}}"#);
    assert_eq!(outcome(&pump_at(&base, restore.clone(), false).await.1), Outcome::Succeeded);
    sim.kill().unwrap();
    sim.wait().unwrap();

    // Started again on the same state: the same commands find the file and the model there.
    let (sim, base) = start_binary(state.path());
    let (_, body) = pump_at(&base, backup, false).await;
    assert_eq!(
        first_error(&body),
        Some(test_fixtures::pbi_sim::codes::FILE_EXISTS),
        "the backup file was lost"
    );
    let (_, body) = pump_at(&base, restore, false).await;
    assert_eq!(
        first_error(&body),
        Some(test_fixtures::pbi_sim::codes::DATABASE_EXISTS),
        "the restored model was lost"
    );

    // SIGTERM: a clean stop, said on stderr.
    let status =
        std::process::Command::new("kill").args(["-TERM", &sim.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = sim.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("stopped by SIGTERM"), "{out:?}");
}

/// The columns a rowset's schema declares (`sql:field`), in order.
fn declared_columns(body: &str) -> Vec<(String, String)> {
    let schema = body.split("</xsd:schema>").next().unwrap_or_default();
    schema
        .split("<xsd:element ")
        .filter_map(|e| {
            let attr = |name: &str| {
                e.split(&format!("{name}=\"")).nth(1)?.split('"').next().map(str::to_owned)
            };
            Some((attr("sql:field")?, attr("type")?))
        })
        .collect()
}

/// A column as its reference gives it: its name, and its XML Schema type when the reference gives one.
type Documented = (&'static str, Option<&'static str>);

/// Whether `value` is a valid literal of the XML Schema type `kind`.
fn is_literal_of(kind: &str, value: &str) -> bool {
    let digits = |v: &str| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
    match kind {
        "xsd:string" => true,
        "xsd:long" => digits(value.strip_prefix('-').unwrap_or(value)),
        "xsd:unsignedLong" => digits(value),
        "xsd:boolean" => matches!(value, "true" | "false" | "1" | "0"),
        "xsd:dateTime" => {
            time::PrimitiveDateTime::parse(
                value.trim_end_matches('Z'),
                &time::format_description::well_known::Iso8601::DEFAULT,
            )
            .is_ok()
                || time::OffsetDateTime::parse(
                    value,
                    &time::format_description::well_known::Rfc3339,
                )
                .is_ok()
        }
        other => panic!("no check for {other}"),
    }
}

/// Discovers `request_type` of the model Budget through the pump, restricted by `restriction`: the answer's body.
async fn discover_budget(stack: &SimStack, request_type: &str, restriction: &str) -> String {
    let discover = format!(
        r#"<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body><Discover xmlns="urn:schemas-microsoft-com:xml-analysis"><RequestType>{request_type}</RequestType><Restrictions><RestrictionList><{restriction}>Budget</{restriction}></RestrictionList></Restrictions><Properties><PropertyList><Catalog>Budget</Catalog></PropertyList></Properties></Discover></Body></Envelope>"#
    );
    let r = reqwest::Client::new()
        .post(format!("{}/olap/msmdpump.dll", stack.sim.base_url()))
        .basic_auth("pumpuser", Some("pump-pass"))
        .header("SOAPAction", "\"urn:schemas-microsoft-com:xml-analysis:Discover\"")
        .header("Content-Type", "text/xml")
        .body(discover)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.text().await.unwrap()
}

/// Each rowset the client reads declares exactly the columns its reference lists, whether a row carries a value or
/// not, and none the reference does not (a row count in `TMSCHEMA_TABLES`, say), each with the type its reference
/// gives where one does, and every value a row carries is a literal of its column's type. The lists are written here from
/// the references, not from the simulator: the SQL Server 2012 rowset pages and MS-SSAS §3.1.4.2.2.1.3.58/.60 for
/// the storage rowsets, MS-SSAS-T §2.2.5 (the Table, Role and RoleMembership objects) for the `TMSCHEMA_*` ones.
#[tokio::test]
async fn the_rowsets_carry_every_documented_column_and_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start(dir.path()).await;
    // (column, its type where a page gives it). MS-SSAS types the storage rowsets; MS-SSAS-T types the Table
    // and RoleMembership objects' properties (§2.2.5.3, §2.2.5.22); no page reached types the Role's.
    const S: Option<&str> = Some("xsd:string");
    const L: Option<&str> = Some("xsd:long");
    const U: Option<&str> = Some("xsd:unsignedLong");
    const B: Option<&str> = Some("xsd:boolean");
    const T: Option<&str> = Some("xsd:dateTime");
    let documented: [(&str, &str, &[Documented]); 5] = [
        (
            "DISCOVER_STORAGE_TABLE_COLUMN_SEGMENTS",
            "DATABASE_NAME",
            &[
                ("DATABASE_NAME", S),
                ("CUBE_NAME", S),
                ("MEASURE_GROUP_NAME", S),
                ("PARTITION_NAME", S),
                ("DIMENSION_NAME", S),
                ("TABLE_ID", S),
                ("COLUMN_ID", S),
                ("SEGMENT_NUMBER", L),
                ("TABLE_PARTITION_NUMBER", L),
                ("RECORDS_COUNT", L),
                ("ALLOCATED_SIZE", U),
                ("USED_SIZE", U),
                ("COMPRESSION_TYPE", S),
                ("BITS_COUNT", L),
                ("BOOKMARK_BITS_COUNT", L),
                ("VERTIPAQ_STATE", S),
                ("ISPAGEABLE", B),
                ("ISRESIDENT", None),
                ("TEMPERATURE", None),
                ("LAST_ACCESSED", None),
            ],
        ),
        (
            "DISCOVER_STORAGE_TABLES",
            "DATABASE_NAME",
            &[
                ("DATABASE_NAME", S),
                ("CUBE_NAME", S),
                ("MEASURE_GROUP_NAME", S),
                ("PARTITION_NAME", S),
                ("DIMENSION_NAME", S),
                ("TABLE_ID", S),
                ("TABLE_PARTITIONS_COUNT", L),
                ("HINT_TABLE_TYPE", S),
                ("ROWS_COUNT", L),
                ("RIVIOLATION_COUNT", L),
            ],
        ),
        (
            "TMSCHEMA_TABLES",
            "DatabaseName",
            &[
                ("ID", U),
                ("ModelID", U),
                ("Name", S),
                ("DataCategory", S),
                ("Description", S),
                ("IsHidden", B),
                ("TableStorageID", U),
                ("ModifiedTime", T),
                ("StructureModifiedTime", T),
                ("SystemFlags", L),
                ("ShowAsVariationsOnly", B),
                ("IsPrivate", B),
            ],
        ),
        (
            "TMSCHEMA_ROLES",
            "DatabaseName",
            &[
                ("ID", None),
                ("ModelID", None),
                ("Name", None),
                ("Description", None),
                ("ModelPermission", None),
                ("ModifiedTime", None),
            ],
        ),
        (
            "TMSCHEMA_ROLE_MEMBERSHIPS",
            "DatabaseName",
            &[
                ("ID", U),
                ("RoleID", U),
                ("MemberName", S),
                ("MemberID", S),
                ("IdentityProvider", S),
                ("MemberType", None),
                ("ModifiedTime", T),
            ],
        ),
    ];
    for (rowset, restriction, columns) in documented {
        let body = discover_budget(&stack, rowset, restriction).await;
        let declared = declared_columns(&body);
        let names: Vec<&str> = declared.iter().map(|(n, _)| n.as_str()).collect();
        let expected: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, expected, "{rowset}: {body}");
        let rows = body.split("</xsd:schema>").nth(1).expect("rows after the schema");
        let mut values = 0;
        for ((name, kind), (_, documented)) in declared.iter().zip(columns) {
            if let Some(documented) = documented {
                assert_eq!(kind, documented, "{rowset}.{name}");
            }
            // Every value the rows carry is a literal of its declared type.
            for value in rows.split(&format!("<{name}>")).skip(1) {
                let value = value.split(&format!("</{name}>")).next().unwrap_or_default();
                assert!(is_literal_of(kind, value), "{rowset}.{name} ({kind}): {value:?}");
                values += 1;
            }
        }
        assert!(values > 0, "{rowset} carried no value to check: {body}");
    }
    let segments =
        discover_budget(&stack, "DISCOVER_STORAGE_TABLE_COLUMN_SEGMENTS", "DATABASE_NAME").await;
    assert!(segments.contains("<COMPRESSION_TYPE>NOSPLIT</COMPRESSION_TYPE>"), "{segments}");
}
