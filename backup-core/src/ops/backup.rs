//! `backup`: one dataset, every dataset of a workspace, or name patterns across workspaces.

use std::collections::HashMap;

use futures::StreamExt;
use globset::{Glob, GlobMatcher};
use xmla_proto::{Backup, Command, Password, Security};

use super::dispatch::{Attempt, Prepared, Queued, dispatch};
use super::output::{
    BackupOutcome, BackupOutput, BackupResult, BackupVerification, ErrorInfo, PlannedBackup,
};
use super::pacing::Pacer;
use super::schedule::{Shard, interleave};
use super::skip::{DataSince, LastBackup, SkipRules, last_verified, needs_history, skip_reason};
use super::{
    Context, Failure, Outcome, backup_folder, backup_path, default_file_name, hash_file,
    list_folder, rfc3339,
};
use crate::config::BackupSection;
use crate::error::{Error, Result};
use crate::manifest::{MANIFEST_FORMAT, Manifest, ManifestOptions, NamedId, StoredVersion};
use crate::preflight::Operation;
use crate::preflight::require;
use crate::progress::Unit;
use crate::service::powerbi;
use crate::service::xmla::Endpoint;

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
    /// Backups at once, at most; `None`: as many as the capacities take (see [`super::pacing`]).
    pub concurrency: Option<usize>,
    /// Skip the preflight.
    pub skip_preflight: bool,
    /// Only this share of the datasets (`--shard K/N`).
    pub shard: Option<Shard>,
    /// Datasets the run need not back up again.
    pub skip: SkipRules,
    /// Workspaces left out (names or glob patterns).
    pub exclude_workspaces: Vec<String>,
    /// Datasets left out (names or glob patterns).
    pub exclude_datasets: Vec<String>,
    /// Backups at once on one capacity at the start.
    pub per_capacity: usize,
    /// The most backups at once on one capacity.
    pub max_per_capacity: usize,
    /// How long a backup that the capacity refuses for load is sent again before it fails.
    pub load_wait: std::time::Duration,
}

impl From<&BackupSection> for BackupOptions {
    /// Every dataset of no workspace yet, with the configuration's `[backup]` settings (compression, backups at once
    /// in all and per capacity, how long a refusal for load is waited out): the one place they become options.
    fn from(config: &BackupSection) -> Self {
        BackupOptions {
            workspaces: Vec::new(),
            server: None,
            datasets: DatasetSelector::All,
            file: None,
            allow_overwrite: false,
            apply_compression: config.apply_compression,
            password: None,
            security: None,
            concurrency: config.concurrency,
            skip_preflight: false,
            shard: None,
            skip: SkipRules::default(),
            exclude_workspaces: Vec::new(),
            exclude_datasets: Vec::new(),
            per_capacity: config.per_capacity,
            max_per_capacity: config.max_per_capacity,
            load_wait: config.load_wait(),
        }
    }
}

impl BackupOptions {
    /// The command these options send for one dataset. ASSL, whose `Object/DatabaseID` is the database's ID (the
    /// dataset id on Power BI, as Microsoft's ASSL examples for Power BI send it; the name when the ID is not known),
    /// when `Security` is asked for, and on Power BI when the dataset's id is known, with `CopyAll`: the Backup
    /// element's documented default, `SkipMembership`, leaves the role members out of the file, and the TMSL command
    /// has no security option at all, so only `CopyAll` is documented to keep them. Otherwise TMSL, which names the
    /// database by name.
    pub fn command(&self, dataset: &str, id: Option<&str>, file: &str, power_bi: bool) -> Command {
        let security =
            self.security.or((power_bi && id.is_some()).then_some(xmla_proto::Security::CopyAll));
        let database = if security.is_some() { id.unwrap_or(dataset) } else { dataset };
        let mut b = Backup::new(database, file);
        b.allow_overwrite = self.allow_overwrite;
        b.apply_compression = self.apply_compression;
        b.password = self.password.clone();
        b.security = security;
        if b.security.is_some() { Command::backup(b) } else { Command::backup_tmsl(b) }
    }
}

