//! `restore`: by file or the latest backup of a dataset, optionally from another workspace's folder.

use adls_store::StorePath;
use xmla_proto::{Command, Password, ReadWriteMode, Request, Restore, Security};

use super::files::{copy_verified, put_manifest};
use super::output::{ManifestCheck, RestoreOutput, RestorePlanOutput};
use super::{
    Context, Outcome, backup_folder, backup_path, hash_file, read_manifest, time_from_file_name,
};
use crate::error::{Error, Result};
use crate::manifest::{MANIFEST_SUFFIX, Manifest, VerifiedState};
use crate::preflight::{
    BackupFileContext, Blocked, Finding, Operation, backup_file_findings, evaluate, gather_facts,
    require, verdict,
};
use crate::service::xmla::Endpoint;

/// How to restore.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// Target workspace (Power BI).
    pub workspace: Option<String>,
    /// Or a target XMLA endpoint.
    pub server: Option<Endpoint>,
    /// The backup file; `None` with `latest` set.
    pub file: Option<String>,
    /// Restore the newest backup of this dataset.
    pub latest: Option<String>,
    /// Copy the file from this workspace's folder first.
    pub from_workspace: Option<String>,
    /// Restore under this name.
    pub as_name: Option<String>,
    /// Overwrite an existing model.
    pub allow_overwrite: bool,
    /// What becomes of the roles and their members; `None`: `CopyAll` on Power BI (see [`Self::command`]), the
    /// server's default (`SkipMembership`) elsewhere.
    pub security: Option<Security>,
    /// Read-write mode.
    pub read_write_mode: Option<ReadWriteMode>,
    /// Drop roles without read permission (Power BI).
    pub ignore_incompatibilities: bool,
    /// Restore with the old model unloaded (Power BI).
    pub force_restore: bool,
    /// Password of an encrypted backup.
    pub password: Option<Password>,
    /// Skip the preflight.
    pub skip_preflight: bool,
    /// Restore even without a manifest to check against.
    pub allow_unverified: bool,
}

impl RestoreOptions {
    /// The command these options send for `file`, restoring it as `database` (`None`: the name in the backup).
    /// TMSL when an option exists only there, ASSL otherwise.
    ///
    /// On Power BI the roles' members are copied unless asked otherwise: the engine's default, `SkipMembership`,
    /// keeps the roles and drops who is in them, which silently opens or closes row-level security; Microsoft's
    /// Power BI examples and semantic-link-labs send `CopyAll`.
    pub fn command(&self, file: &str, database: Option<String>, power_bi: bool) -> Command {
        let mut r = Restore::new(file);
        r.database_name = database;
        r.allow_overwrite = self.allow_overwrite;
        r.security = self.security.or(power_bi.then_some(Security::CopyAll));
        r.read_write_mode = self.read_write_mode;
        r.ignore_incompatibilities = self.ignore_incompatibilities;
        r.force_restore = self.force_restore;
        r.password = self.password.clone();
        Command::restore(r)
    }
}

/// A backup `--latest` may restore.
#[derive(Debug)]
struct Candidate {
    /// When it was made.
    time: time::OffsetDateTime,
    /// Whether its last drill passed.
    drilled: bool,
    path: StorePath,
    state: VerifiedState,
}

/// Newest first; among equally new ones, a backup whose last drill passed (proven restorable) first, then by name.
fn newest_first(candidates: &mut [Candidate]) {
    candidates.sort_by(|a, b| {
        b.time
            .cmp(&a.time)
            .then(b.drilled.cmp(&a.drilled))
            .then(a.path.to_string().cmp(&b.path.to_string()))
    });
}

