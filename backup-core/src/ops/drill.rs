//! `drill`: proves a backup restorable. Each dataset's newest verified backup is restored into a target workspace
//! under a scratch name, the restored model compared with the backup's manifest (tables, roles and row counts, as
//! every restore compares them), and the scratch model deleted again (REST "Datasets - Delete Dataset In Group"), also when the
//! comparison failed.
//!
//! The drills into one workspace hold its drill lock ([`take_drill_lock`]) while they run, so a drill that finds a
//! scratch model there knows it is a killed drill's and deletes it before it starts. The datasets are drilled
//! `backup.per-capacity` at once: every scratch model lands on the target's capacity, as a `restore --all` does.

use std::time::Instant;

use futures::StreamExt;

use super::restore_all::at_once;
use super::run_lock::take_drill_lock;
use crate::error::Result;
use crate::ops::output::{DrillOutput, DrillResult, ErrorInfo};
use crate::ops::{Context, Outcome, RestoreOptions};

/// What to drill.
#[derive(Debug, Clone, Default)]
pub struct DrillOptions {
    /// The workspace whose backups are drilled.
    pub workspace: String,
    /// One dataset, or every dataset of the workspace when `None`.
    pub dataset: Option<String>,
    /// The workspace the scratch models are restored into.
    pub target: String,
}

/// The scratch models' names: `<dataset> (drill <UTC time>)`.
const SCRATCH: &str = " (drill ";

/// Drills each dataset; see the module.
pub async fn drill(session: &Context, options: &DrillOptions) -> Outcome<DrillOutput> {
    let api = session.api()?;
    let source = api.group_by_name(&options.workspace).await?;
    let datasets: Vec<String> = match &options.dataset {
        Some(d) => vec![d.clone()],
        None => api.datasets(&source.id).await?.into_iter().map(|d| d.name).collect(),
    };
    let results = drill_datasets(session, &options.workspace, &datasets, &options.target).await?;
    let restorable = results.iter().filter(|r| r.restorable).count();
    Ok(DrillOutput { failed: results.len() - restorable, restorable, results })
}

/// Drills `datasets` of `workspace` into the workspace `target`, under its drill lock, once the scratch models killed
/// drills left there are deleted. `drill` and a policy's drills (`run`) both come here.
pub(crate) async fn drill_datasets(
    session: &Context,
    workspace: &str,
    datasets: &[String],
    target: &str,
) -> Result<Vec<DrillResult>> {
    let target_id = session.api()?.group_by_name(target).await?.id;
    let lock = take_drill_lock(session.workspace_store(target).await?, target).await?;
    remove_left_scratch(session, &target_id).await;
    let options =
        DrillOptions { workspace: workspace.to_owned(), dataset: None, target: target.to_owned() };
    let results = futures::stream::iter(datasets)
        .map(|dataset| drill_one(session, &options, &target_id, dataset))
        .buffered(at_once(session))
        .collect()
        .await;
    lock.release().await;
    Ok(results)
}