#[derive(Debug)]
struct Job {
    workspace: String,
    workspace_id: Option<String>,
    dataset: String,
    dataset_id: Option<String>,
    endpoint: Endpoint,
    file: String,
    power_bi: bool,
    /// The workspace's capacity (Power BI): at most `per_capacity` of its backups run at once.
    capacity: Option<String>,
    /// Why the run does not back it up again (decided before the run, from its newest verified backup).
    skip: Option<String>,
    /// The model's `DATE_MODIFIED`, read before the backup, for the manifest.
    model_modified: Option<String>,
    /// Its newest verified backup, when a skip rule looked for it.
    last: Option<LastBackup>,
}

impl Job {
    /// The id a shard is chosen by: the dataset's, else the workspace's and the dataset's names.
    fn stable_id(&self) -> String {
        match (&self.workspace_id, &self.dataset_id) {
            (Some(w), Some(d)) => format!("{w}/{d}"),
            _ => format!("{}/{}", self.workspace, self.dataset),
        }
    }
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

/// What a backup will do, decided before anything is sent, from the REST API and the storage alone: each dataset
/// to back up, to which file, on which capacity, or to skip and why. [`plan_backup`] makes it, [`execute_backup`]
/// carries it out (each workspace's preflight first), and `backup --dry-run` prints it
/// ([`BackupPlan::backups`]), as a restore has its [`RestorePlan`](super::RestorePlan).
#[derive(Debug)]
pub struct BackupPlan {
    jobs: Vec<Job>,
}

impl BackupPlan {
    /// Every backup of the plan, with the request each would send (password masked).
    pub fn backups(&self, options: &BackupOptions) -> Result<Vec<PlannedBackup>> {
        self.jobs
            .iter()
            .map(|j| {
                let command =
                    options.command(&j.dataset, j.dataset_id.as_deref(), &j.file, j.power_bi);
                let request =
                    xmla_proto::Request::execute(command).with_catalog(Some(j.dataset.clone()));
                Ok(PlannedBackup {
                    workspace: j.workspace.clone(),
                    dataset: j.dataset.clone(),
                    file: j.file.clone(),
                    capacity: j.capacity.clone(),
                    skip: j.skip.clone(),
                    request: request.to_xml_masked().map_err(Error::Request)?,
                })
            })
            .collect()
    }

    /// For the skip rules, each dataset's newest verified backup, read from storage.
    pub(crate) async fn read_skips(&mut self, session: &Context, options: &BackupOptions) {
        read_before(session, options, &mut self.jobs).await;
    }

    /// Every workspace folder the plan touches (skipped datasets' included), in plan order.
    pub fn folders(&self) -> Vec<String> {
        let mut seen = Vec::new();
        for j in &self.jobs {
            if !seen.contains(&j.workspace) {
                seen.push(j.workspace.clone());
            }
        }
        seen
    }