/// The newest verified backup of `dataset` in a folder (by manifest time, else the time in the file name; a drilled
/// one first among equally new ones), and the newer ones it passed over, each with why: a file that changed since it
/// was verified, was never verified, or has no manifest is not restored by `--latest`.
async fn latest_file(
    session: &Context,
    workspace: &str,
    dataset: &str,
) -> Result<(String, Vec<String>)> {
    let store = session.workspace_store(workspace).await?;
    let files = super::list_folder(store.as_ref(), &backup_folder(workspace)?).await?;
    // No files: a misspelt workspace is said so, with the nearest names, when the REST API can tell.
    if files.is_empty() && session.settings.credential().is_ok() {
        super::missing_folder(session, workspace).await?;
    }
    let mut candidates: Vec<Candidate> = Vec::new();
    for f in files {
        let Some(name) = f.path.file_name().map(str::to_owned) else { continue };
        if !super::is_abf(&name) {
            continue;
        }
        // A manifest that does not read leaves the backup unverified; the storage failing is an error, not "no
        // manifest" (which would show every backup unverified, or pass the newest by).
        let manifest = match read_manifest(store.as_ref(), &f.path).await {
            Ok(m) => m,
            Err(Error::ManifestUnreadable { .. }) => None,
            Err(e) => return Err(e),
        };
        let from_manifest = manifest.as_ref().and_then(|m| {
            (m.dataset.name == dataset).then(|| {
                time::OffsetDateTime::parse(
                    &m.created,
                    &time::format_description::well_known::Rfc3339,
                )
                .ok()
            })?
        });
        let time = from_manifest
            .or_else(|| time_from_file_name(&name).filter(|(d, _)| d == dataset).map(|(_, t)| t));
        if let Some(time) = time {
            let state = crate::manifest::state(manifest.as_ref(), &f);
            let drilled = manifest.as_ref().is_some_and(|m| m.drill_passed == Some(true));
            candidates.push(Candidate { time, drilled, path: f.path, state });
        }
    }
    newest_first(&mut candidates);
    let mut skipped = Vec::new();
    for Candidate { path, state, .. } in candidates {
        let name = path.file_name().unwrap_or_default().to_owned();
        // Verified by its version; else (changed since, or a manifest from before versions were recorded) hashed
        // now, and taken when it matches.
        if state == VerifiedState::Verified
            || super::verified_now(session, store.as_ref(), &path).await?
        {
            return Ok((name, skipped));
        }
        skipped.push(format!(
            "--latest skipped {name}: it does not match a manifest now (none beside it, or other bytes)"
        ));
    }
    let not_found = Error::NotFound {
        what: "verified backup of dataset",
        name: format!("{dataset} in {workspace}"),
        nearest: Vec::new(),
    };
    Err(if skipped.is_empty() {
        not_found
    } else {
        Error::Usage(format!("{not_found}; {}", skipped.join("; ")))
    })
}

/// What a restore will do, decided and checked before anything changes: which file, copied from where, checked how,
/// restored as what, and every rule's verdict. [`plan_restore`] makes it; [`execute`] carries it out; `--dry-run`
/// prints it.
#[derive(Debug)]
pub struct RestorePlan {
    endpoint: Endpoint,
    workspace: String,
    file: String,
    /// A copy into the target folder to make first: (from, to).
    copy: Option<(StorePath, StorePath)>,
    copy_from: Option<String>,
    manifest: Option<Manifest>,
    manifest_check: ManifestCheck,
    sha256: Option<String>,
    database: Option<String>,
    replaces_existing: Option<bool>,
    findings: Vec<Finding>,
    warnings: Vec<String>,
    command: Command,
}

impl RestorePlan {
    /// The request the restore sends (its password masked by [`Request::to_xml_masked`]).
    pub fn request(&self) -> Request {
        Request::execute(self.command.clone())
    }

    /// The plan as `--dry-run` reports it.
    pub fn output(&self) -> RestorePlanOutput {
        RestorePlanOutput {
            workspace: self.workspace.clone(),
            file: self.file.clone(),
            database: self.database.clone(),
            replaces_existing: self.replaces_existing,
            copy_from: self.copy_from.clone(),
            manifest_check: self.manifest_check,
            sha256: self.sha256.clone(),
            findings: self.findings.clone(),
            warnings: self.warnings.clone(),
        }
    }
}

