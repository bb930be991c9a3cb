//! Which datasets a run need not back up again: one already backed up and verified in this period (a rerun after a
//! crash does only what is missing), and, with `--if-changed`, one whose model has not changed since its last
//! verified backup. Anything not known (no manifest, a file changed since it was verified, a model time the server
//! did not give) is backed up: a skip is decided only from a verified backup.

use adls_store::{ObjectMeta, Store};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{default_file_name, is_abf, read_manifest, time_from_file_name};
use crate::error::Result;
use crate::manifest::VerifiedState;

/// What makes a run skip a dataset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SkipRules {
    /// Skip a dataset whose newest verified backup was made at or after this time.
    pub done_since: Option<OffsetDateTime>,
    /// Skip a dataset whose model's modified time (`DATE_MODIFIED` of `DBSCHEMA_CATALOGS`) is the one its newest
    /// verified backup recorded and, on Power BI, whose refresh history shows no refresh since that backup.
    pub if_changed: bool,
}

impl SkipRules {
    /// Whether any rule can skip anything (then the folders are read before the run).
    pub fn active(&self) -> bool {
        self.done_since.is_some() || self.if_changed
    }
}

/// A dataset's newest verified backup, as its manifest tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastBackup {
    /// Its file name.
    pub file: String,
    /// When it was made.
    pub created: OffsetDateTime,
    /// The model's modified time it recorded, as the server wrote it.
    pub model_modified: Option<String>,
}

/// What the service's refresh history says of a model's data since its newest verified backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSince {
    /// Not asked (no skip for an unchanged model was in view).
    NotAsked,
    /// No refresh ended, and none runs, since the backup.
    Unrefreshed,
    /// A refresh ended after the backup (when), or one runs now.
    Refreshed(String),
    /// The history could not be read: the model is backed up.
    Unknown,
}

impl DataSince {
    /// From the newest entries of a refresh history, for a backup made at `since`: a refresh that completed after
    /// it, or one still running, is new data; a failed or disabled one changed nothing.
    pub fn from_history(
        history: &[crate::service::powerbi::Refresh],
        since: OffsetDateTime,
    ) -> DataSince {
        for r in history {
            let ended = r.end_time.as_deref().map(|t| OffsetDateTime::parse(t, &Rfc3339));
            match (r.status.as_str(), ended) {
                ("Unknown", _) | ("Completed", None) => {
                    return DataSince::Refreshed("a refresh is running".into());
                }
                ("Completed", Some(Ok(t))) if t > since => {
                    return DataSince::Refreshed(format!(
                        "refreshed {}",
                        t.format(&Rfc3339).unwrap_or_default()
                    ));
                }
                ("Completed", Some(Err(_))) => return DataSince::Unknown,
                _ => {}
            }
        }
        DataSince::Unrefreshed
    }
}

/// Whether the refresh history decides: `--if-changed` would skip the dataset by its modified time, and nothing
/// skips it before (its period is not done).
pub fn needs_history(
    rules: &SkipRules,
    last: Option<&LastBackup>,
    modified_now: Option<&str>,
) -> bool {
    let Some(last) = last else { return false };
    let period_done = rules.done_since.is_some_and(|since| last.created >= since);
    rules.if_changed
        && !period_done
        && modified_now.is_some()
        && modified_now == last.model_modified.as_deref()
}

/// Why `rules` skip a dataset whose newest verified backup is `last`, whose model the server now says was modified
/// at `modified_now`, and whose data `data` tells of; `None`: back it up.
pub fn skip_reason(
    rules: &SkipRules,
    last: Option<&LastBackup>,
    modified_now: Option<&str>,
    data: &DataSince,
) -> Option<String> {
    let last = last?;
    if let Some(since) = rules.done_since
        && last.created >= since
    {
        return Some(format!(
            "already backed up and verified in this period: {} ({})",
            last.file,
            last.created.format(&Rfc3339).unwrap_or_default()
        ));
    }
    match (rules.if_changed, modified_now, last.model_modified.as_deref(), data) {
        (true, Some(now), Some(then), DataSince::Unrefreshed) if now == then => Some(format!(
            "unchanged since its last verified backup {} (the model was last modified {now}; no refresh since)",
            last.file
        )),
        _ => None,
    }
}

/// The newest backup of `dataset` among a folder's `files` whose stored version is the one its manifest recorded as
/// verified. Only files named as pbi-backup names them (`<dataset>_<time>.abf`) are looked at, newest first, so a
/// run reads one manifest per dataset; a backup under another name is not seen, and the dataset is backed up.
pub async fn last_verified(
    store: &dyn Store,
    files: &[ObjectMeta],
    dataset: &str,
) -> Result<Option<LastBackup>> {
    let stem = safe_stem(dataset);
    let mut candidates: Vec<(OffsetDateTime, &ObjectMeta)> = files
        .iter()
        .filter_map(|f| {
            let name = f.path.file_name()?;
            if !is_abf(name) {
                return None;
            }
            let (d, t) = time_from_file_name(name)?;
            (d == stem).then_some((t, f))
        })
        .collect();
    candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
    for (_, f) in candidates {
        let Some(m) = read_manifest(store, &f.path).await.ok().flatten() else { continue };
        if m.dataset.name != dataset || m.state(f) != VerifiedState::Verified {
            continue;
        }
        let Ok(created) = OffsetDateTime::parse(&m.created, &Rfc3339) else { continue };
        return Ok(Some(LastBackup { file: m.file, created, model_modified: m.model_modified }));
    }
    Ok(None)
}