    /// The Power BI workspaces the plan backs up in (each has its preflight), in plan order.
    pub fn workspaces(&self) -> Vec<String> {
        let mut seen = Vec::new();
        for j in self.jobs.iter().filter(|j| j.power_bi && j.skip.is_none()) {
            if !seen.contains(&j.workspace) {
                seen.push(j.workspace.clone());
            }
        }
        seen
    }
}

/// Plans the backups (reads only): the datasets selected, the share of this shard, and, for the skip rules, each
/// dataset's newest verified backup.
pub async fn plan_backup(session: &Context, options: &BackupOptions) -> Result<BackupPlan> {
    let mut plan = select_backups(session, options).await?;
    plan.read_skips(session, options).await;
    Ok(plan)
}

/// The datasets selected and the share of this shard, nothing read from storage yet: what `run` needs to know
/// which accounts to lock before it reads what is already done ([`BackupPlan::read_skips`]).
pub(crate) async fn select_backups(
    session: &Context,
    options: &BackupOptions,
) -> Result<BackupPlan> {
    let mut jobs = plan(session, options).await?;
    if jobs.is_empty() {
        return Err(Error::NotFound {
            what: "dataset",
            name: describe(&options.datasets),
            nearest: Vec::new(),
        });
    }
    if let Some(shard) = options.shard {
        jobs.retain(|j| shard.takes(&j.stable_id()));
    }
    Ok(BackupPlan { jobs })
}

/// `backup --dry-run`: with a Power BI sign-in, the plan and every workspace's preflight (a rule that blocks stops
/// it, as it would stop the backup); without one, the request of the one dataset named, built offline. Returns
/// what would be sent and the warnings to show.
pub async fn backup_dry_run(
    session: &Context,
    options: &BackupOptions,
) -> Outcome<(Vec<PlannedBackup>, Vec<String>)> {
    let power_bi = matches!(options.server, None | Some(Endpoint::PowerBi { .. }));
    if !power_bi || session.settings.credential().is_err() {
        let DatasetSelector::One(dataset) = &options.datasets else {
            return Err(Error::Usage(
                "--dry-run without a Power BI sign-in shows the command for one --dataset; sign in to see the plan of many".into(),
            )
            .into());
        };
        let file = options
            .file
            .clone()
            .unwrap_or_else(|| default_file_name(dataset, time::OffsetDateTime::now_utc()));
        let request = xmla_proto::Request::execute(options.command(dataset, None, &file, false))
            .with_catalog(Some(dataset.clone()));
        let planned = PlannedBackup {
            workspace: options.workspaces.first().cloned().unwrap_or_default(),
            dataset: dataset.clone(),
            file,
            capacity: None,
            skip: None,
            request: request.to_xml_masked().map_err(Error::Request)?,
        };
        let said = "--dry-run: the preflight did not run (it needs a Power BI workspace and a Power BI sign-in)";
        return Ok((vec![planned], vec![said.to_owned()]));
    }
    let plan = plan_backup(session, options).await?;
    let mut warnings = Vec::new();
    if !options.skip_preflight {
        for workspace in plan.workspaces() {
            warnings.extend(require(session, &workspace, Operation::Backup, "backup").await??);
        }
    }
    Ok((plan.backups(options)?, warnings))
}

/// Plans and runs the backups. One failure does not stop the others.
pub async fn backup(session: &Context, options: &BackupOptions) -> Result<BackupOutput> {
    let plan = plan_backup(session, options).await?;
    execute_backup(session, options, plan).await
}

/// Jobs prepared at once: their workspaces' preflights (REST, throttled by the service) and their models' sizes.
const PREPARED_AT_ONCE: usize = 8;

/// Runs a plan: each workspace's preflight when its first job is prepared, each model's size, then the backups in
/// the order the dispatcher (`ops/dispatch.rs`) chooses, each capacity at the number of backups at once it was seen to take.
pub async fn execute_backup(
    session: &Context,
    options: &BackupOptions,
    plan: BackupPlan,
) -> Result<BackupOutput> {
    let BackupPlan { jobs } = plan;
    // The preflight runs once per workspace, not once per dataset (a bulk run of hundreds of models makes a handful
    // of REST calls, not thousands: the Power BI API throttles), when the workspace's first job is prepared: the
    // backups of the first workspaces run while the others' rules are checked.
    let preflight: HashMap<String, Preflight> = if options.skip_preflight {
        HashMap::new()
    } else {
        jobs.iter()
            .filter(|j| j.power_bi)
            .map(|j| (j.workspace.clone(), Preflight::new()))
            .collect()
    };
    let modified: HashMap<String, Modified> = jobs
        .iter()
        .filter(|j| j.power_bi)
        .map(|j| (j.workspace.clone(), Modified::new()))
        .collect();
    let power_bi = jobs.iter().any(|j| j.power_bi);
    let shared = &Shared { session, options, preflight, modified };
    let task = session.progress().start("backing up", Some(jobs.len() as u64), Unit::Items);
    let task = &task;
    // Capacities take turns in preparation, so that each has jobs queued early.
    let jobs = interleave(jobs.into_iter().enumerate().collect(), |(_, j)| j.capacity.clone());
    let prepared = futures::stream::iter(jobs)
        .map(|(index, job)| prepare(shared, index, job))
        .buffer_unordered(PREPARED_AT_ONCE)
        .inspect(|p| {
            if matches!(p, Prepared::Finished(_)) {
                task.inc(1);
            }
        });
    let pacer = Pacer::new(options.per_capacity, options.max_per_capacity);
    let (mut results, mut capacities) =
        dispatch(prepared, pacer, options.concurrency, |a| async move {
            let done = attempt(session, options, a).await;
            if matches!(done, Attempt::Done(_)) {
                task.inc(1);
            }
            done
        })
        .await;
    task.finish();
    // Named as the service lists them (already read by the preflight; one REST call without it).
    if !capacities.is_empty()
        && power_bi
        && let Ok(listed) = session.capacities().await
    {
        for c in &mut capacities {
            c.name = listed
                .iter()
                .find(|l| l.id.eq_ignore_ascii_case(&c.capacity))
                .map(|l| l.display_name.clone());
        }
    }
    results.sort_by_key(|(i, _)| *i);
    let results: Vec<BackupResult> = results.into_iter().map(|(_, r)| r).collect();
    let skipped = results.iter().filter(|r| r.skipped().is_some()).count();
    let succeeded = results.iter().filter(|r| r.ok()).count() - skipped;
    let failed = results.len() - succeeded - skipped;
    Ok(BackupOutput { results, succeeded, failed, skipped, capacities })
}

/// What every job of a run shares: the session, the options, each workspace's preflight and models' times.
struct Shared<'a> {
    session: &'a Context,
    options: &'a BackupOptions,
    preflight: HashMap<String, Preflight>,
    modified: HashMap<String, Modified>,
}