/// Where a restore goes: the endpoint, the target's name, and whether it is Power BI (whose backups live in
/// `power-bi-backup/<workspace>`; an Analysis Services server or msmdpump endpoint has no folder there).
fn target(options: &RestoreOptions) -> Result<(Endpoint, String, bool)> {
    match (&options.server, &options.workspace) {
        (Some(e @ Endpoint::PowerBi { workspace, .. }), _) => {
            Ok((e.clone(), workspace.clone(), true))
        }
        (Some(e), _) => Ok((e.clone(), e.to_string(), false)),
        (None, Some(w)) => Ok((Endpoint::workspace(w), w.clone(), true)),
        (None, None) => Err(Error::Usage("name the target with --workspace or --server".into())),
    }
}

/// Plans a restore: finds the file, checks it against its manifest and its container's structure, evaluates every
/// rule, and writes the command. Reads only: nothing is copied or sent.
pub async fn plan_restore(session: &Context, options: &RestoreOptions) -> Outcome<RestorePlan> {
    let (endpoint, workspace, power_bi) = target(options)?;
    if !power_bi && (options.ignore_incompatibilities || options.force_restore) {
        return Err(Error::Usage(format!(
            "--ignore-incompatibilities and --force-restore are Power BI options; {endpoint} (Azure Analysis Services or msmdpump) does not take them: drop them"
        )).into());
    }
    let source_ws = options.from_workspace.clone().unwrap_or_else(|| workspace.clone());
    let mut skipped_latest = Vec::new();
    let file = match (&options.file, &options.latest) {
        (Some(f), None) => f.clone(),
        (None, Some(dataset)) => {
            let (file, skipped) = latest_file(session, &source_ws, dataset).await?;
            skipped_latest = skipped;
            file
        }
        (Some(_), Some(_)) => {
            return Err(Error::Usage("give --file or --latest, not both".into()).into());
        }
        (None, None) => {
            return Err(Error::Usage(
                "name the backup with --file NAME or --latest DATASET".into(),
            )
            .into());
        }
    };
    if !super::is_abf(&file) {
        return Err(Error::Usage(format!(
            "'{file}' is not an .abf backup file; name one that ends in .abf"
        ))
        .into());
    }
    let mut plan = RestorePlan {
        endpoint,
        workspace,
        file,
        copy: None,
        copy_from: None,
        manifest: None,
        manifest_check: ManifestCheck::SkippedNotPowerBi,
        sha256: None,
        database: options.as_name.clone(),
        replaces_existing: None,
        findings: Vec::new(),
        warnings: skipped_latest,
        command: options.command("", None, power_bi),
    };
    if power_bi {
        let checked = plan_copy(session, options, &mut plan).await?;
        check_manifest(session, options, &mut plan, &checked).await?;
        check_backup_file(session, options, &mut plan, &checked).await?;
    }
    plan.command = options.command(&plan.file, plan.database.clone(), power_bi);
    if power_bi && !options.skip_preflight {
        check_workspace_rules(session, options, &mut plan).await?;
    }
    Ok(plan)
}

/// The workspace rules of a restore. Those that hold whether or not the model exists run first, from the REST API
/// alone, so that a rule that blocks does so before anything reaches the XMLA endpoint; then the catalog says
/// whether the restore replaces a model or makes a new one, and the rules of a new model (LATER-05, LATER-07) run.
async fn check_workspace_rules(
    session: &Context,
    options: &RestoreOptions,
    plan: &mut RestorePlan,
) -> Outcome<()> {
    let (mut facts, tenant) = gather_facts(session, &plan.workspace).await?;
    facts.restore_model_bytes = plan.manifest.as_ref().and_then(|m| m.model_size_bytes);
    let over = verdict(evaluate(Operation::Restore, &facts, &tenant), "restore")?;
    let client = session.xmla(plan.endpoint.clone())?;
    let exists = match &plan.database {
        Some(d) => client.databases().await?.iter().any(|c| &c.name == d),
        None => false,
    };
    plan.replaces_existing = Some(exists);
    // The service refuses a restore over a model without AllowOverwrite: the plan says so before anything is sent,
    // so that a dry run shows what the restore would do.
    if exists && !options.allow_overwrite {
        return Err(Error::Usage(format!(
            "a model named '{}' exists in '{}'; restore with --allow-overwrite to replace it, or --as NAME for a new model; nothing was sent",
            plan.database.as_deref().unwrap_or_default(),
            plan.workspace
        ))
        .into());
    }
    let warnings = if exists {
        over
    } else {
        verdict(evaluate(Operation::RestoreAsNew, &facts, &tenant), "restore")?
    };
    plan.warnings.extend(warnings);
    Ok(())
}

