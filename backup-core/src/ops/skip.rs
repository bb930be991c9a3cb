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
    /// verified backup recorded.
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

/// Why `rules` skip a dataset whose newest verified backup is `last` and whose model the server now says was
/// modified at `modified_now`; `None`: back it up.
pub fn skip_reason(
    rules: &SkipRules,
    last: Option<&LastBackup>,
    modified_now: Option<&str>,
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
    match (rules.if_changed, modified_now, last.model_modified.as_deref()) {
        (true, Some(now), Some(then)) if now == then => Some(format!(
            "unchanged since its last verified backup {} (the model was last modified {now})",
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
        assert!(skip_reason(&rules, Some(&today), None).unwrap().contains("this period"));
        let yesterday = last("2026-12-02T23:59:59Z", None);
        assert_eq!(skip_reason(&rules, Some(&yesterday), None), None);
        assert_eq!(skip_reason(&rules, None, None), None);
    }

    #[test]
    fn only_a_model_known_unchanged_is_skipped() {
        let rules = SkipRules { done_since: None, if_changed: true };
        let b = last("2026-12-02T01:00:00Z", Some("2026-12-01T10:00:00"));
        assert!(skip_reason(&rules, Some(&b), Some("2026-12-01T10:00:00")).is_some());
        assert_eq!(skip_reason(&rules, Some(&b), Some("2026-12-02T10:00:00")), None);
        // Not told now, or not recorded then: backed up.
        assert_eq!(skip_reason(&rules, Some(&b), None), None);
        let unrecorded = last("2026-12-02T01:00:00Z", None);
        assert_eq!(skip_reason(&rules, Some(&unrecorded), Some("2026-12-01T10:00:00")), None);
        // Without --if-changed an unchanged model is backed up.
        let off = SkipRules::default();
        assert_eq!(skip_reason(&off, Some(&b), Some("2026-12-01T10:00:00")), None);
    }

    #[test]
    fn the_stem_is_the_default_names() {
        assert_eq!(safe_stem("Sales"), "Sales");
        let name = default_file_name("a/b", OffsetDateTime::UNIX_EPOCH);
        assert_eq!(time_from_file_name(&name).unwrap().0, safe_stem("a/b"));
    }
}
