//! `restore --all`: a whole workspace back, every dataset whose backups its folder holds restored from its newest
//! verified backup, one after the other, each checked as a single restore is, in one report. The datasets are read
//! from the backups (their manifests), not from the service: a workspace lost with its models still has its folder.

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
    let mut results = Vec::new();
    for dataset in datasets(session, &source).await? {
        let outcome = super::restore(session, &each(base, &dataset)).await;
        results.push(match outcome {
            Ok(out) => RestoreAllResult { dataset, restore: Some(out), error: None },
            Err(f) => RestoreAllResult { dataset, restore: None, error: Some(ErrorInfo::from(&f)) },
        });
    }
    let restored = results.iter().filter(|r| r.ok()).count();
    Ok(RestoreAllOutput { failed: results.len() - restored, restored, results })
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