/// With `--from-workspace`: the copy to make (after the preflight of SEED-09), or the copy an earlier restore made.
/// Returns the path whose bytes the checks read: the source when a copy is still to be made, else the target's.
async fn plan_copy(
    session: &Context,
    options: &RestoreOptions,
    plan: &mut RestorePlan,
) -> Outcome<StorePath> {
    let target = backup_path(&plan.workspace, &plan.file)?;
    let Some(src) = options.from_workspace.as_ref().filter(|s| **s != plan.workspace) else {
        return Ok(target);
    };
    if !options.skip_preflight {
        plan.warnings
            .extend(require(session, &plan.workspace, Operation::CopyInto, "copy").await??);
    }
    // Each folder is in its workspace's own storage account (the service reads the target's).
    let source = session.workspace_store(src).await?;
    let store = session.workspace_store(&plan.workspace).await?;
    let from = backup_path(src, &plan.file)?;
    plan.copy_from = Some(from.to_string());
    if !adls_store::StoreExt::exists(store.as_ref(), &target).await? {
        plan.copy = Some((from.clone(), target));
        return Ok(from);
    }
    // An earlier restore copied it already: use that copy when it is the same backup (its hash is checked against
    // its manifest), never replace it.
    let same = match (
        read_manifest(source.as_ref(), &from).await?,
        read_manifest(store.as_ref(), &target).await?,
    ) {
        (Some(a), Some(b)) => a.sha256 == b.sha256 && a.size == b.size,
        // A copy without its manifest: an earlier restore stopped between the two. Its bytes decide; when they are
        // the source's, the manifest it lacks is written.
        (Some(a), None) => {
            let hashed = hash_file(store.as_ref(), &target, None, session.progress()).await?;
            let same = hashed.matches(&a);
            if same {
                put_manifest(store.as_ref(), &hashed, Some(a), "copy").await?;
            }
            same
        }
        _ => false,
    };
    if !same {
        return Err(Error::Usage(format!(
            "{target} exists and is not known to be the same backup as {from}; restore it as it is with --workspace '{}' --file '{}' (without --from-workspace), or delete it first",
            plan.workspace, plan.file
        )).into());
    }
    plan.warnings.push(format!("{target} was copied from {from} before; that copy was used"));
    Ok(target)
}

/// The file against its manifest: hashed now, or (when a copy is to be made) as the copy is read back.
async fn check_manifest(
    session: &Context,
    options: &RestoreOptions,
    plan: &mut RestorePlan,
    path: &StorePath,
) -> Result<()> {
    let store = session.workspace_store(path.workspace()).await?;
    plan.manifest = read_manifest(store.as_ref(), path).await?;
    match &plan.manifest {
        // The copy is read back and hashed against the manifest's hash: the file is not hashed twice.
        Some(_) if plan.copy.is_some() => plan.manifest_check = ManifestCheck::AtCopy,
        Some(m) => {
            let hashed = hash_file(store.as_ref(), path, None, session.progress()).await.map_err(
                |e| match e {
                    Error::Storage(adls_store::Error::NotFound { .. }) => Error::NotFound {
                        what: "backup file",
                        name: path.to_string(),
                        nearest: Vec::new(),
                    },
                    other => other,
                },
            )?;
            let (size, sha) = (hashed.size, hashed.sha256.clone());
            if !hashed.matches(m) {
                return Err(Error::Integrity(format!(
                    "{path} does not match its manifest (size {size} vs {}, sha256 {sha} vs {}); nothing was sent",
                    m.size, m.sha256
                )));
            }
            plan.manifest_check = ManifestCheck::Verified;
            plan.sha256 = Some(sha);
        }
        None if options.allow_unverified => {
            plan.manifest_check = ManifestCheck::SkippedNoManifest;
            plan.warnings.push(format!("{path} has no manifest; it was not verified"));
        }
        None if adls_store::StoreExt::exists(store.as_ref(), path).await? => {
            return Err(Error::Integrity(format!(
                "{path} has no manifest ({}{MANIFEST_SUFFIX} is not beside it), so it cannot be verified before the restore; pass --allow-unverified to restore it anyway",
                path.file_name().unwrap_or_default()
            )));
        }
        None => return Err(super::missing_file(session, path).await),
    }
    if plan.database.is_none() {
        plan.database = plan.manifest.as_ref().map(|m| m.dataset.name.clone());
    }
    Ok(())
}