/// A job on its way to the capacity: its result so far, its model's size, the refusals for load it met.
struct Attempting {
    index: usize,
    job: Job,
    result: BackupResult,
    model_size: Option<u64>,
    first_refused: Option<std::time::Instant>,
    refusals: u32,
}

impl Queued for Attempting {
    /// The capacity (Power BI), else the server: what refuses for load and what the window is learned for.
    fn capacity(&self) -> String {
        match &self.job.capacity {
            Some(c) => c.to_ascii_lowercase(),
            None => self.job.endpoint.to_string(),
        }
    }

    fn size(&self) -> Option<u64> {
        self.model_size
    }
}

/// A job up to its backup: skipped, blocked by its workspace's preflight, or ready with its model's size.
async fn prepare(
    shared: &Shared<'_>,
    index: usize,
    mut job: Job,
) -> Prepared<Attempting, (usize, BackupResult)> {
    let Shared { session, options, preflight, modified } = shared;
    // A dataset the run skips needs no preflight: a rerun of a done period asks the REST API nothing more.
    let verdict = match preflight.get(&job.workspace).filter(|_| job.skip.is_none()) {
        Some(cell) => Some(cell.get_or_init(|| workspace_verdict(session, &job.workspace)).await),
        None => None,
    };
    // Only once the workspace passed its preflight is its XMLA endpoint asked anything: the models' modified
    // times, once per workspace, for the manifest and `--if-changed`.
    if job.power_bi && job.skip.is_none() && !matches!(verdict, Some(Err(_))) {
        if let Some(cell) = modified.get(&job.workspace) {
            let times = cell.get_or_init(|| modified_times(session, &job)).await;
            job.model_modified = times.get(&job.dataset).cloned();
        }
        // A model the modified time says is unchanged: its refresh history (the documented signal of new data)
        // decides, one REST call.
        let modified_now = job.model_modified.as_deref();
        let data = match &job.last {
            Some(last) if needs_history(&options.skip, Some(last), modified_now) => {
                refreshed_since(session, &job, last.created).await
            }
            _ => DataSince::NotAsked,
        };
        job.skip = skip_reason(&options.skip, job.last.as_ref(), modified_now, &data);
        if let DataSince::Refreshed(why) = &data {
            tracing::info!(
                workspace = job.workspace,
                dataset = job.dataset,
                "backed up although its modified time is unchanged: {why}"
            );
        }
    }
    let mut result = BackupResult {
        workspace: job.workspace.clone(),
        dataset: job.dataset.clone(),
        file: job.file.clone(),
        outcome: BackupOutcome::Backed,
        size: None,
        sha256: None,
        manifest: None,
        verification: None,
        warnings: Vec::new(),
        finished: None,
        duration_ms: None,
        last_verified: job.last.as_ref().map(|l| rfc3339(l.created)),
    };
    if let Some(why) = &job.skip {
        result.outcome = BackupOutcome::Skipped(why.clone());
        if let Some(last) = &job.last {
            result.file = last.file.clone();
            result.finished = Some(rfc3339(last.created));
        }
        return Prepared::Finished((index, result));
    }
    match verdict {
        Some(Err(blocked)) => {
            result.outcome = BackupOutcome::Failed(blocked.clone());
            return Prepared::Finished((index, result));
        }
        Some(Ok(warnings)) => result.warnings.extend(warnings.iter().cloned()),
        None => {}
    }
    // The model's size in memory: the order of the run (largest first) and the restore's memory check (LATER-11).
    // A server that does not answer it only loses both.
    let model_size = match session.xmla(job.endpoint.clone()) {
        Ok(client) => client.model_size(&job.dataset).await.inspect_err(|e| {
            tracing::debug!(error = %e, dataset = job.dataset, "the model's size could not be read");
        }),
        Err(e) => Err(e),
    }
    .ok();
    Prepared::Ready(Attempting { index, job, result, model_size, first_refused: None, refusals: 0 })
}

