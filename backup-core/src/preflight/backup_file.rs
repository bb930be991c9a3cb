//! The rules about a backup file itself, read from its container report before a restore: LATER-25 (compatibility
//! level), LATER-26 (a table and an expression of one name), LATER-06 (enhanced metadata), LATER-09 (roles without
//! the read permission). Some read catalog numbers whose meaning is unconfirmed, so all of them are `Warns` rules.

use abf_format::{ModelPermission, Report};

use super::{Finding, Findings, RuleId, Status};

/// What the backup-file rules need besides the report.
#[derive(Debug, Clone, Copy)]
pub struct BackupFileContext<'a> {
    /// The target workspace.
    pub workspace: &'a str,
    /// The backup file.
    pub file: &'a str,
    /// `--ignore-incompatibilities`: roles without the read permission are dropped rather than refused.
    pub ignore_incompatibilities: bool,
}

/// The findings about a backup file, and notes that are not findings (what `--ignore-incompatibilities` drops).
pub fn backup_file_findings(
    ctx: BackupFileContext<'_>,
    report: &Report,
    profile: super::Profile,
    raise: &[RuleId],
) -> (Vec<Finding>, Vec<String>) {
    let mut out = Findings::new(ctx.workspace, profile, raise);
    let mut notes = Vec::new();
    let file = ctx.file;
    if let Some(level) = report.database.compatibility_level
        && level < 1500
    {
        out.push(
            RuleId::Later25,
            Status::Fail,
            format!("the model in {file} is at compatibility level {level}; Power BI Premium takes 1500 and higher"),
            "upgrade the model's compatibility level (e.g. in Visual Studio or Tabular Editor) and back it up again",
        );
    }
    let clashes = name_clashes(&report.tables, &report.expressions);
    if !clashes.is_empty() {
        out.push(
            RuleId::Later26,
            Status::Fail,
            format!(
                "the model in {file} has a table and a Power Query expression both named {}; Power BI fails such a restore",
                quoted(&clashes)
            ),
            "rename the expression or the table (Power Query editor, Tabular Editor) and back the model up again",
        );
    }
    // TOM's enum reads 2 as V3, which is unconfirmed for the catalog; a model without the column is left to the
    // service.
    if let Some(version) = report.data_source_version
        && version != 2
    {
        let name = match version {
            0 => "PowerBI_V1",
            1 => "PowerBI_V2",
            _ => "not a known version",
        };
        out.push(
            RuleId::Later06,
            Status::Fail,
            format!(
                "the model in {file} is not in the enhanced metadata format (V3): its DefaultPowerBIDataSourceVersion is {version} ({name}), and Power BI restores only V3 models"
            ),
            "upgrade the model to the enhanced metadata format (V3; compatibility level 1465 or higher) and back it up again",
        );
    }
    let not_read: Vec<String> = report
        .roles
        .iter()
        .filter_map(|r| r.permission().filter(|p| *p != ModelPermission::Read).map(|p| (r, p)))
        .map(|(r, p)| format!("'{}' ({p})", r.name))
        .collect();
    if !not_read.is_empty() {
        if ctx.ignore_incompatibilities {
            notes.push(format!(
                "LATER-09: --ignore-incompatibilities drops the roles without the read permission: {}",
                not_read.join(", ")
            ));
        } else {
            out.push(
                RuleId::Later09,
                Status::Fail,
                format!(
                    "the model in {file} has roles without the read permission, the only one Power BI takes: {}",
                    not_read.join(", ")
                ),
                "restore with --ignore-incompatibilities to drop them, or give them the read permission and back the model up again",
            );
        }
    }
    (out.into_vec(), notes)
}

fn quoted(names: &[String]) -> String {
    names.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ")
}

/// The table names that a shared expression also carries (rule LATER-26), compared as Analysis Services compares
/// object names: without regard to case.
fn name_clashes(tables: &[abf_format::Table], expressions: &[String]) -> Vec<String> {
    let expressions: std::collections::BTreeSet<String> =
        expressions.iter().map(|e| e.to_lowercase()).collect();
    let mut clashes: Vec<String> = tables
        .iter()
        .filter(|t| expressions.contains(&t.name.to_lowercase()))
        .map(|t| t.name.clone())
        .collect();
    clashes.sort();
    clashes.dedup();
    clashes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str) -> abf_format::Table {
        abf_format::Table { name: name.into(), partitions: Vec::new() }
    }

    #[test]
    fn tables_and_expressions_clash_by_name_whatever_the_case() {
        let tables = [table("Sales"), table("Date"), table("Budget")];
        let expressions = ["sales".to_owned(), "Region".to_owned(), "Date".to_owned()];
        assert_eq!(name_clashes(&tables, &expressions), ["Date", "Sales"]);
        assert!(name_clashes(&tables, &["Sales Query".to_owned()]).is_empty());
        assert!(name_clashes(&tables, &[]).is_empty());
    }
}