/// The container's structure and metadata (headers, directory, log, catalog; not the data files), read through
/// ranged reads: a damaged file is refused before anything is sent, and the backup-file rules are evaluated.
async fn check_backup_file(
    session: &Context,
    options: &RestoreOptions,
    plan: &mut RestorePlan,
    path: &StorePath,
) -> Outcome<()> {
    let report =
        super::files::inspect_path(session, path, abf_format::InspectOptions::default()).await?;
    if !report.valid && !report.encrypted {
        let problems: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
        return Err(Error::Integrity(format!(
            "{} is not a whole .abf backup ({}); nothing was sent",
            plan.file,
            problems.join("; ")
        ))
        .into());
    }
    let ctx = BackupFileContext {
        workspace: &plan.workspace,
        file: &plan.file,
        ignore_incompatibilities: options.ignore_incompatibilities,
    };
    let (findings, notes) =
        backup_file_findings(ctx, &report, session.settings.profile, &session.settings.raise);
    if !options.skip_preflight && findings.iter().any(Finding::blocks) {
        let blocking = findings.into_iter().filter(Finding::blocks).collect();
        return Err(Blocked { what: "restore".into(), findings: blocking }.into());
    }
    plan.warnings.extend(notes);
    plan.warnings
        .extend(findings.iter().map(|f| format!("{}: {}; {}", f.rule, f.message, f.remedy)));
    plan.findings.extend(findings);
    if plan.database.is_none() {
        // No manifest and no --as: the name the backup holds (for the report, and for the preflight to know
        // whether a model of that name exists).
        plan.database = report.database.name;
    }
    Ok(())
}

