//! `backup`: one dataset, every dataset of a workspace, or name patterns across workspaces.

use std::collections::HashMap;

use futures::StreamExt;
use globset::{Glob, GlobMatcher};
use xmla_proto::{Backup, Command, Password, Security};

use super::{Session, backup_path, default_file_name, hash_file, rfc3339};
use crate::error::{Error, Result};
use crate::manifest::{MANIFEST_FORMAT, Manifest, ManifestOptions, NamedId, StoredVersion};
use crate::output::{BackupOutput, BackupResult, BackupVerification, ErrorInfo};
use crate::powerbi;
use crate::preflight::Operation;
use crate::preflight::require;
use crate::progress::Unit;
use crate::xmla::Endpoint;

/// Which datasets to back up.
#[derive(Debug, Clone)]
pub enum DatasetSelector {
    /// One dataset by name.
    One(String),
    /// Every dataset of the workspaces.
    All,
    /// Datasets whose names match glob patterns (`Sales*`).
    Patterns(Vec<String>),
}

/// How to back up.
#[derive(Debug, Clone)]
pub struct BackupOptions {
    /// Workspace names or glob patterns (Power BI), resolved through the REST API.
    pub workspaces: Vec<String>,
    /// Or one XMLA endpoint (`asazure://`, `http(s)://`, `powerbi://`); then `workspaces` is ignored.
    pub server: Option<Endpoint>,
    /// Datasets.
    pub datasets: DatasetSelector,
    /// File name for a single dataset (default `<dataset>_<UTC time>.abf`).
    pub file: Option<String>,
    /// Overwrite an existing file.
    pub allow_overwrite: bool,
    /// Compress (default true).
    pub apply_compression: bool,
    /// Encrypt with this password.
    pub password: Option<Password>,
    /// ASSL `Security` (Analysis Services).
    pub security: Option<Security>,
    /// Backups at once.
    pub concurrency: usize,
    /// Skip the preflight.
    pub skip_preflight: bool,
}

impl BackupOptions {
    /// The command these options send for one dataset: TMSL, which names the database by name (Power BI's
    /// documented form), unless `Security` asks for ASSL, whose `Object/DatabaseID` is the database's ID (the
    /// dataset id on Power BI, as Microsoft's ASSL examples for Power BI send it; the name when the ID is not known).
    pub fn command(&self, dataset: &str, id: Option<&str>, file: &str) -> Command {
        let assl = self.security.is_some();
        let database = if assl { id.unwrap_or(dataset) } else { dataset };
        let mut b = Backup::new(database, file);
        b.allow_overwrite = self.allow_overwrite;
        b.apply_compression = self.apply_compression;
        b.password = self.password.clone();
        b.security = self.security;
        if b.security.is_some() { Command::backup(b) } else { Command::backup_tmsl(b) }
    }
}

struct Job {
    workspace: String,
    workspace_id: Option<String>,
    dataset: String,
    dataset_id: Option<String>,
    endpoint: Endpoint,
    file: String,
    power_bi: bool,
}

fn globs(patterns: &[String]) -> Result<Vec<GlobMatcher>> {
    patterns
        .iter()
        .map(|p| {
            Glob::new(p)
                .map(|g| g.compile_matcher())
                .map_err(|e| Error::Usage(format!("'{p}' is not a valid name pattern: {e}")))
        })
        .collect()
}

