//! The retention policy of `pbi-backup prune`: which backups to keep and which to delete.
//!
//! Pure logic, no I/O. The rules follow restic's `forget`:
//!
//! * backups are grouped by (workspace, dataset) and every group is judged on its own, newest first;
//! * `keep-last N` keeps the N newest backups;
//! * `keep-hourly N`, `keep-daily N`, `keep-weekly N`, `keep-monthly N` and `keep-yearly N` keep the newest
//!   backup of each of the N most recent hours, days, ISO weeks, months or years *that have backups*; periods are
//!   calendar periods in UTC, whatever offset a backup's time carries;
//! * `keep-within D` keeps every backup newer than `now - D`;
//! * a backup kept by any rule is kept, and every rule that keeps it is listed in [`Decision::reasons`].
//!
//! Safety rules beyond restic:
//!
//! 1. the newest *verified* backup of each (workspace, dataset) is always kept, whatever the policy says;
//! 2. a policy that sets nothing (or only zeros) is refused with [`RetentionError::EmptyPolicy`]: it never means
//!    "delete everything";
//! 3. [`BackupItem::time`] is not optional: a backup whose time cannot be read must not be passed to [`plan`] at
//!    all, so no policy can delete it.
//!
//! Two differences from restic: `keep-within` counts back from `now` (restic counts from the newest backup of the
//! group), and restic's extra "keep the oldest backup when a `keep-*` rule has fewer periods than it asks for" is
//! not applied.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use time::{Duration, OffsetDateTime, UtcOffset};

/// The reason given for the newest verified backup of a (workspace, dataset).
pub const NEWEST_VERIFIED: &str = "newest verified backup";
/// The reason the newest backup whose last drill passed is kept (it is the one proven restorable).
pub const NEWEST_DRILLED: &str = "newest drilled backup";

/// Hours in one unit of a `keep-within` duration. A year and a month are fixed lengths, not calendar ones.
const UNITS: [(char, i64); 5] =
    [('y', 365 * 24), ('m', 30 * 24), ('w', 7 * 24), ('d', 24), ('h', 1)];

/// The largest `keep-within` in hours that a [`Duration`] holds.
const MAX_HOURS: i64 = i64::MAX / 3600;

/// One backup file as prune sees it.
///
/// Only backups whose time is known can be described: a file whose time cannot be parsed must be left out of
/// [`plan`] by the caller (and so is never deleted).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BackupItem {
    /// The workspace the dataset lives in.
    pub workspace: String,
    /// The dataset (semantic model) that was backed up.
    pub dataset: String,
    /// The backup file, as the caller names it (path or URL); prune deletes this when the decision says so.
    pub file: String,
    /// When the backup was taken. Any offset; periods are computed in UTC.
    pub time: OffsetDateTime,
    /// Whether the backup has been verified (restorable).
    pub verified: bool,
    /// Whether its last drill passed (restored as a scratch model and matched).
    pub drilled: bool,
}

/// A retention policy. A `keep-*` count of 0 is the same as not setting it, as in restic.
///
/// Serialized with kebab-case keys; `keep-within` is a string such as `"30d"`, `"2w"`, `"1y6m"` or `"12h"`
/// (see [`parse_keep_within`]).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct RetentionPolicy {
    /// Keep the N newest backups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<u32>,
    /// Keep the newest backup of each of the last N hours that have backups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_hourly: Option<u32>,
    /// Keep the newest backup of each of the last N days that have backups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_daily: Option<u32>,
    /// Keep the newest backup of each of the last N ISO weeks that have backups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_weekly: Option<u32>,
    /// Keep the newest backup of each of the last N months that have backups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_monthly: Option<u32>,
    /// Keep the newest backup of each of the last N years that have backups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_yearly: Option<u32>,
    /// Keep every backup newer than `now` minus this; a positive whole number of hours.
    #[serde(skip_serializing_if = "Option::is_none", with = "keep_within_serde")]
    pub keep_within: Option<Duration>,
}

impl RetentionPolicy {
    /// Whether no rule would keep anything: every count unset or 0 and no `keep-within`.
    pub fn is_empty(&self) -> bool {
        let counts = [
            self.keep_last,
            self.keep_hourly,
            self.keep_daily,
            self.keep_weekly,
            self.keep_monthly,
            self.keep_yearly,
        ];
        counts.iter().all(|n| n.unwrap_or(0) == 0) && self.keep_within.is_none()
    }

    /// Checks the policy: `keep-within` must be a positive whole number of hours and something must be set.
    pub fn validate(&self) -> Result<(), RetentionError> {
        if let Some(within) = self.keep_within {
            check_keep_within(within)?;
        }
        if self.is_empty() {
            return Err(RetentionError::EmptyPolicy);
        }
        Ok(())
    }
}

/// What prune should do with one backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The backup.
    pub item: BackupItem,
    /// Whether to keep it; true exactly when `reasons` is not empty.
    pub keep: bool,
    /// Every rule that keeps it, in policy order: `last 2` (the second newest), `hourly 2026-11-27T14:00Z`,
    /// `daily 2026-11-27`, `weekly 2026-W48`, `monthly 2026-11`, `yearly 2026`, `within 30d`, then
    /// [`NEWEST_VERIFIED`]. Empty when it is to be deleted.
    pub reasons: Vec<String>,
}

/// Why a policy cannot be applied or a `keep-within` duration cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RetentionError {
    /// Nothing is set, so the policy would keep nothing.
    #[error(
        "the retention policy sets no rule, and prune never deletes everything: set at least one of --keep-last, \
         --keep-hourly, --keep-daily, --keep-weekly, --keep-monthly or --keep-yearly to a number above 0, \
         or --keep-within to a duration such as 30d"
    )]
    EmptyPolicy,
    /// A `keep-within` string that does not parse.
    #[error(
        "invalid keep-within duration '{input}': {problem}; write whole numbers with the units y (365 days), \
         m (30 days), w, d or h, each at most once, e.g. 30d, 2w, 1y6m or 12h"
    )]
    InvalidDuration {
        /// The text as given.
        input: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A `keep-within` duration that is zero, negative or not a whole number of hours.
    #[error(
        "invalid keep-within duration '{value}': {problem}; use a positive whole number of hours, e.g. 12h or 30d"
    )]
    InvalidKeepWithin {
        /// The duration given.
        value: String,
        /// What is wrong with it.
        problem: &'static str,
    },
}