/// What the dataset's refresh history says of its data since `since` (its three newest entries).
async fn refreshed_since(session: &Context, job: &Job, since: time::OffsetDateTime) -> DataSince {
    let (Some(group), Some(dataset)) = (&job.workspace_id, &job.dataset_id) else {
        return DataSince::Unknown;
    };
    let history = match session.api() {
        Ok(api) => api.refreshes(group, dataset, 3).await,
        Err(e) => Err(e),
    };
    match history {
        Ok(h) => DataSince::from_history(&h, since),
        Err(e) => {
            tracing::info!(error = %e, dataset = job.dataset, "the refresh history could not be read; the model is backed up");
            DataSince::Unknown
        }
    }
}

/// A workspace's preflight: its rules, then its backup storage signed in to and looked at.
async fn workspace_verdict(
    session: &Context,
    workspace: &str,
) -> std::result::Result<Vec<String>, ErrorInfo> {
    match require(session, workspace, Operation::Backup, "backup").await {
        Ok(Ok(warnings)) => match storage_reachable(session, workspace).await {
            Ok(()) => Ok(warnings),
            Err(e) => Err(ErrorInfo::from(&e)),
        },
        Ok(Err(blocked)) => Err(ErrorInfo::from(&Failure::from(blocked))),
        Err(e) => Err(ErrorInfo::from(&e)),
    }
}

/// One attempt at a backup. A refusal for load sends the job back to its queue while `backup.load-wait-minutes`
/// lasts, counted from its first refusal; then it fails with the service's answer.
async fn attempt(
    session: &Context,
    options: &BackupOptions,
    mut a: Attempting,
) -> Attempt<Attempting, (usize, BackupResult)> {
    let started = std::time::Instant::now();
    let outcome = run_one(session, options, &a.job, a.model_size, &mut a.result).await;
    let refused = matches!(&outcome, Err(Error::Server { failure, .. })
        if crate::server_texts::refused_for_load(failure));
    if refused {
        let first = *a.first_refused.get_or_insert(started);
        a.refusals += 1;
        if first.elapsed() < options.load_wait {
            tracing::info!(
                dataset = a.job.dataset,
                workspace = a.job.workspace,
                "the capacity refused the backup for load; it is sent again when the capacity has room"
            );
            return Attempt::RefusedForLoad(a);
        }
    }
    if let Some(first) = a.first_refused {
        a.result.warnings.push(format!(
            "the capacity refused the backup for load {} time(s); it was sent again as soon as the capacity had room, over {} s",
            a.refusals,
            first.elapsed().as_secs()
        ));
    }
    a.result.outcome = match outcome {
        Ok(()) => BackupOutcome::Backed,
        Err(e) => BackupOutcome::Failed(ErrorInfo::from(&e)),
    };
    a.result.duration_ms = Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
    Attempt::Done((a.index, a.result))
}

/// The account a workspace's backups land in, signed in to and looked at (one listing of its folder) before
/// anything is sent: a refused token or key, or an account that cannot be reached, fails the workspace's backups
/// here, with nothing sent to the service and no file left unverified.
async fn storage_reachable(session: &Context, workspace: &str) -> Result<()> {
    let store = session.workspace_store(workspace).await?;
    match store.folder_exists(&backup_folder(workspace)?).await {
        Ok(_) => Ok(()),
        // Said as SEED-02 with who was refused and what to grant: the rule's remedy, for the account it is about.
        Err(adls_store::Error::PermissionDenied { path, detail }) => {
            let who = session.settings.storage_credential_description();
            Err(Error::Storage(adls_store::Error::PermissionDenied {
                path,
                detail: format!(
                    "{detail}; SEED-02: the backup storage of '{workspace}' refused {who}: grant it 'Storage Blob Data Contributor' on the storage account (and 'Reader' for the region checks), or configure the account's key or SAS"
                ),
            }))
        }
        Err(e) => Err(e.into()),
    }
}

