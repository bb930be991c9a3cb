//! `restore --all`: a whole workspace back, every dataset whose backups its folder holds restored from its newest
//! verified backup, each checked as a single restore is, in one report. The datasets are read from the backups (their
//! manifests), not from the service: a workspace lost with its models still has its folder.
//!
//! Every restore lands on the target workspace's capacity, so they run `backup.per-capacity` at once
//! ([`at_once`]), and each waits out the capacity's refusals for load as a single restore does (within
//! `backup.load-wait-minutes`). The window does not grow as a bulk backup's does: a restore refused for load is sent
//! again by its own wait, so the client would never see the capacity's limit to learn it.

use futures::StreamExt;

use crate::error::Error;
use crate::ops::output::{ErrorInfo, RestoreAllOutput, RestoreAllResult, RestorePlanOutput};
use crate::ops::{Context, Outcome, RestoreOptions};

/// The datasets with a verified backup in `source`'s folder, by name.
async fn datasets(session: &Context, source: &str) -> Outcome<Vec<String>> {
    let listed = super::files::list(session, source).await?;
    let mut names: Vec<String> =
        listed.backups.iter().filter(|b| b.verified).filter_map(|b| b.dataset.clone()).collect();
    names.sort();
    names.dedup();
    if names.is_empty() {
        return Err(Error::Usage(format!(
            "the folder of '{source}' holds no verified backup, so --all has nothing to restore; see `pbi-backup list -w '{source}'`"
        ))
        .into());
    }
    Ok(names)
}

/// `base` for each dataset of `source` (its `--from-workspace`, else the target itself): `latest` set to it.
fn each(base: &RestoreOptions, dataset: &str) -> RestoreOptions {
    RestoreOptions { file: None, latest: Some(dataset.to_owned()), as_name: None, ..base.clone() }
}

fn source(base: &RestoreOptions) -> Outcome<String> {
    base.from_workspace.clone().or_else(|| base.workspace.clone()).ok_or_else(|| {
        Error::Usage(
            "--all restores into a --workspace, from its own folder or --from-workspace".into(),
        )
        .into()
    })
}

/// Restores every dataset; see the module.
pub async fn restore_all(session: &Context, base: &RestoreOptions) -> Outcome<RestoreAllOutput> {
    let source = source(base)?;
    let results: Vec<RestoreAllResult> = futures::stream::iter(datasets(session, &source).await?)
        .map(|dataset| async move {
            match super::restore(session, &each(base, &dataset)).await {
                Ok(out) => RestoreAllResult { dataset, restore: Some(out), error: None },
                Err(f) => {
                    RestoreAllResult { dataset, restore: None, error: Some(ErrorInfo::from(&f)) }
                }
            }
        })
        .buffered(at_once(session))
        .collect()
        .await;
    let restored = results.iter().filter(|r| r.ok()).count();
    Ok(RestoreAllOutput { failed: results.len() - restored, restored, results })
}

/// How many restores (or drills) of one workspace run at once: they all land on its capacity, which is taken to
/// run `backup.per-capacity` at once, as a bulk backup's window starts.
pub(crate) fn at_once(session: &Context) -> usize {
    session.settings.file.backup.per_capacity.max(1)
}

/// The plans of [`restore_all`], nothing sent.
pub async fn plan_restore_all(
    session: &Context,
    base: &RestoreOptions,
) -> Outcome<Vec<RestorePlanOutput>> {
    let source = source(base)?;
    let mut plans = Vec::new();
    for dataset in datasets(session, &source).await? {
        plans.push(super::plan_restore(session, &each(base, &dataset)).await?.output());
    }
    Ok(plans)
}