/// Parses a `keep-within` duration: numbers with units `y` (365 days), `m` (30 days), `w`, `d` and `h`, each unit
/// at most once, in any order, e.g. `"30d"`, `"2w"`, `"1y6m"`, `"12h"`, `"3d12h"`. Surrounding spaces are ignored.
/// The total must be above zero.
pub fn parse_keep_within(input: &str) -> Result<Duration, RetentionError> {
    let invalid =
        |problem: String| RetentionError::InvalidDuration { input: input.to_owned(), problem };
    let text = input.trim();
    if text.is_empty() {
        return Err(invalid("it is empty".to_owned()));
    }
    let mut total: i64 = 0;
    let mut seen = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid(format!("expected a number at '{rest}'")));
        }
        let (number, tail) = rest.split_at(digits);
        let mut chars = tail.chars();
        let Some(unit) = chars.next() else {
            return Err(invalid(format!("the number {number} has no unit")));
        };
        let Some(&(_, hours_per_unit)) = UNITS.iter().find(|(u, _)| *u == unit) else {
            return Err(invalid(format!("unknown unit '{unit}'")));
        };
        if seen.contains(&unit) {
            return Err(invalid(format!("the unit '{unit}' appears twice")));
        }
        seen.push(unit);
        total = number
            .parse::<i64>()
            .ok()
            .and_then(|n| n.checked_mul(hours_per_unit))
            .and_then(|hours| hours.checked_add(total))
            .filter(|&hours| hours <= MAX_HOURS)
            .ok_or_else(|| invalid("it is too large".to_owned()))?;
        rest = chars.as_str();
    }
    if total == 0 {
        return Err(invalid("it is zero, which keeps nothing".to_owned()));
    }
    Ok(Duration::hours(total))
}

/// Formats a `keep-within` duration in days and hours (`"30d"`, `"12h"`, `"3d12h"`); a parsed `"2w"` or `"1y6m"`
/// comes back as `"14d"` or `"545d"`. [`parse_keep_within`] reads the result back to the same duration.
pub fn format_keep_within(duration: Duration) -> Result<String, RetentionError> {
    check_keep_within(duration)?;
    let hours = duration.whole_hours();
    let (days, hours) = (hours / 24, hours % 24);
    let mut text = String::new();
    if days > 0 {
        let _ = write!(text, "{days}d");
    }
    if hours > 0 {
        let _ = write!(text, "{hours}h");
    }
    Ok(text)
}

fn check_keep_within(duration: Duration) -> Result<(), RetentionError> {
    let problem = if !duration.is_positive() {
        "it is not above zero"
    } else if duration.subsec_nanoseconds() != 0 || duration.whole_seconds() % 3600 != 0 {
        "it is not a whole number of hours"
    } else {
        return Ok(());
    };
    Err(RetentionError::InvalidKeepWithin { value: duration.to_string(), problem })
}

/// The calendar periods of the bucket rules, in the order their reasons are listed.
#[derive(Debug, Clone, Copy)]
enum Period {
    Hourly,
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

impl Period {
    const ALL: [Period; 5] =
        [Period::Hourly, Period::Daily, Period::Weekly, Period::Monthly, Period::Yearly];

    fn name(self) -> &'static str {
        match self {
            Period::Hourly => "hourly",
            Period::Daily => "daily",
            Period::Weekly => "weekly",
            Period::Monthly => "monthly",
            Period::Yearly => "yearly",
        }
    }

    fn count(self, policy: &RetentionPolicy) -> Option<u32> {
        match self {
            Period::Hourly => policy.keep_hourly,
            Period::Daily => policy.keep_daily,
            Period::Weekly => policy.keep_weekly,
            Period::Monthly => policy.keep_monthly,
            Period::Yearly => policy.keep_yearly,
        }
    }

    /// The UTC period `time` falls in, written so that equal labels mean the same period.
    fn label(self, time: OffsetDateTime) -> String {
        let utc = time.to_offset(UtcOffset::UTC);
        let (year, month, day) = (utc.year(), u8::from(utc.month()), utc.day());
        match self {
            Period::Hourly => format!("{year:04}-{month:02}-{day:02}T{:02}:00Z", utc.hour()),
            Period::Daily => format!("{year:04}-{month:02}-{day:02}"),
            Period::Weekly => {
                let (week_year, week, _) = utc.to_iso_week_date();
                format!("{week_year:04}-W{week:02}")
            }
            Period::Monthly => format!("{year:04}-{month:02}"),
            Period::Yearly => format!("{year:04}"),
        }
    }
}

/// Newest first; ties broken on the other fields so that the order never depends on the input order.
fn newest_first(a: &BackupItem, b: &BackupItem) -> Ordering {
    b.time
        .cmp(&a.time)
        .then_with(|| a.file.cmp(&b.file))
        .then_with(|| a.time.offset().whole_seconds().cmp(&b.time.offset().whole_seconds()))
        .then_with(|| b.verified.cmp(&a.verified))
}

