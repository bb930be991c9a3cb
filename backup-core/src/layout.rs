//! Where backups live and how they are named: the `power-bi-backup` filesystem, one folder per workspace, and the
//! default file name `<dataset>_<UTC yyyyMMddTHHmmssZ>.abf`.

use adls_store::StorePath;

use crate::error::Result;

/// The filesystem Power BI keeps backups in.
pub const BACKUP_FILESYSTEM: &str = "power-bi-backup";

/// The path of a file in a workspace's backup folder.
pub fn backup_path(workspace: &str, file: &str) -> Result<StorePath> {
    let file = file.strip_prefix('/').unwrap_or(file);
    Ok(StorePath::file(BACKUP_FILESYSTEM, workspace, file)?)
}

/// The folder of a workspace's backups.
pub fn backup_folder(workspace: &str) -> Result<StorePath> {
    Ok(StorePath::folder(BACKUP_FILESYSTEM, workspace)?)
}

/// The time in a default backup file name, `<dataset>_<yyyyMMddTHHmmssZ>.abf`.
pub fn time_from_file_name(file: &str) -> Option<(String, time::OffsetDateTime)> {
    let stem = file.strip_suffix(".abf")?;
    let (dataset, stamp) = stem.rsplit_once('_')?;
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let t = time::PrimitiveDateTime::parse(stamp, format).ok()?.assume_utc();
    Some((dataset.to_owned(), t))
}

/// Whether `name` is a backup file name: it ends in `.abf`, in any case (Power BI and the list, prune and restore
/// commands all take `X.ABF` as a backup).
pub fn is_abf(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.len() >= 4 && bytes[bytes.len() - 4..].eq_ignore_ascii_case(b".abf")
}

/// The default file name of a backup: `<dataset>_<UTC yyyyMMddTHHmmssZ>.abf`, with characters a file name cannot
/// hold replaced by `_`.
pub fn default_file_name(dataset: &str, now: time::OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let safe: String = dataset
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                '_'
            } else {
                c
            }
        })
        .collect();
    format!("{}_{}.abf", fitted(&safe), now.format(format).expect("a fixed format"))
}

/// The most bytes of a dataset's name a default file name keeps: with the time, `.abf` and the manifest's
/// `.manifest.json`, the longest name stays well inside the 255 bytes a path segment may have.
const NAME_BYTES: usize = 180;

/// A dataset's name cut to [`NAME_BYTES`] (at a character boundary) when it is longer, with `~` and the first
/// 8 hex digits of the whole name's SHA-256 after it, so that two long names that share their start still get two
/// files. A manifest keeps the whole name.
fn fitted(name: &str) -> std::borrow::Cow<'_, str> {
    if name.len() <= NAME_BYTES {
        return std::borrow::Cow::Borrowed(name);
    }
    let mut end = NAME_BYTES - 9;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let digest = <sha2::Sha256 as sha2::Digest>::digest(name.as_bytes());
    std::borrow::Cow::Owned(format!("{}~{}", &name[..end], hex::encode(&digest[..4])))
}

/// RFC 3339.
pub fn rfc3339(t: time::OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_round_trip_their_time() {
        let t = time::macros::datetime!(2026-11-28 04:09:08 UTC);
        let name = default_file_name("Sales: EU/Q4", t);
        assert_eq!(name, "Sales_ EU_Q4_20261128T040908Z.abf");
        assert_eq!(time_from_file_name(&name), Some(("Sales_ EU_Q4".into(), t)));
        assert_eq!(time_from_file_name("manual.abf"), None);
        assert!(is_abf("Sales.abf") && is_abf("SALES.ABF") && is_abf("ü.Abf"));
        assert!(!is_abf("Sales.abf.manifest.json") && !is_abf("abf") && !is_abf("ü"));
    }

    #[test]
    fn a_long_name_is_cut_to_fit_a_path_segment_and_stays_apart_from_its_neighbours() {
        let t = time::macros::datetime!(2026-11-28 04:09:08 UTC);
        let long = "ü".repeat(150);
        let other = format!("{}x", "ü".repeat(149));
        let (a, b) = (default_file_name(&long, t), default_file_name(&other, t));
        assert_ne!(a, b);
        for name in [&a, &b] {
            assert!(name.len() + ".manifest.json".len() <= 255, "{} bytes", name.len());
            assert!(name.starts_with("üü") && name.ends_with("_20261128T040908Z.abf"), "{name}");
            assert!(StorePath::file("power-bi-backup", "W", name).is_ok(), "{name}");
        }
        assert_eq!(default_file_name("Sales", t), "Sales_20261128T040908Z.abf");
    }
}
