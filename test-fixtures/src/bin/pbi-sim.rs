//! The Power BI service simulator as a standalone server, for people trying their automation before it meets a
//! tenant.
//!
//! ```text
//! cargo run -p test-fixtures --bin pbi-sim -- --state /tmp/pbi-sim [--scenario FILE] [--port N]
//! ```
//!
//! Without `--scenario` it serves the demo tenant (`test-fixtures/scenarios/demo.toml`). State is kept under
//! `--state`, so a restart keeps every backup, restore and storage change. It writes `connection.env` there: the
//! environment variables that point `pbi-backup` at it (the scenario's own made-up secrets), and prints only where
//! that file is. It stops cleanly on Ctrl-C or SIGTERM; every change is saved before it is answered, so a kill loses
//! nothing it acknowledged.
//!
//! Fault switches, for trying automation against a service that pushes back: `--throttle-rest N` (the next N REST
//! calls get 429 with `Retry-After: 1`), `--busy-xmla N` (the next N XMLA posts get 503, nothing run), `--busy-token N`
//! (the next N token requests get 503), `--fail-table-listing` (every `TMSCHEMA_TABLES` Discover fails),
//! `--refuse-mwc-tokens` (the XMLA endpoint refuses MWC tokens, as with the legacy route only).
//!
//! On SIGTERM or Ctrl-C it saves its storage and writes `counters.json` under `--state`: the requests it served by
//! kind since it started (`rest`, `rest-throttled`, `xmla-throttled`, `backup`, `restore`, `refresh`, ...).

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line server reports on its terminal"
)]

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use test_fixtures::pbi_sim::{DEMO_SCENARIO, Scenario, SimStack};

/// The Power BI service simulator: Entra, the REST subset, XMLA routing and endpoints, and storage accounts, on
/// loopback, with state kept under `--state`.
#[derive(Debug, clap::Parser)]
#[command(name = "pbi-sim", version)]
struct Args {
    /// The folder that keeps the simulator's state (and gets `connection.env`).
    #[arg(long)]
    state: PathBuf,
    /// The scenario to serve (default: the demo tenant).
    #[arg(long, conflicts_with = "bulk_tenant")]
    scenario: Option<PathBuf>,
    /// A tenant of many models: 'workspaces=100 models=10 capacities=5 limit=2 size-mb=100 mb-per-second=100
    /// rest-per-second=20 uneven=1', every key optional. Its least wall time for a run (the ideal makespan) is
    /// written to makespan.json in the state folder.
    #[arg(long, value_parser = bulk_tenant)]
    bulk_tenant: Option<test_fixtures::tenant::BulkTenant>,
    /// The port of the Power BI endpoints (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The next N REST calls get 429 with `Retry-After: 1`.
    #[arg(long, value_name = "N", default_value_t = 0)]
    throttle_rest: u32,
    /// The next N XMLA posts get 503, nothing run.
    #[arg(long, value_name = "N", default_value_t = 0)]
    busy_xmla: u32,
    /// The next N token requests get 503.
    #[arg(long, value_name = "N", default_value_t = 0)]
    busy_token: u32,
    /// Every `TMSCHEMA_TABLES` Discover fails.
    #[arg(long)]
    fail_table_listing: bool,
    /// The XMLA endpoint refuses MWC tokens, as with the legacy route only.
    #[arg(long)]
    refuse_mwc_tokens: bool,
}