/// Applies `policy` to `items` at `now` and says, for every item, whether to keep it and why.
///
/// Returns one [`Decision`] per item, grouped by (workspace, dataset) in ascending order and newest first within a
/// group, whatever the input order. Items must all have a known time (see [`BackupItem`]). Fails when the policy is
/// empty or its `keep-within` is unusable, even when `items` is empty.
pub fn plan(
    items: &[BackupItem],
    policy: &RetentionPolicy,
    now: OffsetDateTime,
) -> Result<Vec<Decision>, RetentionError> {
    policy.validate()?;
    let within = match policy.keep_within {
        // A cutoff before the earliest representable time keeps everything.
        Some(duration) => Some((now.checked_sub(duration), format_keep_within(duration)?)),
        None => None,
    };

    let mut groups: BTreeMap<(&str, &str), Vec<&BackupItem>> = BTreeMap::new();
    for item in items {
        groups.entry((item.workspace.as_str(), item.dataset.as_str())).or_default().push(item);
    }

    let mut decisions = Vec::with_capacity(items.len());
    for mut group in groups.into_values() {
        group.sort_by(|a, b| newest_first(a, b));
        let mut reasons = vec![Vec::<String>::new(); group.len()];

        if let Some(n) = policy.keep_last {
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            for (rank, item_reasons) in reasons.iter_mut().take(n).enumerate() {
                item_reasons.push(format!("last {}", rank + 1));
            }
        }

        for period in Period::ALL {
            let mut remaining = period.count(policy).unwrap_or(0);
            let mut previous: Option<String> = None;
            for (item, item_reasons) in group.iter().zip(reasons.iter_mut()) {
                if remaining == 0 {
                    break;
                }
                // Newest first, so the first item seen in a period is the newest of that period.
                let label = period.label(item.time);
                if previous.as_deref() != Some(label.as_str()) {
                    item_reasons.push(format!("{} {label}", period.name()));
                    remaining -= 1;
                    previous = Some(label);
                }
            }
        }

        if let Some((cutoff, text)) = &within {
            for (item, item_reasons) in group.iter().zip(reasons.iter_mut()) {
                if cutoff.is_none_or(|cutoff| item.time > cutoff) {
                    item_reasons.push(format!("within {text}"));
                }
            }
        }

        if let Some(newest_verified) = group.iter().position(|item| item.verified) {
            reasons[newest_verified].push(NEWEST_VERIFIED.to_owned());
        }
        // A drilled backup is the one proven restorable: the newest of them stays beside the newest verified one.
        if let Some(newest_drilled) = group.iter().position(|item| item.verified && item.drilled) {
            reasons[newest_drilled].push(NEWEST_DRILLED.to_owned());
        }

        decisions.extend(group.into_iter().zip(reasons).map(|(item, reasons)| Decision {
            item: item.clone(),
            keep: !reasons.is_empty(),
            reasons,
        }));
    }
    Ok(decisions)
}

/// Serde for `keep-within` as a string such as `"30d"`.
mod keep_within_serde {
    use serde::de::Error as _;
    use serde::ser::Error as _;
    use serde::{Deserialize as _, Deserializer, Serializer};
    use time::Duration;