fn is_pattern(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The preflight of a backup into one Power BI workspace, alone (what `backup --dry-run` checks): its warnings, or
/// [`Error::Preflight`] when a rule blocks. `None` when it cannot run here: not one Power BI workspace by name, or
/// no Power BI sign-in configured.
pub async fn backup_preflight(
    session: &Session,
    options: &BackupOptions,
) -> Result<Option<Vec<String>>> {
    let workspace = match (&options.server, options.workspaces.as_slice()) {
        (Some(Endpoint::PowerBi { workspace, .. }), _) => workspace.clone(),
        (None, [one]) if !is_pattern(one) => one.clone(),
        _ => return Ok(None),
    };
    if session.settings.credential().is_err() {
        return Ok(None);
    }
    require(session, &workspace, Operation::Backup, "backup").await.map(Some)
}

/// Plans and runs the backups. One failure does not stop the others.
pub async fn backup(session: &Session, options: &BackupOptions) -> Result<BackupOutput> {
    let jobs = plan(session, options).await?;
    if jobs.is_empty() {
        return Err(Error::NotFound {
            what: "dataset",
            name: describe(&options.datasets),
            nearest: Vec::new(),
        });
    }
    // The preflight runs once per workspace, not once per dataset: a bulk run of hundreds of models makes a handful
    // of REST calls, not thousands (the Power BI API throttles).
    let mut preflight: HashMap<String, std::result::Result<Vec<String>, ErrorInfo>> =
        HashMap::new();
    if !options.skip_preflight {
        for job in jobs.iter().filter(|j| j.power_bi) {
            if !preflight.contains_key(&job.workspace) {
                let verdict = require(session, &job.workspace, Operation::Backup, "backup")
                    .await
                    .map_err(|e| ErrorInfo::from(&e));
                preflight.insert(job.workspace.clone(), verdict);
            }
        }
    }
    let preflight = &preflight;
    let task = session.progress().start("backing up", Some(jobs.len() as u64), Unit::Items);
    let task = &task;
    let results: Vec<BackupResult> = futures::stream::iter(jobs)
        .map(|job| async move {
            let r = run_one(session, options, &job, preflight.get(&job.workspace)).await;
            task.inc(1);
            r
        })
        .buffered(options.concurrency.max(1))
        .collect()
        .await;
    task.finish();
    let succeeded = results.iter().filter(|r| r.ok).count();
    let failed = results.len() - succeeded;
    Ok(BackupOutput { results, succeeded, failed })
}

fn describe(s: &DatasetSelector) -> String {
    match s {
        DatasetSelector::One(n) => n.clone(),
        DatasetSelector::All => "*".into(),
        DatasetSelector::Patterns(p) => p.join(", "),
    }
}

/// The file name of each backup: `--file` for a single dataset, else `<dataset>_<UTC time>.abf`.
struct FileNames<'a> {
    file: Option<&'a str>,
    now: time::OffsetDateTime,
}

impl FileNames<'_> {
    fn for_dataset(&self, dataset: &str, many: bool) -> Result<String> {
        match (self.file, many) {
            (Some(_), true) => Err(Error::Usage(
                "--file names one backup; with several datasets the default names <dataset>_<time>.abf are used".into(),
            )),
            // list, restore, copy and prune know backups by their .abf names: one by another name is lost to them.
            (Some(f), false) if !super::is_abf(f) => Err(Error::Usage(format!(
                "--file '{f}' does not end in .abf; Power BI restores .abf backups only"
            ))),
            (Some(f), false) => Ok(f.to_owned()),
            (None, _) => Ok(default_file_name(dataset, self.now)),
        }
    }
}

/// The datasets of `names` that `selector` picks (glob patterns, one name, or all).
fn select<'a, T>(
    items: &'a [T],
    selector: &DatasetSelector,
    name: impl Fn(&T) -> &str,
) -> Result<Vec<&'a T>> {
    Ok(match selector {
        // One name is the first dataset of that name, as the service lists them.
        DatasetSelector::One(n) => items.iter().filter(|i| name(i) == n).take(1).collect(),
        DatasetSelector::All => items.iter().collect(),
        DatasetSelector::Patterns(p) => {
            let g = globs(p)?;
            items.iter().filter(|i| g.iter().any(|m| m.is_match(name(i)))).collect()
        }
    })
}

async fn plan(session: &Session, options: &BackupOptions) -> Result<Vec<Job>> {
    let names = FileNames { file: options.file.as_deref(), now: time::OffsetDateTime::now_utc() };
    match &options.server {
        Some(endpoint) if !matches!(endpoint, Endpoint::PowerBi { .. }) => {
            plan_server(session, options, endpoint, &names).await
        }
        _ => plan_power_bi(session, options, &names).await,
    }
}

/// Analysis Services or msmdpump: datasets come from DBSCHEMA_CATALOGS.
async fn plan_server(
    session: &Session,
    options: &BackupOptions,
    endpoint: &Endpoint,
    names: &FileNames<'_>,
) -> Result<Vec<Job>> {
    let client = session.xmla(endpoint.clone())?;
    let catalogs = client.databases().await?;
    let chosen = select(&catalogs, &options.datasets, |c| c.name.as_str())?;
    if let (DatasetSelector::One(n), []) = (&options.datasets, chosen.as_slice()) {
        return Err(Error::NotFound {
            what: "database",
            name: n.clone(),
            nearest: crate::nearest(n, catalogs.iter().map(|c| c.name.as_str())),
        });
    }
    let many = chosen.len() > 1;
    let server_name = match endpoint {
        Endpoint::Aas { server, .. } => server.clone(),
        other => other.to_string(),
    };
    chosen
        .into_iter()
        .map(|c| {
            Ok(Job {
                workspace: server_name.clone(),
                workspace_id: None,
                file: names.for_dataset(&c.name, many)?,
                dataset_id: c.database_id.clone(),
                dataset: c.name.clone(),
                endpoint: endpoint.clone(),
                power_bi: false,
            })
        })
        .collect()
}