/// A workspace's preflight verdict, decided by its first job: its warnings, or why it is blocked.
type Preflight = tokio::sync::OnceCell<std::result::Result<Vec<String>, ErrorInfo>>;

/// A workspace's models' `DATE_MODIFIED` by name, read by its first job that gets past the preflight.
type Modified = tokio::sync::OnceCell<HashMap<String, String>>;

/// Every model's `DATE_MODIFIED` in `job`'s workspace (one `DBSCHEMA_CATALOGS` Discover); empty when it cannot be
/// read (then nothing is skipped as unchanged, and the manifests record no time).
async fn modified_times(session: &Context, job: &Job) -> HashMap<String, String> {
    let listed = match session.xmla(job.endpoint.clone()) {
        Ok(client) => client.databases().await,
        Err(e) => Err(e),
    };
    match listed {
        Ok(catalogs) => {
            catalogs.into_iter().filter_map(|c| Some((c.name, c.date_modified?))).collect()
        }
        Err(e) => {
            tracing::info!(error = %e, workspace = job.workspace, "the models' modified times could not be read");
            HashMap::new()
        }
    }
}

/// Before the run, when a skip rule is on, per workspace: each dataset's newest verified backup (one listing, then
/// one manifest per dataset), read from storage only, side by side across workspaces; a dataset done in this period
/// is then skipped before anything is asked of the service. What cannot be read leaves the dataset to be backed up.
async fn read_before(session: &Context, options: &BackupOptions, jobs: &mut [Job]) {
    if !options.skip.active() {
        return;
    }
    let mut workspaces: Vec<(String, Datasets)> = Vec::new();
    for (i, j) in jobs.iter().enumerate().filter(|(_, j)| j.power_bi) {
        match workspaces.iter_mut().find(|(w, _)| *w == j.workspace) {
            Some((_, datasets)) => datasets.push((i, j.dataset.clone())),
            None => workspaces.push((j.workspace.clone(), vec![(i, j.dataset.clone())])),
        }
    }
    // Workspaces are read side by side (a tenant of hundreds would otherwise wait for each in turn).
    let found: Vec<(usize, Option<LastBackup>)> = futures::stream::iter(workspaces)
        .map(|(workspace, datasets)| last_backups(session, workspace, datasets))
        .buffer_unordered(options.concurrency.unwrap_or(PREPARED_AT_ONCE).max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .flatten()
        .collect();
    for (i, last) in found {
        let job = &mut jobs[i];
        job.last = last;
        // The period only: whether a model is unchanged is asked of the service after the preflight.
        job.skip = skip_reason(&options.skip, job.last.as_ref(), None, &DataSince::NotAsked);
    }
}

/// A workspace's jobs: their indexes and dataset names.
type Datasets = Vec<(usize, String)>;

/// [`read_before`] for one workspace: each job's newest verified backup.
async fn last_backups(
    session: &Context,
    workspace: String,
    datasets: Datasets,
) -> Vec<(usize, Option<LastBackup>)> {
    let files = match workspace_files(session, &workspace).await {
        Ok(f) => Some(f),
        Err(e) => {
            tracing::info!(error = %e, workspace, "the backup folder could not be listed; nothing is skipped");
            None
        }
    };
    let mut out = Vec::new();
    for (i, dataset) in datasets {
        let last = match &files {
            Some((store, files)) => {
                last_verified(store.as_ref(), files, &dataset).await.ok().flatten()
            }
            None => None,
        };
        out.push((i, last));
    }
    out
}

async fn workspace_files(
    session: &Context,
    workspace: &str,
) -> Result<(std::sync::Arc<dyn adls_store::Store>, Vec<adls_store::ObjectMeta>)> {
    let store = session.workspace_store(workspace).await?;
    let files = list_folder(store.as_ref(), &backup_folder(workspace)?).await?;
    Ok((store, files))
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

async fn plan(session: &Context, options: &BackupOptions) -> Result<Vec<Job>> {
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
    session: &Context,
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
            nearest: crate::names::nearest(n, catalogs.iter().map(|c| c.name.as_str())),
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
                capacity: None,
                skip: None,
                model_modified: c.date_modified.clone(),
                last: None,
            })
        })
        .collect()
}