    pub(super) fn serialize<S: Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(duration) => {
                let text = super::format_keep_within(*duration).map_err(S::Error::custom)?;
                serializer.serialize_some(&text)
            }
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| super::parse_keep_within(&text).map_err(D::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use proptest::prelude::*;
    use time::macros::datetime;
    use time::{Date, Month, Time};

    use super::*;

    fn item(
        workspace: &str,
        dataset: &str,
        file: &str,
        time: OffsetDateTime,
        verified: bool,
    ) -> BackupItem {
        BackupItem {
            workspace: workspace.to_owned(),
            dataset: dataset.to_owned(),
            file: file.to_owned(),
            time,
            verified,
            drilled: false,
        }
    }

    /// Plans one unverified group and returns the kept files with their reasons.
    fn kept(
        policy: &RetentionPolicy,
        backups: &[(&str, OffsetDateTime)],
        now: OffsetDateTime,
    ) -> Vec<(String, Vec<String>)> {
        let items: Vec<_> =
            backups.iter().map(|(file, time)| item("ws", "ds", file, *time, false)).collect();
        let decisions = plan(&items, policy, now).expect("valid policy");
        assert_eq!(decisions.len(), items.len());
        decisions.into_iter().filter(|d| d.keep).map(|d| (d.item.file, d.reasons)).collect()
    }

    fn expect(list: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        list.iter()
            .map(|(file, reasons)| {
                (file.to_string(), reasons.iter().map(|r| r.to_string()).collect())
            })
            .collect()
    }

    const NOW: OffsetDateTime = datetime!(2026-11-28 04:00 UTC);

    #[test]
    fn the_newest_drilled_backup_is_kept_beside_the_newest_verified() {
        let t = |d: u8| {
            time::macros::datetime!(2026-12-01 04:00 UTC) + time::Duration::days(i64::from(d))
        };
        let mut items: Vec<BackupItem> =
            (1..=4).map(|d| item("ws", "ds", &format!("ds-{d}.abf"), t(d), true)).collect();
        items[1].drilled = true;
        let policy = RetentionPolicy { keep_last: Some(1), ..Default::default() };
        let decisions = plan(&items, &policy, t(5)).unwrap();
        let kept: Vec<(&str, &[String])> = decisions
            .iter()
            .filter(|d| d.keep)
            .map(|d| (d.item.file.as_str(), d.reasons.as_slice()))
            .collect();
        assert_eq!(kept.len(), 2, "{kept:?}");
        assert!(
            kept.iter().any(|(f, r)| *f == "ds-2.abf" && r.contains(&NEWEST_DRILLED.to_owned())),
            "{kept:?}"
        );
    }

    #[test]
    fn each_rule_alone() {
        struct Case {
            name: &'static str,
            policy: RetentionPolicy,
            backups: Vec<(&'static str, OffsetDateTime)>,
            kept: Vec<(&'static str, &'static [&'static str])>,
        }
        let days = vec![
            ("a", datetime!(2026-11-27 20:00 UTC)),
            ("b", datetime!(2026-11-27 08:00 UTC)),
            ("c", datetime!(2026-11-25 23:59 UTC)),
            ("d", datetime!(2026-11-25 00:00 UTC)),
            ("e", datetime!(2026-11-20 12:00 UTC)),
        ];
        let cases = vec![
            Case {
                name: "keep-last 2",
                policy: RetentionPolicy { keep_last: Some(2), ..Default::default() },
                backups: days.clone(),
                kept: vec![("a", &["last 1"]), ("b", &["last 2"])],
            },
            Case {
                name: "keep-last more than there are",
                policy: RetentionPolicy { keep_last: Some(9), ..Default::default() },
                backups: days[..3].to_vec(),
                kept: vec![("a", &["last 1"]), ("b", &["last 2"]), ("c", &["last 3"])],
            },
            Case {
                name: "keep-hourly 2",
                policy: RetentionPolicy { keep_hourly: Some(2), ..Default::default() },
                backups: vec![
                    ("a", datetime!(2026-11-27 12:59 UTC)),
                    ("b", datetime!(2026-11-27 12:00 UTC)),
                    ("c", datetime!(2026-11-27 11:10 UTC)),
                    ("d", datetime!(2026-11-27 10:50 UTC)),
                ],
                kept: vec![
                    ("a", &["hourly 2026-11-27T12:00Z"]),
                    ("c", &["hourly 2026-11-27T11:00Z"]),
                ],
            },
            Case {
                name: "keep-daily 2 skips days without backups",
                policy: RetentionPolicy { keep_daily: Some(2), ..Default::default() },
                backups: days.clone(),
                kept: vec![("a", &["daily 2026-11-27"]), ("c", &["daily 2026-11-25"])],
            },
            Case {
                name: "keep-daily more than there are days",
                policy: RetentionPolicy { keep_daily: Some(30), ..Default::default() },
                backups: days.clone(),
                kept: vec![
                    ("a", &["daily 2026-11-27"]),
                    ("c", &["daily 2026-11-25"]),
                    ("e", &["daily 2026-11-20"]),
                ],
            },
            Case {
                name: "keep-daily buckets in utc",
                policy: RetentionPolicy { keep_daily: Some(2), ..Default::default() },
                backups: vec![
                    // 2026-11-28 01:30 UTC.
                    ("late-west", datetime!(2026-11-27 23:30 -02:00)),
                    // 2026-11-27 22:30 UTC.
                    ("early-east", datetime!(2026-11-28 00:30 +02:00)),
                    ("noon", datetime!(2026-11-27 12:00 UTC)),
                ],
                kept: vec![
                    ("late-west", &["daily 2026-11-28"]),
                    ("early-east", &["daily 2026-11-27"]),
                ],
            },
            Case {
                name: "keep-weekly 2 uses iso weeks across the new year",
                policy: RetentionPolicy { keep_weekly: Some(2), ..Default::default() },
                backups: vec![
                    ("fri-2027-01-01", datetime!(2027-01-01 09:00 UTC)),
                    ("thu-2026-12-31", datetime!(2026-12-31 09:00 UTC)),
                    ("mon-2026-12-28", datetime!(2026-12-28 00:00 UTC)),
                    ("sun-2026-12-27", datetime!(2026-12-27 23:00 UTC)),
                    ("mon-2026-12-21", datetime!(2026-12-21 23:00 UTC)),
                ],
                kept: vec![
                    ("fri-2027-01-01", &["weekly 2026-W53"]),
                    ("sun-2026-12-27", &["weekly 2026-W52"]),
                ],
            },
            Case {
                name: "keep-monthly 3 skips months without backups",
                policy: RetentionPolicy { keep_monthly: Some(3), ..Default::default() },
                backups: vec![
                    ("nov-30", datetime!(2026-11-30 23:00 UTC)),
                    ("nov-01", datetime!(2026-11-01 00:00 UTC)),
                    ("oct-15", datetime!(2026-10-15 00:00 UTC)),
                    ("aug-01", datetime!(2026-08-01 00:00 UTC)),
                    ("jul-31", datetime!(2026-07-31 00:00 UTC)),
                ],
                kept: vec![
                    ("nov-30", &["monthly 2026-11"]),
                    ("oct-15", &["monthly 2026-10"]),
                    ("aug-01", &["monthly 2026-08"]),
                ],
            },
            Case {
                name: "keep-yearly 2",
                policy: RetentionPolicy { keep_yearly: Some(2), ..Default::default() },
                backups: vec![
                    ("2026", datetime!(2026-01-01 00:00 UTC)),
                    ("2025-end", datetime!(2025-12-31 23:59:59 UTC)),
                    ("2025-mid", datetime!(2025-06-01 00:00 UTC)),
                    ("2023", datetime!(2023-03-03 00:00 UTC)),
                ],
                kept: vec![("2026", &["yearly 2026"]), ("2025-end", &["yearly 2025"])],
            },
            Case {
                name: "keep-within 2d is strict at the cutoff",
                policy: RetentionPolicy {
                    keep_within: Some(Duration::days(2)),
                    ..Default::default()
                },
                backups: vec![
                    ("future", NOW + Duration::hours(1)),
                    ("recent", datetime!(2026-11-27 00:00 UTC)),
                    ("just-inside", datetime!(2026-11-26 04:00:01 UTC)),
                    ("at-cutoff", datetime!(2026-11-26 04:00 UTC)),
                    ("old", datetime!(2026-11-01 00:00 UTC)),
                ],
                kept: vec![
                    ("future", &["within 2d"]),
                    ("recent", &["within 2d"]),
                    ("just-inside", &["within 2d"]),
                ],
            },
            Case {
                name: "a count of 0 is the same as unset",
                policy: RetentionPolicy {
                    keep_last: Some(0),
                    keep_daily: Some(1),
                    ..Default::default()
                },
                backups: days.clone(),
                kept: vec![("a", &["daily 2026-11-27"])],
            },
        ];
        for case in cases {
            assert_eq!(
                kept(&case.policy, &case.backups, NOW),
                expect(&case.kept),
                "case: {}",
                case.name
            );
        }
    }

    #[test]
    fn rules_combine_and_list_every_reason() {
        let policy = RetentionPolicy {
            keep_last: Some(1),
            keep_hourly: Some(1),
            keep_daily: Some(2),
            keep_weekly: Some(1),
            keep_monthly: Some(2),
            keep_yearly: Some(1),
            keep_within: Some(Duration::hours(12)),
        };
        let backups = [
            ("a", datetime!(2026-11-27 20:00 UTC)),
            ("b", datetime!(2026-11-27 19:00 UTC)),
            ("c", datetime!(2026-11-26 10:00 UTC)),
            ("d", datetime!(2026-10-31 10:00 UTC)),
            ("e", datetime!(2026-10-30 10:00 UTC)),
        ];
        let all_of_a: &[&str] = &[
            "last 1",
            "hourly 2026-11-27T20:00Z",
            "daily 2026-11-27",
            "weekly 2026-W48",
            "monthly 2026-11",
            "yearly 2026",
            "within 12h",
        ];
        assert_eq!(
            kept(&policy, &backups, NOW),
            expect(&[
                ("a", all_of_a),
                ("b", &["within 12h"]),
                ("c", &["daily 2026-11-26"]),
                ("d", &["monthly 2026-10"])
            ])
        );
    }

    #[test]
    fn newest_verified_is_always_kept() {
        let items = vec![
            item("ws", "ds", "newest", datetime!(2026-11-27 20:00 UTC), false),
            item("ws", "ds", "verified", datetime!(2026-11-20 20:00 UTC), true),
            item("ws", "ds", "older-verified", datetime!(2026-11-10 20:00 UTC), true),
            item("ws", "other", "only", datetime!(2026-11-27 20:00 UTC), true),
            item("ws", "other", "older-verified", datetime!(2026-01-01 00:00 UTC), true),
            item("ws", "unverified", "x", datetime!(2026-11-27 20:00 UTC), false),
            item("ws", "unverified", "y", datetime!(2026-11-26 20:00 UTC), false),
        ];
        let policy = RetentionPolicy { keep_last: Some(1), ..Default::default() };
        let decisions = plan(&items, &policy, NOW).unwrap();
        let got: Vec<_> = decisions
            .iter()
            .map(|d| (d.item.dataset.as_str(), d.item.file.as_str(), d.keep, d.reasons.clone()))
            .collect();
        let s = |v: &[&str]| v.iter().map(|r| r.to_string()).collect::<Vec<_>>();
        assert_eq!(
            got,
            vec![
                ("ds", "newest", true, s(&["last 1"])),
                ("ds", "verified", true, s(&[NEWEST_VERIFIED])),
                ("ds", "older-verified", false, s(&[])),
                ("other", "only", true, s(&["last 1", NEWEST_VERIFIED])),
                ("other", "older-verified", false, s(&[])),
                ("unverified", "x", true, s(&["last 1"])),
                ("unverified", "y", false, s(&[])),
            ]
        );
        // Even a policy that keeps only very recent backups keeps the newest verified one.
        let policy =
            RetentionPolicy { keep_within: Some(Duration::hours(1)), ..Default::default() };
        let kept: Vec<_> = plan(&items, &policy, NOW)
            .unwrap()
            .into_iter()
            .filter(|d| d.keep)
            .map(|d| d.item.file)
            .collect();
        assert_eq!(kept, ["verified", "only"]);
    }

    #[test]
    fn decisions_are_grouped_and_newest_first() {
        let items = vec![
            item("w2", "a", "w2a-old", datetime!(2026-01-01 00:00 UTC), false),
            item("w1", "b", "w1b", datetime!(2026-06-01 00:00 UTC), false),
            item("w2", "a", "w2a-new", datetime!(2026-02-01 00:00 UTC), false),
            item("w1", "a", "w1a", datetime!(2026-03-01 00:00 UTC), false),
        ];
        let policy = RetentionPolicy { keep_last: Some(1), ..Default::default() };
        let got: Vec<_> = plan(&items, &policy, NOW)
            .unwrap()
            .into_iter()
            .map(|d| (d.item.file, d.keep))
            .collect();
        let want = [("w1a", true), ("w1b", true), ("w2a-new", true), ("w2a-old", false)];
        assert_eq!(got, want.map(|(f, k)| (f.to_owned(), k)));
    }

    #[test]
    fn equal_times_do_not_depend_on_input_order() {
        let t = datetime!(2026-11-27 12:00 UTC);
        let a = item("ws", "ds", "a.abf", t, true);
        let b = item("ws", "ds", "b.abf", t, true);
        // The same instant written with another offset.
        let c = item("ws", "ds", "a.abf", t.to_offset(time::macros::offset!(+01:00)), true);
        // And a copy that differs only in not being verified.
        let d = item("ws", "ds", "a.abf", t, false);
        let policy = RetentionPolicy { keep_last: Some(1), ..Default::default() };
        let one = plan(&[d.clone(), a.clone(), b.clone(), c.clone()], &policy, NOW).unwrap();
        let two = plan(&[c, b, a, d], &policy, NOW).unwrap();
        assert_eq!(one, two);
        // `BackupItem`'s equality compares instants, so compare the offsets too.
        let order = |decisions: &[Decision]| -> Vec<(String, i8, bool, bool)> {
            decisions
                .iter()
                .map(|d| {
                    (
                        d.item.file.clone(),
                        d.item.time.offset().whole_hours(),
                        d.item.verified,
                        d.keep,
                    )
                })
                .collect()
        };
        let want = [
            ("a.abf", 0, true, true),
            ("a.abf", 0, false, false),
            ("a.abf", 1, true, false),
            ("b.abf", 0, true, false),
        ]
        .map(|(f, o, v, k)| (f.to_owned(), o, v, k));
        assert_eq!(order(&one), want);
        assert_eq!(order(&two), want);
        assert_eq!(one[0].reasons, ["last 1", NEWEST_VERIFIED]);
    }

    #[test]
    fn empty_policy_is_refused() {
        let items = [item("ws", "ds", "f", NOW, true)];
        let zeros = RetentionPolicy {
            keep_last: Some(0),
            keep_hourly: Some(0),
            keep_daily: Some(0),
            keep_weekly: Some(0),
            keep_monthly: Some(0),
            keep_yearly: Some(0),
            keep_within: None,
        };
        for policy in [RetentionPolicy::default(), zeros] {
            assert!(policy.is_empty());
            assert_eq!(plan(&items, &policy, NOW), Err(RetentionError::EmptyPolicy));
            assert_eq!(plan(&[], &policy, NOW), Err(RetentionError::EmptyPolicy));
        }
        let message = RetentionError::EmptyPolicy.to_string();
        for flag in [
            "--keep-last",
            "--keep-hourly",
            "--keep-daily",
            "--keep-weekly",
            "--keep-monthly",
            "--keep-yearly",
            "--keep-within",
        ] {
            assert!(message.contains(flag), "{message}");
        }
        assert!(!RetentionPolicy { keep_yearly: Some(1), ..Default::default() }.is_empty());
        assert!(
            !RetentionPolicy { keep_within: Some(Duration::hours(1)), ..Default::default() }
                .is_empty()
        );
    }

    #[test]
    fn unusable_keep_within_is_refused() {
        let items = [item("ws", "ds", "f", NOW, true)];
        for (duration, problem) in [
            (Duration::ZERO, "not above zero"),
            (Duration::hours(-3), "not above zero"),
            (Duration::minutes(90), "not a whole number of hours"),
            (Duration::hours(2) + Duration::nanoseconds(1), "not a whole number of hours"),
        ] {
            let policy = RetentionPolicy {
                keep_last: Some(1),
                keep_within: Some(duration),
                ..Default::default()
            };
            let err = plan(&items, &policy, NOW).unwrap_err();
            assert!(matches!(err, RetentionError::InvalidKeepWithin { .. }), "{duration}: {err:?}");
            let message = err.to_string();
            assert!(
                message.contains(problem) && message.contains(&duration.to_string()),
                "{message}"
            );
            assert!(message.contains("positive whole number of hours"), "{message}");
            assert!(format_keep_within(duration).is_err());
        }
    }

    #[test]
    fn keep_within_far_back_keeps_everything() {
        let items = [item("ws", "ds", "ancient", datetime!(-9999-01-01 00:00 UTC), false)];
        let policy =
            RetentionPolicy { keep_within: Some(Duration::hours(MAX_HOURS)), ..Default::default() };
        let decisions = plan(&items, &policy, NOW).unwrap();
        assert!(decisions[0].keep, "{decisions:?}");
    }

    #[test]
    fn parse_keep_within_table() {
        let ok: &[(&str, i64)] = &[
            ("30d", 30 * 24),
            ("2w", 14 * 24),
            ("1y6m", 545 * 24),
            ("6m1y", 545 * 24),
            ("12h", 12),
            ("3d12h", 3 * 24 + 12),
            (" 1d ", 24),
            ("0d1h", 1),
            ("007h", 7),
            ("1y1m1w1d1h", (365 + 30 + 7 + 1) * 24 + 1),
        ];
        for (text, hours) in ok {
            assert_eq!(parse_keep_within(text), Ok(Duration::hours(*hours)), "{text:?}");
        }
        let bad: &[(&str, &str)] = &[
            ("", "it is empty"),
            ("   ", "it is empty"),
            ("d", "expected a number at 'd'"),
            ("-1d", "expected a number at '-1d'"),
            ("30", "the number 30 has no unit"),
            ("1d30", "the number 30 has no unit"),
            ("30x", "unknown unit 'x'"),
            ("3D", "unknown unit 'D'"),
            ("1.5d", "unknown unit '.'"),
            ("1 d", "unknown unit ' '"),
            ("1d1d", "the unit 'd' appears twice"),
            ("0d", "it is zero"),
            ("0y0h", "it is zero"),
            ("99999999999999999999d", "it is too large"),
            ("1000000000000000y", "it is too large"),
        ];
        for (text, problem) in bad {
            let err = parse_keep_within(text).unwrap_err();
            let message = err.to_string();
            assert!(message.contains(problem), "{text:?}: {message}");
            assert!(
                message.starts_with(&format!("invalid keep-within duration '{text}'")),
                "{message}"
            );
            assert!(message.contains("e.g. 30d, 2w, 1y6m or 12h"), "{message}");
        }
    }

    #[test]
    fn format_keep_within_table() {
        for (hours, text) in [
            (30 * 24, "30d"),
            (12, "12h"),
            (36, "1d12h"),
            (545 * 24, "545d"),
            (1, "1h"),
            (14 * 24, "14d"),
        ] {
            assert_eq!(format_keep_within(Duration::hours(hours)).as_deref(), Ok(text));
        }
    }

    #[test]
    fn serde_uses_kebab_case_and_duration_strings() {
        let policy = RetentionPolicy {
            keep_last: Some(3),
            keep_within: Some(Duration::days(30)),
            ..Default::default()
        };
        let json = serde_json::to_string(&policy).unwrap();
        assert_eq!(json, r#"{"keep-last":3,"keep-within":"30d"}"#);
        assert_eq!(serde_json::from_str::<RetentionPolicy>(&json).unwrap(), policy);

        let parsed: RetentionPolicy =
            serde_json::from_str(r#"{"keep-daily": 7, "keep-within": "1y6m"}"#).unwrap();
        assert_eq!(
            parsed,
            RetentionPolicy {
                keep_daily: Some(7),
                keep_within: Some(Duration::days(545)),
                ..Default::default()
            }
        );
        assert_eq!(
            serde_json::from_str::<RetentionPolicy>("{}").unwrap(),
            RetentionPolicy::default()
        );
        assert_eq!(serde_json::to_string(&RetentionPolicy::default()).unwrap(), "{}");

        let unknown = serde_json::from_str::<RetentionPolicy>(r#"{"keep-dayly": 7}"#)
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("keep-dayly"), "{unknown}");
        let bad = serde_json::from_str::<RetentionPolicy>(r#"{"keep-within": "30x"}"#)
            .unwrap_err()
            .to_string();
        assert!(bad.contains("invalid keep-within duration '30x': unknown unit 'x'"), "{bad}");

        let odd =
            RetentionPolicy { keep_within: Some(Duration::minutes(90)), ..Default::default() };
        let err = serde_json::to_string(&odd).unwrap_err().to_string();
        assert!(err.contains("not a whole number of hours"), "{err}");
    }

    fn at_1800(year: i32, month: Month, day: u8) -> OffsetDateTime {
        Date::from_calendar_date(year, month, day)
            .unwrap()
            .with_time(Time::from_hms(18, 0, 0).unwrap())
            .assume_utc()
    }

    /// The newest time of each of the `n` newest buckets, computed with a map rather than the plan's scan.
    fn newest_of_newest_buckets<K: Ord>(
        items: &[BackupItem],
        key: impl Fn(OffsetDateTime) -> K,
        n: usize,
    ) -> BTreeSet<OffsetDateTime> {
        let mut newest: BTreeMap<K, OffsetDateTime> = BTreeMap::new();
        for it in items {
            let slot = newest.entry(key(it.time.to_offset(UtcOffset::UTC))).or_insert(it.time);
            *slot = (*slot).max(it.time);
        }
        newest.into_values().rev().take(n).collect()
    }

    #[test]
    fn synthetic_history_of_400_backups() {
        // One dataset backed up every 6 hours for 100 days: 2026-08-20 00:00 to 2026-11-27 18:00 UTC. The 6 newest
        // and every fifth are unverified, so the newest verified one (2026-11-26 06:00) is kept by no rule.
        let start = datetime!(2026-08-20 00:00 UTC);
        let items: Vec<BackupItem> = (0..400)
            .map(|i| {
                let verified = i < 394 && i % 5 != 0;
                item(
                    "ws",
                    "sales",
                    &format!("sales-{i:03}.abf"),
                    start + Duration::hours(6 * i),
                    verified,
                )
            })
            .collect();
        assert_eq!(items[399].time, datetime!(2026-11-27 18:00 UTC));
        let policy = RetentionPolicy {
            keep_last: Some(5),
            keep_daily: Some(14),
            keep_weekly: Some(8),
            keep_monthly: Some(12),
            ..Default::default()
        };
        let decisions = plan(&items, &policy, NOW).unwrap();
        assert_eq!(decisions.len(), 400);

        // The plan's reasons by rule: label -> time.
        let by_rule = |rule: &str| -> BTreeMap<String, OffsetDateTime> {
            decisions
                .iter()
                .flat_map(|d| {
                    d.reasons
                        .iter()
                        .filter_map(|r| r.strip_prefix(rule))
                        .map(|label| (label.to_owned(), d.item.time))
                })
                .collect()
        };

        // Hand-written expectations.
        let days: BTreeMap<String, OffsetDateTime> = (14..=27)
            .map(|d| (format!("2026-11-{d:02}"), at_1800(2026, Month::November, d)))
            .collect();
        let weeks: BTreeMap<String, OffsetDateTime> = [
            ("2026-W48", at_1800(2026, Month::November, 27)),
            ("2026-W47", at_1800(2026, Month::November, 22)),
            ("2026-W46", at_1800(2026, Month::November, 15)),
            ("2026-W45", at_1800(2026, Month::November, 8)),
            ("2026-W44", at_1800(2026, Month::November, 1)),
            ("2026-W43", at_1800(2026, Month::October, 25)),
            ("2026-W42", at_1800(2026, Month::October, 18)),
            ("2026-W41", at_1800(2026, Month::October, 11)),
        ]
        .into_iter()
        .map(|(w, t)| (w.to_owned(), t))
        .collect();
        let months: BTreeMap<String, OffsetDateTime> = [
            ("2026-11", at_1800(2026, Month::November, 27)),
            ("2026-10", at_1800(2026, Month::October, 31)),
            ("2026-09", at_1800(2026, Month::September, 30)),
            ("2026-08", at_1800(2026, Month::August, 31)),
        ]
        .into_iter()
        .map(|(m, t)| (m.to_owned(), t))
        .collect();
        let last: BTreeMap<String, OffsetDateTime> =
            (1..=5).map(|rank| (rank.to_string(), items[400 - rank].time)).collect();
        assert_eq!(by_rule("daily "), days);
        assert_eq!(by_rule("weekly "), weeks);
        assert_eq!(by_rule("monthly "), months);
        assert_eq!(by_rule("last "), last);

        // The same sets recomputed from the items with maps keyed on the calendar.
        let daily = newest_of_newest_buckets(&items, |t| t.date(), 14);
        let weekly = newest_of_newest_buckets(
            &items,
            |t| {
                let (y, w, _) = t.to_iso_week_date();
                (y, w)
            },
            8,
        );
        let monthly = newest_of_newest_buckets(&items, |t| (t.year(), u8::from(t.month())), 12);
        let latest: BTreeSet<_> = items.iter().map(|i| i.time).rev().take(5).collect();
        assert_eq!(daily, days.values().copied().collect());
        assert_eq!(weekly, weeks.values().copied().collect());
        assert_eq!(monthly, months.values().copied().collect());
        let newest_verified = items.iter().filter(|i| i.verified).map(|i| i.time).max().unwrap();
        assert_eq!(newest_verified, datetime!(2026-11-26 06:00 UTC));

        let mut expected: BTreeSet<OffsetDateTime> = BTreeSet::new();
        for set in [&daily, &weekly, &monthly, &latest] {
            expected.extend(set.iter().copied());
        }
        expected.insert(newest_verified);
        assert_eq!(expected.len(), 26);
        let kept: BTreeSet<_> = decisions.iter().filter(|d| d.keep).map(|d| d.item.time).collect();
        assert_eq!(kept, expected);
        let safety = decisions.iter().find(|d| d.item.time == newest_verified).unwrap();
        assert_eq!(safety.reasons, [NEWEST_VERIFIED]);
    }

    // ---- properties ----

    const BASE: OffsetDateTime = datetime!(2024-01-01 00:00 UTC);

    fn arb_item() -> impl Strategy<Value = BackupItem> {
        // Wide spreads, a few days, and whole hours over three days so that equal times are common.
        let spread = prop_oneof![
            0i64..3 * 365 * 86_400,
            0i64..3 * 86_400,
            (0i64..72).prop_map(|hour| hour * 3600),
        ];
        (0..2u8, 0..3u8, 0..40u8, spread, -12i8..=14, any::<bool>()).prop_map(
            |(w, d, f, secs, offset, verified)| {
                let time = (BASE + Duration::seconds(secs))
                    .to_offset(UtcOffset::from_hms(offset, 0, 0).unwrap());
                item(&format!("ws{w}"), &format!("ds{d}"), &format!("f{f}.abf"), time, verified)
            },
        )
    }

    fn arb_policy() -> impl Strategy<Value = RetentionPolicy> {
        let count = || proptest::option::of(0u32..6);
        (count(), count(), count(), count(), count(), count(), proptest::option::of(1i64..2_000))
            .prop_map(|(last, hourly, daily, weekly, monthly, yearly, within)| RetentionPolicy {
                keep_last: last,
                keep_hourly: hourly,
                keep_daily: daily,
                keep_weekly: weekly,
                keep_monthly: monthly,
                keep_yearly: yearly,
                keep_within: within.map(Duration::hours),
            })
    }

    fn arb_now() -> impl Strategy<Value = OffsetDateTime> {
        (0i64..4 * 365 * 86_400).prop_map(|secs| BASE + Duration::seconds(secs))
    }

    type GroupKey = (String, String);

    /// A calendar period computed from a UTC time, independently of `Period::label`.
    type BucketKey = fn(OffsetDateTime) -> (i32, u32);

    fn group_of(item: &BackupItem) -> GroupKey {
        (item.workspace.clone(), item.dataset.clone())
    }

    fn sort_key(item: &BackupItem) -> (String, String, String, OffsetDateTime, i32, bool) {
        (
            item.workspace.clone(),
            item.dataset.clone(),
            item.file.clone(),
            item.time,
            item.time.offset().whole_seconds(),
            item.verified,
        )
    }

    proptest! {
        #[test]
        fn reasons_exactly_when_kept_and_every_item_once(items in prop::collection::vec(arb_item(), 0..60), policy in arb_policy(), now in arb_now()) {
            prop_assume!(!policy.is_empty());
            let decisions = plan(&items, &policy, now).unwrap();
            for d in &decisions {
                prop_assert_eq!(d.keep, !d.reasons.is_empty(), "{:?}", d);
            }
            let mut input: Vec<_> = items.iter().map(sort_key).collect();
            let mut output: Vec<_> = decisions.iter().map(|d| sort_key(&d.item)).collect();
            input.sort();
            output.sort();
            prop_assert_eq!(input, output);
        }

        #[test]
        fn newest_verified_per_group_is_kept(items in prop::collection::vec(arb_item(), 0..60), policy in arb_policy(), now in arb_now()) {
            prop_assume!(!policy.is_empty());
            let decisions = plan(&items, &policy, now).unwrap();
            let mut newest: BTreeMap<GroupKey, OffsetDateTime> = BTreeMap::new();
            for it in items.iter().filter(|i| i.verified) {
                let slot = newest.entry(group_of(it)).or_insert(it.time);
                *slot = (*slot).max(it.time);
            }
            let mut marked: BTreeMap<GroupKey, Vec<&Decision>> = BTreeMap::new();
            for d in decisions.iter().filter(|d| d.reasons.iter().any(|r| r == NEWEST_VERIFIED)) {
                marked.entry(group_of(&d.item)).or_default().push(d);
            }
            prop_assert_eq!(marked.keys().collect::<Vec<_>>(), newest.keys().collect::<Vec<_>>());
            for (group, time) in &newest {
                let marked = &marked[group];
                prop_assert_eq!(marked.len(), 1);
                prop_assert!(marked[0].keep && marked[0].item.verified && marked[0].item.time == *time, "{:?}", marked[0]);
            }
        }

        #[test]
        fn keep_last_keeps_at_least_n_per_group(items in prop::collection::vec(arb_item(), 0..60), n in 0u32..8, policy in arb_policy(), now in arb_now()) {
            let policy = RetentionPolicy { keep_last: Some(n), ..policy };
            prop_assume!(!policy.is_empty());
            let decisions = plan(&items, &policy, now).unwrap();
            let mut sizes: BTreeMap<GroupKey, usize> = BTreeMap::new();
            let mut kept: BTreeMap<GroupKey, usize> = BTreeMap::new();
            for it in &items {
                *sizes.entry(group_of(it)).or_default() += 1;
            }
            for d in decisions.iter().filter(|d| d.keep) {
                *kept.entry(group_of(&d.item)).or_default() += 1;
            }
            for (group, size) in sizes {
                let kept = kept.get(&group).copied().unwrap_or(0);
                prop_assert!(kept >= size.min(n as usize), "{:?}: kept {} of {}", group, kept, size);
            }
        }

        #[test]
        fn plan_is_deterministic_and_order_independent(
            (items, shuffled) in prop::collection::vec(arb_item(), 0..60).prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
            policy in arb_policy(),
            now in arb_now(),
        ) {
            prop_assume!(!policy.is_empty());
            let first = plan(&items, &policy, now).unwrap();
            prop_assert_eq!(&first, &plan(&items, &policy, now).unwrap());
            prop_assert_eq!(&first, &plan(&shuffled, &policy, now).unwrap());
            let reversed: Vec<_> = items.iter().rev().cloned().collect();
            prop_assert_eq!(&first, &plan(&reversed, &policy, now).unwrap());
        }

        #[test]
        fn bucket_rules_keep_the_newest_of_the_newest_periods(items in prop::collection::vec(arb_item(), 0..60), policy in arb_policy(), now in arb_now()) {
            prop_assume!(!policy.is_empty());
            let decisions = plan(&items, &policy, now).unwrap();
            let rules: [(&str, Option<u32>, BucketKey); 5] = [
                ("hourly ", policy.keep_hourly, |t| (t.year(), t.ordinal() as u32 * 24 + t.hour() as u32)),
                ("daily ", policy.keep_daily, |t| (t.year(), t.ordinal() as u32)),
                ("weekly ", policy.keep_weekly, |t| { let (y, w, _) = t.to_iso_week_date(); (y, w as u32) }),
                ("monthly ", policy.keep_monthly, |t| (t.year(), u8::from(t.month()) as u32)),
                ("yearly ", policy.keep_yearly, |t| (t.year(), 0)),
            ];
            let groups: BTreeSet<GroupKey> = items.iter().map(group_of).collect();
            for (prefix, count, key) in rules {
                for group in &groups {
                    let members: Vec<BackupItem> = items.iter().filter(|i| group_of(i) == *group).cloned().collect();
                    let expected = newest_of_newest_buckets(&members, key, count.unwrap_or(0) as usize);
                    let got: Vec<OffsetDateTime> = decisions
                        .iter()
                        .filter(|d| group_of(&d.item) == *group && d.reasons.iter().any(|r| r.starts_with(prefix)))
                        .map(|d| d.item.time)
                        .collect();
                    prop_assert_eq!(got.len(), expected.len(), "{} {:?}", prefix, group);
                    prop_assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), expected, "{} {:?}", prefix, group);
                }
            }
        }

        #[test]
        fn keep_within_keeps_exactly_the_newer_ones(items in prop::collection::vec(arb_item(), 0..60), hours in 1i64..2_000, now in arb_now()) {
            let policy = RetentionPolicy { keep_within: Some(Duration::hours(hours)), ..Default::default() };
            let decisions = plan(&items, &policy, now).unwrap();
            for d in &decisions {
                let within = d.reasons.iter().any(|r| r.starts_with("within "));
                prop_assert_eq!(within, d.item.time > now - Duration::hours(hours), "{:?}", d);
            }
        }

        #[test]
        fn keep_within_text_round_trips(hours in 1i64..10_000_000) {
            let duration = Duration::hours(hours);
            let text = format_keep_within(duration).unwrap();
            prop_assert_eq!(parse_keep_within(&text), Ok(duration));
        }
    }
}