/// `--bulk-tenant 'workspaces=100 models=10 ...'`: a tenant of many models (`BulkTenant`), every key optional.
fn bulk_tenant(spec: &str) -> Result<test_fixtures::tenant::BulkTenant, String> {
    let mut t = test_fixtures::tenant::BulkTenant {
        workspaces: 100,
        models_per_workspace: 10,
        capacities: 5,
        per_capacity_limit: None,
        size_mb: 10,
        rest_per_second: None,
        mb_per_second: None,
        uneven: false,
    };
    for pair in spec.split_whitespace() {
        let (k, v) = pair.split_once('=').ok_or_else(|| format!("'{pair}' is not key=value"))?;
        let n = |v: &str| v.parse::<f64>().map_err(|_| format!("{k}='{v}' is not a number"));
        let whole = |v: &str| v.parse::<u32>().map_err(|_| format!("{k}='{v}' is not a count"));
        match k {
            "workspaces" => t.workspaces = whole(v)? as usize,
            "models" => t.models_per_workspace = whole(v)? as usize,
            "capacities" => t.capacities = whole(v)?.max(1) as usize,
            "limit" => t.per_capacity_limit = Some(whole(v)?),
            "size-mb" => t.size_mb = u64::from(whole(v)?),
            "mb-per-second" => t.mb_per_second = Some(n(v)?),
            "rest-per-second" => t.rest_per_second = Some(n(v)?),
            "uneven" => t.uneven = whole(v)? != 0,
            other => return Err(format!("unknown bulk-tenant key '{other}'")),
        }
    }
    Scenario::parse(&t.scenario()).map_err(|e| format!("the bulk tenant: {e}"))?;
    Ok(t)
}

/// The bulk tenant's least wall time, for a benchmark to compare a run with.
fn makespan_json(t: &test_fixtures::tenant::BulkTenant) -> Option<serde_json::Value> {
    let m = t.makespan()?;
    let capacities: Vec<serde_json::Value> = m
        .capacities
        .iter()
        .map(|(name, id, limit)| serde_json::json!({"name": name, "id": id, "limit": limit}))
        .collect();
    Some(serde_json::json!({
        "ideal_seconds": m.ideal_seconds,
        "eligible": m.eligible,
        "refused": m.refused,
        "capacities": capacities,
    }))
}

