//! `list --all-workspaces`: one line per dataset of every workspace the caller sees, with its newest verified
//! backup, its age, size, how many backups its folder holds and its last drill; with an age limit, which datasets
//! have no verified backup that recent (for a monitor to call).

use std::collections::BTreeMap;

use crate::error::Result;
use crate::ops::Context;
use crate::ops::output::{DatasetOverview, OverviewOutput};

/// Every dataset of every workspace; `older_than` marks those whose newest verified backup is older (or missing).
pub async fn overview(
    session: &Context,
    older_than: Option<time::Duration>,
) -> Result<OverviewOutput> {
    let api = session.api()?;
    let now = time::OffsetDateTime::now_utc();
    let mut datasets = Vec::new();
    let mut errors = Vec::new();
    for group in session.groups().await? {
        let live = match api.datasets(&group.id).await {
            Ok(d) => d,
            Err(e) => {
                errors.push(format!("{}: {e}", group.name));
                continue;
            }
        };
        let listed = match super::files::list(session, &group.name).await {
            Ok(l) => l.backups,
            Err(e) => {
                errors.push(format!("{}: {e}", group.name));
                continue;
            }
        };
        let mut by_dataset: BTreeMap<String, DatasetOverview> = BTreeMap::new();
        for d in &live {
            by_dataset.insert(d.name.clone(), DatasetOverview::new(&group.name, &d.name));
        }
        // Newest first: the first verified one of each dataset is its newest verified backup.
        for b in &listed {
            let Some(name) = &b.dataset else { continue };
            let entry = by_dataset
                .entry(name.clone())
                .or_insert_with(|| DatasetOverview::new(&group.name, name));
            entry.backups += 1;
            if b.verified && entry.newest_verified.is_none() {
                entry.newest_verified = Some(b.name.clone());
                entry.size = Some(b.size);
                entry.time = b.time.clone();
                entry.age_hours = b.time.as_deref().and_then(|t| {
                    let at = time::OffsetDateTime::parse(
                        t,
                        &time::format_description::well_known::Rfc3339,
                    )
                    .ok()?;
                    Some(((now - at).as_seconds_f64() / 3600.0 * 10.0).round() / 10.0)
                });
            }
            if entry.last_drill.is_none() && b.drilled_at.is_some() {
                entry.last_drill = b.drilled_at.clone();
                entry.drill_passed = b.drill_passed;
            }
        }
        datasets.extend(by_dataset.into_values());
    }
    if let Some(limit) = older_than {
        let hours = limit.as_seconds_f64() / 3600.0;
        for d in &mut datasets {
            d.stale = d.age_hours.is_none_or(|age| age > hours);
        }
    }
    let stale = datasets.iter().filter(|d| d.stale).count();
    Ok(OverviewOutput { datasets, stale, errors })
}

impl DatasetOverview {
    fn new(workspace: &str, dataset: &str) -> DatasetOverview {
        DatasetOverview {
            workspace: workspace.to_owned(),
            dataset: dataset.to_owned(),
            newest_verified: None,
            time: None,
            age_hours: None,
            size: None,
            backups: 0,
            last_drill: None,
            drill_passed: None,
            stale: false,
        }
    }
}