async fn drill_one(
    session: &Context,
    options: &DrillOptions,
    target_id: &str,
    dataset: &str,
) -> DrillResult {
    let started = Instant::now();
    let now = time::OffsetDateTime::now_utc();
    let scratch = format!("{dataset}{SCRATCH}{})", crate::layout::rfc3339(now));
    let restore = RestoreOptions {
        workspace: Some(options.target.clone()),
        latest: Some(dataset.to_owned()),
        from_workspace: Some(options.workspace.clone()),
        as_name: Some(scratch.clone()),
        ..Default::default()
    };
    let outcome = super::restore(session, &restore).await;
    // The scratch model goes whatever the restore said: it may exist even when the restore reported a failure.
    let removed = remove_scratch(session, target_id, &scratch).await;
    let mut result = DrillResult {
        workspace: options.workspace.clone(),
        dataset: dataset.to_owned(),
        file: None,
        restorable: false,
        tables_compared: false,
        tables_differing: Vec::new(),
        roles_differing: Vec::new(),
        row_counts_differing: Vec::new(),
        drilled_at: crate::layout::rfc3339(now),
        scratch_removed: removed.is_ok(),
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        error: None,
    };
    match outcome {
        Ok(out) => {
            result.file = Some(out.file.clone());
            result.tables_compared = out.tables_compared;
            result.tables_differing = out
                .missing_tables
                .iter()
                .map(|t| format!("missing: {t}"))
                .chain(out.extra_tables.iter().map(|t| format!("extra: {t}")))
                .collect();
            result.roles_differing = out.role_differences.clone();
            result.row_counts_differing = out.row_count_differences.clone();
            result.restorable = out.tables_compared
                && !out.comparison_unknown
                && result.tables_differing.is_empty()
                && result.roles_differing.is_empty()
                && result.row_counts_differing.is_empty();
        }
        Err(failure) => result.error = Some(ErrorInfo::from(&failure)),
    }
    if let Some(file) = &result.file
        && let Err(e) = record(session, &options.workspace, file, result.restorable, now).await
    {
        tracing::warn!(file, error = %e, "the drill's result could not be written into the backup's manifest");
    }
    if let Err(e) = removed {
        tracing::warn!(model = scratch, error = %e, "the drill's scratch model could not be deleted");
        if result.error.is_none() {
            result.error = Some(ErrorInfo::from(&e.saying(&format!(
                "the scratch model '{scratch}' is left in '{}'; the next drill there deletes it",
                options.target
            ))));
        }
    }
    result
}

/// Writes the drill's result into the manifest of the backup in `workspace`'s folder (`drilled_at`, `drill_passed`).
async fn record(
    session: &Context,
    workspace: &str,
    file: &str,
    passed: bool,
    at: time::OffsetDateTime,
) -> Result<()> {
    let store = session.workspace_store(workspace).await?;
    let path = crate::layout::backup_path(workspace, file)?;
    let Some(mut manifest) = crate::manifest::read_manifest(store.as_ref(), &path).await? else {
        return Ok(());
    };
    manifest.drilled_at = Some(crate::layout::rfc3339(at));
    manifest.drill_passed = Some(passed);
    crate::manifest::write_manifest(store.as_ref(), &path, &manifest).await?;
    Ok(())
}

/// Deletes the model named `name` in the workspace `target_id`; a model that is not there is nothing to delete.
async fn remove_scratch(session: &Context, target_id: &str, name: &str) -> Result<()> {
    let api = session.api()?;
    for d in api.datasets(target_id).await?.into_iter().filter(|d| d.name == name) {
        api.delete_dataset(target_id, &d.id).await?;
    }
    Ok(())
}

/// Deletes the scratch models killed drills left in `target_id`: with the drill lock held, every model named as a
/// drill names them (the dataset, ` (drill `, an RFC 3339 time and `)`) is one.
async fn remove_left_scratch(session: &Context, target_id: &str) {
    let Ok(api) = session.api() else { return };
    let Ok(datasets) = api.datasets(target_id).await else { return };
    for d in datasets.into_iter().filter(|d| is_scratch(&d.name)) {
        match api.delete_dataset(target_id, &d.id).await {
            Ok(()) => tracing::info!(model = d.name, "deleted a scratch model a killed drill left"),
            Err(e) => {
                tracing::warn!(model = d.name, error = %e, "a scratch model a killed drill left could not be deleted")
            }
        }
    }
}

/// Whether `name` is a scratch model's: `<dataset> (drill <RFC 3339 time>)`.
fn is_scratch(name: &str) -> bool {
    name.rsplit_once(SCRATCH).and_then(|(_, rest)| rest.strip_suffix(')')).is_some_and(|stamp| {
        time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339).is_ok()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_names_a_drill_gives_are_scratch() {
        assert!(super::is_scratch("Budget (drill 2026-12-05T04:00:00Z)"));
        assert!(super::is_scratch("A (drill 1) (drill 2026-12-05T04:00:00Z)"));
        for other in [
            "Budget",
            "Budget (drill)",
            "Budget (drill yesterday)",
            "Budget (drill 2026-12-05T04:00:00Z",
        ] {
            assert!(!super::is_scratch(other), "{other}");
        }
    }
}