/// Power BI: workspaces by name or pattern, then their datasets, through the REST API.
async fn plan_power_bi(
    session: &Session,
    options: &BackupOptions,
    names: &FileNames<'_>,
) -> Result<Vec<Job>> {
    let workspace_names: Vec<String> = match &options.server {
        Some(Endpoint::PowerBi { workspace, .. }) => vec![workspace.clone()],
        _ => options.workspaces.clone(),
    };
    if workspace_names.is_empty() {
        return Err(Error::Usage(
            "name a workspace with --workspace, or an endpoint with --server".into(),
        ));
    }
    let api = session.api()?;
    let selected = select_workspaces(&api.groups().await?, &workspace_names)?;
    let mut pending = Vec::new();
    for g in &selected {
        let datasets = api.datasets(&g.id).await?;
        let chosen = select(&datasets, &options.datasets, |d| d.name.as_str())?;
        if let (DatasetSelector::One(n), [], 1) =
            (&options.datasets, chosen.as_slice(), selected.len())
        {
            return Err(Error::NotFound {
                what: "dataset",
                name: n.clone(),
                nearest: crate::nearest(n, datasets.iter().map(|d| d.name.as_str())),
            });
        }
        pending.extend(chosen.into_iter().map(|d| (g, d.clone())));
    }
    let many = pending.len() > 1;
    pending
        .into_iter()
        .map(|(g, d)| {
            Ok(Job {
                workspace: g.name.clone(),
                workspace_id: Some(g.id.clone()),
                file: names.for_dataset(&d.name, many)?,
                dataset: d.name.clone(),
                dataset_id: Some(d.id.clone()),
                endpoint: match &options.server {
                    Some(e @ Endpoint::PowerBi { .. }) => e.clone(),
                    _ => Endpoint::workspace(&g.name),
                },
                power_bi: true,
            })
        })
        .collect()
}

/// The workspaces named (exactly, or by pattern), each once.
fn select_workspaces(groups: &[powerbi::Group], names: &[String]) -> Result<Vec<powerbi::Group>> {
    let mut selected = Vec::new();
    for w in names {
        // A workspace's exact name selects it even when it holds pattern characters: 'Sales [EU]' as a pattern
        // matches 'Sales E', not itself.
        if is_pattern(w) && !groups.iter().any(|grp| &grp.name == w) {
            let g = globs(std::slice::from_ref(w))?;
            let matched: Vec<_> =
                groups.iter().filter(|grp| g[0].is_match(&grp.name)).cloned().collect();
            if matched.is_empty() {
                return Err(Error::NotFound {
                    what: "workspace",
                    name: w.clone(),
                    nearest: Vec::new(),
                });
            }
            selected.extend(matched);
        } else {
            selected.push(powerbi::find_group(groups, w)?);
        }
    }
    // A workspace named twice (`-w 'Fin*' -w Finance`) is backed up once: twice would collide on the file name.
    let mut seen = std::collections::HashSet::new();
    selected.retain(|g| seen.insert(g.id.to_ascii_lowercase()));
    Ok(selected)
}

async fn run_one(
    session: &Session,
    options: &BackupOptions,
    job: &Job,
    preflight: Option<&std::result::Result<Vec<String>, ErrorInfo>>,
) -> BackupResult {
    let mut result = BackupResult {
        workspace: job.workspace.clone(),
        dataset: job.dataset.clone(),
        file: job.file.clone(),
        ok: false,
        size: None,
        sha256: None,
        manifest: None,
        verification: None,
        warnings: Vec::new(),
        error: None,
    };
    match preflight {
        Some(Err(blocked)) => {
            result.error = Some(blocked.clone());
            return result;
        }
        Some(Ok(warnings)) => result.warnings.extend(warnings.iter().cloned()),
        None => {}
    }
    match run_one_inner(session, options, job, &mut result).await {
        Ok(()) => result.ok = true,
        Err(e) => result.error = Some(ErrorInfo::from(&e)),
    }
    result
}