/// Power BI: workspaces by name or pattern, then their datasets, through the REST API.
async fn plan_power_bi(
    session: &Context,
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
    let mut selected = select_workspaces(&session.groups().await?, &workspace_names)?;
    let all_groups: Vec<&str> = selected.iter().map(|g| g.name.as_str()).collect();
    let excluded_workspaces = Exclusions::new(&options.exclude_workspaces, &all_groups)?;
    selected.retain(|g| !excluded_workspaces.excludes(&g.name));
    let mut pending = Vec::new();
    for g in &selected {
        let datasets = api.datasets(&g.id).await?;
        let names: Vec<&str> = datasets.iter().map(|d| d.name.as_str()).collect();
        let excluded_datasets = Exclusions::new(&options.exclude_datasets, &names)?;
        let mut chosen = select(&datasets, &options.datasets, |d| d.name.as_str())?;
        if let (DatasetSelector::One(n), [], 1) =
            (&options.datasets, chosen.as_slice(), selected.len())
        {
            return Err(Error::NotFound {
                what: "dataset",
                name: n.clone(),
                nearest: crate::names::nearest(n, datasets.iter().map(|d| d.name.as_str())),
            });
        }
        chosen.retain(|d| !excluded_datasets.excludes(&d.name));
        for d in &chosen {
            session.routes().listed(&g.name, &d.name);
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
                capacity: g.capacity_id.clone(),
                skip: None,
                model_modified: None,
                last: None,
            })
        })
        .collect()
}

/// The workspaces named (exactly, or by pattern), each once.
/// What `exclude-workspaces` or `exclude-datasets` leave out of a list of names. As in selection, a pattern that is
/// one of the names exactly stands for that name alone (`Orders [old]` excludes itself, not `Orders o`); any other
/// is a glob.
struct Exclusions {
    exact: Vec<String>,
    globs: Vec<GlobMatcher>,
}

impl Exclusions {
    fn new(patterns: &[String], names: &[&str]) -> Result<Exclusions> {
        let (exact, globbed): (Vec<String>, Vec<String>) =
            patterns.iter().cloned().partition(|p| !is_pattern(p) || names.contains(&p.as_str()));
        Ok(Exclusions { exact, globs: globs(&globbed)? })
    }

    fn excludes(&self, name: &str) -> bool {
        self.exact.iter().any(|e| e == name) || self.globs.iter().any(|m| m.is_match(name))
    }
}

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

/// The backup command, then the stored file hashed, its definition read and its manifest written beside it.
async fn run_one(
    session: &Context,
    options: &BackupOptions,
    job: &Job,
    model_size_bytes: Option<u64>,
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
    let command = options.command(&job.dataset, job.dataset_id.as_deref(), &job.file, job.power_bi);
    // What the manifest records of the command sent: its syntax, by the names manifests have always written, and
    // its security.
    let (syntax, security) = match &command {
        Command::Backup(b, xmla_proto::Syntax::Tmsl) => ("Tmsl".to_owned(), b.security),
        Command::Backup(b, xmla_proto::Syntax::Assl) => ("Assl".to_owned(), b.security),
        _ => (String::new(), None),
    };
    // Sent once: a refusal for load goes back to the run's queue (`attempt`), not into a wait here.
    let warnings = client.execute(command, Some(job.dataset.as_str())).await?;
    result.warnings.extend(warnings.iter().map(|w| w.to_string()));
    let created = time::OffsetDateTime::now_utc();
    result.finished = Some(rfc3339(created));
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
    // What the model holds, read from the stored file (its definition, through ranged reads) rather than asked of
    // the service; an encrypted file, or one whose definition cannot be read, is asked about instead.
    let definition = if options.password.is_some() {
        None
    } else {
        stored_definition(session, &path, &mut result.warnings).await
    };
    let ModelFacts { tables, tables_unknown, roles } =
        model_facts(&client, &job.dataset, definition.as_ref(), &mut result.warnings).await;
    let row_counts = row_counts(&client, &job.dataset, &mut result.warnings).await;
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
            security: security.map(|s| s.to_string()),
            syntax,
        },
        tables,
        placed_by: None,
        tables_unknown,
        verified_version: Some(StoredVersion::of(&hashed.meta)),
        roles,
        row_counts,
        model_size_bytes,
        model_modified: job.model_modified.clone(),
        failed_check: None,
        drilled_at: None,
        drill_passed: None,
        definition: definition.as_ref().map(abf_format::Definition::fingerprint),
    };
    let manifest_path = crate::manifest::write_manifest(store.as_ref(), &path, &manifest).await?;
    result.size = Some(size);
    result.sha256 = Some(sha256);
    result.manifest = Some(manifest_path.to_string());
    result.verification = Some(BackupVerification::Verified);
    Ok(())
}