/// Carries out a plan: the copy (read back and checked against the manifest), the restore, then the comparison of
/// the restored tables with the manifest.
pub async fn execute(session: &Context, plan: RestorePlan) -> Result<RestoreOutput> {
    let RestorePlan {
        endpoint,
        workspace,
        file,
        copy,
        copy_from,
        manifest,
        mut manifest_check,
        mut sha256,
        database,
        mut warnings,
        command,
        ..
    } = plan;
    // Whether the copy makes the target's folder: then a refusal takes the folder back too, as an empty folder says
    // the service made it at attach time (SEED-12). Not known: taken as there, and left.
    let mut folder_made = false;
    if let Some((from, to)) = &copy {
        let source = session.workspace_store(from.workspace()).await?;
        let target = session.workspace_store(to.workspace()).await?;
        folder_made = !target.folder_exists(&to.folder_path()).await.unwrap_or(true);
        let copied =
            copy_verified(session, (source.as_ref(), from), (target.as_ref(), to), false).await?;
        warnings.extend(copied.warnings);
        if manifest.is_some() {
            manifest_check = ManifestCheck::Verified;
        }
        sha256 = Some(copied.sha256);
    }
    let (security, dropping) = match &command {
        Command::Restore(r, _) => (r.security, r.ignore_incompatibilities),
        _ => (None, false),
    };
    let client = session.xmla(endpoint)?;
    let budget = session.settings.file.backup.load_wait();
    let sent = super::execute_patiently(&client, command, None, budget, &mut warnings).await;
    let mut removal = None;
    let sent = match (sent, &copy) {
        // A refused restore leaves no copy behind: it would make the folder look like a backup folder (SEED-12)
        // and hold a file nobody asked to keep. An outcome not known leaves it: the server may still be reading it.
        (Err(e @ (Error::Server { .. } | Error::Refused { .. })), Some((_, to))) => {
            let store = session.workspace_store(to.workspace()).await?;
            let mut removed = super::files::delete_backup(store.as_ref(), to).await;
            if removed.is_ok() && folder_made {
                // Only if still empty: whatever else arrived there meanwhile stays.
                removed = match store.remove_empty_folder(&to.folder_path()).await {
                    Ok(_) | Err(adls_store::Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(e.into()),
                };
            }
            removal = Some(match removed {
                Ok(()) => format!("the copy made for it, {to}, was removed"),
                Err(r) => {
                    format!("the copy made for it, {to}, could not be removed ({r}): delete it")
                }
            });
            Err(e)
        }
        (other, _) => other,
    };
    // A refusal after preflight warnings carries them: they may be its reason (LATER-26, say).
    let server_warnings = sent.map_err(|e| {
        let mut notes: Vec<String> = removal.into_iter().collect();
        if !warnings.is_empty() {
            notes.push(format!("preflight had warned: {}", warnings.join(" | ")));
        }
        match e {
            Error::Server { what, failure } if !notes.is_empty() => {
                Error::Server { what: format!("{what} ({})", notes.join("; ")), failure }
            }
            e if !notes.is_empty() => e.saying(&notes.join("; ")),
            e => e,
        }
    })?;
    warnings.extend(server_warnings.iter().map(|w| w.to_string()));
    let mut out = RestoreOutput {
        workspace,
        file,
        database: database.unwrap_or_default(),
        copied_from: copy_from,
        manifest_check,
        sha256,
        missing_tables: Vec::new(),
        extra_tables: Vec::new(),
        tables_compared: false,
        role_differences: Vec::new(),
        roles_compared: false,
        row_count_differences: Vec::new(),
        row_counts_compared: false,
        comparison_unknown: false,
        warnings,
    };
    if let Some(m) = &manifest {
        compare(&client, m, (security, dropping), &mut out).await;
    }
    Ok(out)
}

/// Compares the restored model with what the manifest recorded: its tables, roles and row counts.
async fn compare(
    client: &crate::service::xmla::XmlaClient,
    m: &crate::manifest::Manifest,
    security: (Option<Security>, bool),
    out: &mut RestoreOutput,
) {
    let database = out.database.clone();
    if database.is_empty() {
        return;
    }
    compare_tables(client, m, &database, out).await;
    compare_roles(client, m, &database, security, out).await;
    compare_row_counts(client, m, &database, out).await;
}

/// A comparison that could not be made after a restore that is done: its outcome is unknown, not a failure.
fn unknown_after_restore(out: &mut RestoreOutput, what: &str, e: &Error) {
    out.comparison_unknown = true;
    out.warnings.push(format!(
        "the restore is done, but {what} ({e}), so whether they match the backup is unknown"
    ));
}

/// Compares the restored tables with the manifest's. The restore is done: a listing that fails now is said, not
/// taken for the restore failing.
async fn compare_tables(
    client: &crate::service::xmla::XmlaClient,
    m: &crate::manifest::Manifest,
    database: &str,
    out: &mut RestoreOutput,
) {
    if m.tables_unknown {
        out.warnings.push(
            "the tables were not compared: they could not be listed when the backup was made"
                .into(),
        );
        return;
    }
    if m.tables.is_empty() {
        return;
    }
    match client.tables(database).await {
        Ok(now) => {
            out.missing_tables = m.tables.iter().filter(|t| !now.contains(t)).cloned().collect();
            out.extra_tables = now.iter().filter(|t| !m.tables.contains(t)).cloned().collect();
            out.tables_compared = true;
        }
        Err(e) => unknown_after_restore(out, "the restored tables could not be listed", &e),
    }
}

/// Compares the restored tables' row counts with the ones the manifest recorded. A table the restored model lacks is
/// already said by the table comparison, and one with no count (no storage) is not compared. The restore is done: a
/// read that fails now is said, not taken for the restore failing.
async fn compare_row_counts(
    client: &crate::service::xmla::XmlaClient,
    manifest: &crate::manifest::Manifest,
    database: &str,
    out: &mut RestoreOutput,
) {
    let Some(recorded) = &manifest.row_counts else { return };
    let now = match client.row_counts(database).await {
        Ok(now) => now,
        Err(e) => {
            return unknown_after_restore(out, "the restored row counts could not be read", &e);
        }
    };
    for (table, rows) in recorded {
        if let Some(n) = now.get(table)
            && n != rows
        {
            out.row_count_differences
                .push(format!("table '{table}' has {n} rows after the restore; {rows} at backup"));
        }
    }
    out.row_counts_compared = true;
}

/// Compares the restored roles with the manifest's, as the restore's security leaves them (`SkipMembership`, the
/// engine's default, when none was sent). With `ignoreIncompatibilities` the service drops the roles Power BI does
/// not support (LATER-09), so a missing role is said, not counted as a difference. The restore is done: a listing
/// that fails now is said, not taken for the restore failing.
async fn compare_roles(
    client: &crate::service::xmla::XmlaClient,
    manifest: &crate::manifest::Manifest,
    database: &str,
    (security, dropping): (Option<Security>, bool),
    out: &mut RestoreOutput,
) {
    let Some(recorded) = &manifest.roles else {
        out.warnings.push(
            "the roles were not compared: the manifest does not record them (made before they were recorded, or they could not be listed then)".into(),
        );
        return;
    };
    let now = match client.roles(database).await {
        Ok(now) => now,
        Err(e) => return unknown_after_restore(out, "the restored roles could not be listed", &e),
    };
    let security = security.unwrap_or(Security::SkipMembership);
    for role in recorded {
        let expected = match security {
            Security::CopyAll => role.members,
            Security::SkipMembership => 0,
            Security::IgnoreSecurity => continue,
        };
        match now.iter().find(|r| r.name == role.name) {
            None if dropping => out.warnings.push(format!(
                "role '{}' is not in the restored model: --ignore-incompatibilities dropped it",
                role.name
            )),
            None => out.role_differences.push(format!(
                "role '{}' ({} members at backup) is missing after the restore",
                role.name, role.members
            )),
            Some(r) if r.members != expected => out.role_differences.push(format!(
                "role '{}' has {} members after the restore; {expected} expected ({} at backup, restored with {security})",
                role.name, r.members, role.members
            )),
            Some(_) => {}
        }
    }
    for r in now.iter().filter(|r| {
        security == Security::IgnoreSecurity || !recorded.iter().any(|m| m.name == r.name)
    }) {
        out.role_differences
            .push(format!("role '{}' is in the restored model but not in the backup", r.name));
    }
    out.roles_compared = true;
}

/// Plans and executes a restore.
pub async fn restore(session: &Context, options: &RestoreOptions) -> Outcome<RestoreOutput> {
    let plan = plan_restore(session, options).await?;
    Ok(execute(session, plan).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(file: &str, minute: u8, drilled: bool) -> Candidate {
        Candidate {
            time: time::macros::datetime!(2026-12-08 02:00 UTC)
                + time::Duration::minutes(i64::from(minute)),
            drilled,
            path: StorePath::file("power-bi-backup", "Sales", file).unwrap(),
            state: VerifiedState::Verified,
        }
    }

    #[test]
    fn latest_takes_the_newest_and_a_drilled_one_among_equally_new() {
        let mut c = vec![
            candidate("a.abf", 1, false),
            candidate("b.abf", 1, true),
            candidate("c.abf", 0, true),
            candidate("d.abf", 2, false),
        ];
        newest_first(&mut c);
        let order: Vec<&str> = c.iter().map(|c| c.path.file_name().unwrap()).collect();
        // Newer always wins; a drilled backup wins only against one made at the same time.
        assert_eq!(order, ["d.abf", "b.abf", "a.abf", "c.abf"]);
    }
}