fn main() -> std::process::ExitCode {
    let args = <Args as clap::Parser>::parse();
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("pbi-sim: {message}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let Args { state, scenario, bulk_tenant, port, .. } = &args;
    let scenario = match (scenario, bulk_tenant) {
        (Some(p), _) => Scenario::load(p)?,
        (None, Some(t)) => {
            if let Some(m) = makespan_json(t) {
                let file = state.join("makespan.json");
                std::fs::create_dir_all(state).map_err(|e| format!("{}: {e}", state.display()))?;
                std::fs::write(&file, m.to_string())
                    .map_err(|e| format!("{}: {e}", file.display()))?;
            }
            Scenario::parse(&t.scenario()).map_err(|e| format!("the bulk tenant: {e}"))?
        }
        (None, None) => {
            Scenario::parse(DEMO_SCENARIO).map_err(|e| format!("the demo scenario: {e}"))?
        }
    };
    let (state, port) = (state.clone(), *port);
    let stack = SimStack::start(scenario.clone(), &state, SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .map_err(|e| format!("cannot start: {e}"))?;
    stack.sim.throttle_rest(args.throttle_rest);
    stack.sim.busy_xmla(args.busy_xmla);
    stack.sim.busy_token(args.busy_token);
    stack.sim.fail_table_listing(args.fail_table_listing);
    stack.sim.refuse_mwc_tokens(args.refuse_mwc_tokens);
    let env_file = state.join("connection.env");
    write_private(&env_file, &connection_env(&stack, &scenario))
        .map_err(|e| format!("{}: {e}", env_file.display()))?;
    let json_file = state.join("connection.json");
    let json =
        serde_json::to_string_pretty(&connection_json(&stack, &scenario)).unwrap_or_default();
    write_private(&json_file, &json).map_err(|e| format!("{}: {e}", json_file.display()))?;
    // One write, errors ignored: whoever started us may stop reading after the first line.
    let mut banner = format!("pbi-sim: Power BI simulator on {}\n", stack.sim.base_url());
    for (name, e) in &stack.emulators {
        let _ = writeln!(banner, "pbi-sim: storage account '{name}' on {}", e.endpoint());
    }
    let _ = writeln!(banner, "pbi-sim: settings for pbi-backup in {}", env_file.display());
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(banner.as_bytes());
        let _ = out.flush();
    }
    let signal = test_fixtures::stop_signal().await.map_err(|e| e.to_string())?;
    for (name, e) in &stack.emulators {
        e.save().map_err(|err| {
            format!("stopped by {signal}, but storage '{name}' was not saved: {err}")
        })?;
    }
    // What it served since it started (requests by kind, refusals for load), for a benchmark to read.
    let counters = state.join("counters.json");
    let text = serde_json::to_string_pretty(&stack.sim.counters()).unwrap_or_default();
    std::fs::write(&counters, text).map_err(|e| format!("{}: {e}", counters.display()))?;
    // On stderr, errors ignored: whoever started us may have stopped reading stdout.
    eprintln!("pbi-sim: stopped by {signal}; state saved, counters in {}", counters.display());
    Ok(())
}

fn connection_env(stack: &SimStack, scenario: &Scenario) -> String {
    let base = stack.sim.base_url();
    let mut s = String::new();
    let _ = writeln!(s, "# Generated by pbi-sim: point pbi-backup at the simulated tenant.");
    let _ = writeln!(s, "PBI_BACKUP_POWERBI_API={base}/");
    // Entra over HTTPS, its certificate from the simulator's own CA.
    let _ = writeln!(s, "PBI_BACKUP_AUTHORITY={}", stack.sim.authority_url());
    let _ = writeln!(s, "PBI_BACKUP_CA_FILE={}", stack.sim.ca_file().display());
    let _ = writeln!(s, "PBI_BACKUP_AAS_BASE={base}/");
    let _ = writeln!(s, "PBI_BACKUP_ARM_URL={base}/");
    let _ = writeln!(s, "AZURE_TENANT_ID={}", scenario.tenant.id);
    if let Some(app) = scenario.principals.iter().find(|p| p.kind == "app" && p.secret.is_some()) {
        let _ = writeln!(s, "AZURE_CLIENT_ID={}", app.id);
        let _ = writeln!(s, "AZURE_CLIENT_SECRET={}", app.secret.clone().unwrap_or_default());
    }
    let account = scenario
        .tenant
        .tenant_storage
        .clone()
        .or_else(|| scenario.storage_accounts.first().map(|a| a.name.clone()));
    if let Some(account) = account {
        for (k, v) in stack.storage_env(&account) {
            let _ = writeln!(s, "{k}={v}");
        }
    }
    s
}

/// `connection.env`'s twin for programs: the same variables, every storage account with its endpoint and key, and
/// how each credential kind the scenario allows signs in (the principals with a secret, a certificate, a federated
/// credential or a managed identity; the managed identity endpoints).
fn connection_json(stack: &SimStack, scenario: &Scenario) -> serde_json::Value {
    use serde_json::json;
    let env: serde_json::Map<String, serde_json::Value> = connection_env(stack, scenario)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), json!(v)))
        .collect();
    let mut accounts: Vec<serde_json::Value> = stack
        .emulators
        .iter()
        .map(|(name, e)| json!({"name": name, "endpoint": e.endpoint(), "key": e.account_key()}))
        .collect();
    accounts.sort_by_key(|a| a["name"].as_str().unwrap_or_default().to_owned());
    let apps = || scenario.principals.iter().filter(|p| p.kind == "app");
    json!({
        "env": env,
        "storage_accounts": accounts,
        "credentials": {
            "client-secret": apps().filter(|p| p.secret.is_some())
                .map(|p| json!({"client_id": p.id, "secret": p.secret})).collect::<Vec<_>>(),
            "client-certificate": apps().filter(|p| p.certificate.is_some())
                .map(|p| json!({"client_id": p.id, "certificate": p.certificate})).collect::<Vec<_>>(),
            "workload-identity": apps().filter(|p| !p.federated_credentials.is_empty())
                .map(|p| json!({"client_id": p.id, "federated_credentials": p.federated_credentials})).collect::<Vec<_>>(),
            "managed-identity": {
                "IDENTITY_ENDPOINT": stack.sim.identity_endpoint(),
                "IDENTITY_HEADER": stack.sim.identity_header(),
                "imds_through_HTTP_PROXY": stack.sim.base_url(),
                "identities": apps().filter(|p| p.managed_identity.is_some())
                    .map(|p| json!({"client_id": p.id, "assigned": p.managed_identity, "resource_id": p.resource_id}))
                    .collect::<Vec<_>>(),
            },
        },
    })
}

/// Writes `text` as a file only its owner may read (0600 on Unix): `connection.env` holds the scenario's secrets.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}