/// The dataset's part of a default file name (characters a file name cannot hold replaced).
fn safe_stem(dataset: &str) -> String {
    let name = default_file_name(dataset, OffsetDateTime::UNIX_EPOCH);
    name.rsplit_once('_').map(|(s, _)| s.to_owned()).unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last(created: &str, modified: Option<&str>) -> LastBackup {
        LastBackup {
            file: "Sales_20261203T010000Z.abf".into(),
            created: OffsetDateTime::parse(created, &Rfc3339).unwrap(),
            model_modified: modified.map(str::to_owned),
        }
    }

    #[test]
    fn a_backup_of_this_period_is_not_taken_again() {
        let since = OffsetDateTime::parse("2026-12-03T00:00:00Z", &Rfc3339).unwrap();
        let rules = SkipRules { done_since: Some(since), if_changed: false };
        let today = last("2026-12-03T01:00:00Z", None);
        let asked = DataSince::NotAsked;
        assert!(skip_reason(&rules, Some(&today), None, &asked).unwrap().contains("this period"));
        let yesterday = last("2026-12-02T23:59:59Z", None);
        assert_eq!(skip_reason(&rules, Some(&yesterday), None, &asked), None);
        assert_eq!(skip_reason(&rules, None, None, &asked), None);
    }

    #[test]
    fn only_a_model_known_unchanged_is_skipped() {
        let rules = SkipRules { done_since: None, if_changed: true };
        let b = last("2026-12-02T01:00:00Z", Some("2026-12-01T10:00:00"));
        let same = Some("2026-12-01T10:00:00");
        assert!(needs_history(&rules, Some(&b), same));
        let quiet = DataSince::Unrefreshed;
        assert!(skip_reason(&rules, Some(&b), same, &quiet).is_some());
        assert_eq!(skip_reason(&rules, Some(&b), Some("2026-12-02T10:00:00"), &quiet), None);
        // A refresh since, a history that could not be read or was not asked: backed up.
        for data in
            [DataSince::Refreshed("refreshed".into()), DataSince::Unknown, DataSince::NotAsked]
        {
            assert_eq!(skip_reason(&rules, Some(&b), same, &data), None, "{data:?}");
        }
        // Not told now, or not recorded then: backed up.
        assert_eq!(skip_reason(&rules, Some(&b), None, &quiet), None);
        let unrecorded = last("2026-12-02T01:00:00Z", None);
        assert_eq!(skip_reason(&rules, Some(&unrecorded), same, &quiet), None);
        assert!(!needs_history(&rules, Some(&unrecorded), same));
        // Without --if-changed an unchanged model is backed up.
        let off = SkipRules::default();
        assert_eq!(skip_reason(&off, Some(&b), same, &quiet), None);
        assert!(!needs_history(&off, Some(&b), same));
    }

    #[test]
    fn a_completed_refresh_after_the_backup_or_a_running_one_is_new_data() {
        use crate::service::powerbi::Refresh;
        let at = |status: &str, end: Option<&str>| Refresh {
            status: status.into(),
            start_time: None,
            end_time: end.map(str::to_owned),
        };
        let backup = OffsetDateTime::parse("2026-12-02T01:00:00Z", &Rfc3339).unwrap();
        let verdict = |h: &[Refresh]| DataSince::from_history(h, backup);
        assert_eq!(verdict(&[]), DataSince::Unrefreshed);
        assert_eq!(
            verdict(&[at("Completed", Some("2026-12-01T23:00:00Z"))]),
            DataSince::Unrefreshed
        );
        assert!(matches!(
            verdict(&[at("Completed", Some("2026-12-02T02:00:00Z"))]),
            DataSince::Refreshed(_)
        ));
        assert!(matches!(verdict(&[at("Unknown", None)]), DataSince::Refreshed(_)));
        // A failed refresh changed nothing; an end time that does not read is not known.
        assert_eq!(verdict(&[at("Failed", Some("2026-12-02T02:00:00Z"))]), DataSince::Unrefreshed);
        assert_eq!(verdict(&[at("Completed", Some("yesterday"))]), DataSince::Unknown);
    }

    #[test]
    fn the_stem_is_the_default_names() {
        assert_eq!(safe_stem("Sales"), "Sales");
        let name = default_file_name("a/b", OffsetDateTime::UNIX_EPOCH);
        assert_eq!(time_from_file_name(&name).unwrap().0, safe_stem("a/b"));
    }
}