/// The definition in the stored backup at `path`, read through ranged reads; `None` with a warning when it cannot
/// be read (the backup itself is kept and verified either way; the manifest then records no fingerprint).
async fn stored_definition(
    session: &Context,
    path: &adls_store::StorePath,
    warnings: &mut Vec<String>,
) -> Option<abf_format::Definition> {
    let options = abf_format::InspectOptions { definition: true, ..Default::default() };
    match super::files::inspect_path(session, path, options).await {
        Ok(report) => match report.definition {
            Some(d) if report.valid => Some(d),
            _ => {
                warnings.push(format!(
                    "the model's definition could not be read from {path}; the manifest records no fingerprint"
                ));
                None
            }
        },
        Err(e) => {
            warnings.push(format!("the model's definition could not be read from {path} ({e})"));
            None
        }
    }
}

/// The model's row counts, read right after its backup so that they are the file's as nearly as the service can
/// tell; `None` with a warning when they cannot be read.
async fn row_counts(
    client: &crate::service::xmla::XmlaClient,
    dataset: &str,
    warnings: &mut Vec<String>,
) -> Option<std::collections::BTreeMap<String, u64>> {
    match client.row_counts(dataset).await {
        Ok(counts) => Some(counts),
        Err(e) => {
            warnings.push(format!(
                "the model's row counts could not be read ({e}); a drill of this backup cannot compare them"
            ));
            None
        }
    }
}

/// What the manifest records of the model: its tables and its roles with their members.
struct ModelFacts {
    tables: Vec<String>,
    tables_unknown: bool,
    roles: Option<Vec<crate::manifest::RoleMembers>>,
}

/// The model's tables and roles, from the backup's definition when there is one. The service is asked only for what
/// the file cannot say: everything when there is no definition, and the members when the file's roles have none
/// (a backup that kept no members, as ASSL's default `SkipMembership` does, would restore none: said in a warning,
/// and the model's own counts are recorded so that a restore compares with them). A listing that fails is recorded
/// as unknown (with a warning), never as empty.
async fn model_facts(
    client: &crate::service::xmla::XmlaClient,
    dataset: &str,
    definition: Option<&abf_format::Definition>,
    warnings: &mut Vec<String>,
) -> ModelFacts {
    if let Some(d) = definition {
        let mut tables: Vec<String> = d.tables.iter().map(|t| t.name.clone()).collect();
        tables.sort();
        let mut stored: Vec<crate::manifest::RoleMembers> = d
            .roles
            .iter()
            .map(|r| crate::manifest::RoleMembers { name: r.name.clone(), members: r.member_count })
            .collect();
        stored.sort_by(|a, b| a.name.cmp(&b.name));
        if stored.is_empty() || stored.iter().any(|r| r.members > 0) {
            return ModelFacts { tables, tables_unknown: false, roles: Some(stored) };
        }
        let roles = match client.roles(dataset).await {
            Ok(live) => {
                let held: usize = live.iter().map(|r| r.members).sum();
                if held > 0 {
                    warnings.push(format!(
                        "the backup holds no members of the model's roles, which have {held}: a restore of it brings back no role members"
                    ));
                }
                Some(live)
            }
            Err(e) => {
                tracing::debug!(error = %e, "the model's role members could not be listed");
                Some(stored)
            }
        };
        return ModelFacts { tables, tables_unknown: false, roles };
    }
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
    ModelFacts { tables, tables_unknown, roles }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exclusion_that_is_a_name_excludes_that_name_alone() {
        let names = ["Orders [old]", "Orders o", "Sales EU", "Sales US"];
        let x = Exclusions::new(&["Orders [old]".into(), "Sales *".into()], &names).unwrap();
        let kept: Vec<&str> = names.iter().copied().filter(|n| !x.excludes(n)).collect();
        assert_eq!(kept, ["Orders o"]);
        // A pattern that names nothing exactly is a glob, as before: '[old]' is a class.
        let x = Exclusions::new(&["Orders [old]".into()], &["Orders o"]).unwrap();
        assert!(x.excludes("Orders o"));
    }
}