async fn run_one_inner(
    session: &Session,
    options: &BackupOptions,
    job: &Job,
    result: &mut BackupResult,
) -> Result<()> {
    // The store is needed to verify; without one (a plain XMLA server) the command still runs.
    // A Power BI backup is written into the account the workspace is attached to, and read back there.
    let store = if job.power_bi {
        Some(session.workspace_store(&job.workspace).await?)
    } else if session.settings.has_store() {
        Some(session.store()?)
    } else {
        None
    };
    let path = if job.power_bi { Some(backup_path(&job.workspace, &job.file)?) } else { None };
    let client = session.xmla(job.endpoint.clone())?;
    let (tables, tables_unknown, roles, model_size_bytes) =
        model_facts(&client, &job.dataset, &mut result.warnings).await;
    let command = options.command(&job.dataset, job.dataset_id.as_deref(), &job.file);
    let syntax = match &command {
        // The manifest's names for the syntax, as manifests have always written them.
        Command::Backup(_, xmla_proto::Syntax::Tmsl) => "Tmsl".to_owned(),
        Command::Backup(_, xmla_proto::Syntax::Assl) => "Assl".to_owned(),
        _ => String::new(),
    };
    let warnings = client.execute(command, Some(&job.dataset)).await?;
    result.warnings.extend(warnings.iter().map(|w| w.to_string()));
    let created = time::OffsetDateTime::now_utc();
    let (Some(store), Some(path)) = (store, path) else {
        result.verification = Some(if session.settings.has_store() {
            BackupVerification::SkippedNotPowerBi
        } else {
            BackupVerification::SkippedNoStorage
        });
        return Ok(());
    };
    let hashed = hash_file(store.as_ref(), &path, None, session.progress()).await.map_err(|e| match e {
        Error::Storage(adls_store::Error::NotFound { .. }) => Error::Integrity(format!(
            "the server said the backup succeeded, but {path} is not in {store}; check that it is the account linked to the workspace"
        )),
        other => other,
    })?;
    let (size, sha256) = (hashed.size, hashed.sha256.clone());
    if size == 0 {
        return Err(Error::Integrity(format!("{path} is empty")));
    }
    let manifest = Manifest {
        format: MANIFEST_FORMAT.into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        endpoint: job.endpoint.to_string(),
        workspace: NamedId { name: job.workspace.clone(), id: job.workspace_id.clone() },
        dataset: NamedId { name: job.dataset.clone(), id: job.dataset_id.clone() },
        file: job.file.clone(),
        created: rfc3339(created),
        size,
        sha256: sha256.clone(),
        options: ManifestOptions {
            apply_compression: options.apply_compression,
            allow_overwrite: options.allow_overwrite,
            encrypted: options.password.is_some(),
            security: options.security.map(|s| s.to_string()),
            syntax,
        },
        tables,
        placed_by: None,
        tables_unknown,
        verified_version: Some(StoredVersion::of(&hashed.meta)),
        roles,
        model_size_bytes,
    };
    let manifest_path = path.folder_path().join(&Manifest::name_for(&job.file))?;
    let body = serde_json::to_vec_pretty(&manifest).expect("plain data");
    adls_store::StoreExt::put(
        store.as_ref(),
        &manifest_path,
        body.into(),
        adls_store::PutMode::Overwrite,
    )
    .await?;
    result.size = Some(size);
    result.sha256 = Some(sha256);
    result.manifest = Some(manifest_path.to_string());
    result.verification = Some(BackupVerification::Verified);
    Ok(())
}

/// What the manifest records of the model before the backup: its tables, roles and size. A listing that fails is
/// recorded as unknown (with a warning), never as empty.
async fn model_facts(
    client: &crate::xmla::XmlaClient,
    dataset: &str,
    warnings: &mut Vec<String>,
) -> (Vec<String>, bool, Option<Vec<crate::manifest::RoleMembers>>, Option<u64>) {
    let (tables, tables_unknown) = match client.tables(dataset).await {
        Ok(t) => (t, false),
        Err(e) => {
            warnings.push(format!(
                "the model's tables could not be listed ({e}); the manifest records them as unknown, so a restore cannot compare them"
            ));
            (Vec::new(), true)
        }
    };
    let roles = match client.roles(dataset).await {
        Ok(r) => Some(r),
        Err(e) => {
            warnings.push(format!(
                "the model's roles could not be listed ({e}); the manifest records them as unknown, so a restore cannot compare them"
            ));
            None
        }
    };
    // For the restore's memory check (LATER-11); a server that does not answer it only loses that check.
    let model_size_bytes = match client.model_size(dataset).await {
        Ok(n) => Some(n),
        Err(e) => {
            tracing::debug!(error = %e, "the model's size could not be read");
            None
        }
    };
    (tables, tables_unknown, roles, model_size_bytes)
}
