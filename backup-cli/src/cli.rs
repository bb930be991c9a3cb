//! The command line: clap derive, one module per subcommand in `commands/`.

use clap::{Parser, Subcommand};

/// What `--version` says: the release and the commit it was built from.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("PBI_BACKUP_COMMIT"), ")");

/// Back up and restore Power BI Premium semantic models and Azure Analysis Services databases.
///
/// Credentials come from the environment or files, never from arguments: AZURE_TENANT_ID, AZURE_CLIENT_ID and
/// AZURE_CLIENT_SECRET (or PBI_BACKUP_AUTH=cli), and for storage PBI_BACKUP_ADLS_ACCOUNT with AZURE_STORAGE_KEY or
/// AZURE_STORAGE_SAS_TOKEN. Settings can also live in pbi-backup.toml.
///
/// The preflight checks the service's rules as one of two profiles (--rules): current, the default, is the Power BI
/// page "Backup and restore semantic models" as revised through 2024-07-25 (admins, members and contributors back
/// up and restore over a model, only admins restore a new one, multi-geo is residency advice); seed is its 2021
/// preview (workspace admins only, multi-geo refused).
#[derive(Debug, Parser)]
#[command(name = "pbi-backup", version = VERSION, propagate_version = true, max_term_width = 110)]
pub struct Cli {
    #[command(flatten)]
    pub global: crate::global::Global,
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check every backup and restore rule for workspaces, before anything is sent.
    #[command(after_help = "Example:\n  pbi-backup doctor --workspace 'Sales Analytics'")]
    Doctor(Box<crate::commands::doctor::DoctorArgs>),
    /// Back up one dataset, every dataset of a workspace, or datasets matching patterns across workspaces.
    #[command(
        after_help = "Examples:\n  pbi-backup backup --workspace 'Sales Analytics' --dataset Sales\n  pbi-backup backup --workspace 'Sales*' --all --concurrency 8\n  pbi-backup backup --server asazure://westeurope.asazure.windows.net/prod --dataset AdventureWorks"
    )]
    Backup(Box<crate::commands::backup::BackupArgs>),
    /// Restore a backup: by file or the latest of a dataset, optionally copied from another workspace first.
    #[command(
        after_help = "Examples:\n  pbi-backup restore --workspace 'Sales Analytics' --latest Sales --as 'Sales (restored)'\n  pbi-backup restore --workspace Test --from-workspace Prod --file Sales_20261128T040908Z.abf"
    )]
    Restore(Box<crate::commands::restore::RestoreArgs>),
    /// List the backups in a workspace's folder.
    #[command(after_help = "Example:\n  pbi-backup list --workspace 'Sales Analytics'")]
    List(crate::commands::files::ListArgs),
    /// Download a backup for offline keeping (resumable, verified, atomic).
    #[command(
        after_help = "Example:\n  pbi-backup download --workspace 'Sales Analytics' --file Sales_20261128T040908Z.abf --to ./offline/"
    )]
    Download(crate::commands::files::DownloadArgs),
    /// Upload a kept backup into a workspace's folder, for a restore.
    #[command(
        after_help = "Example:\n  pbi-backup upload ./offline/Sales_20261128T040908Z.abf --workspace 'Sales Analytics'"
    )]
    Upload(crate::commands::files::UploadArgs),
    /// Copy a backup from one workspace's folder to another's (streamed and verified).
    #[command(
        after_help = "Example:\n  pbi-backup copy --from-workspace Prod --to-workspace Test --file Sales_20261128T040908Z.abf"
    )]
    Copy(crate::commands::files::CopyArgs),
    /// Delete old backups by a retention policy (a dry run unless --apply).
    #[command(
        after_help = "Example:\n  pbi-backup prune --workspace 'Sales Analytics' --keep-daily 7 --keep-weekly 4 --apply"
    )]
    Prune(Box<crate::commands::prune::PruneArgs>),
    /// Back up, verify and prune by the [[policy]] entries of the config file, unattended; reruns do only what is
    /// missing for the period.
    #[command(
        after_help = "Examples:\n  pbi-backup run --json --summary summary.md --prometheus /var/lib/node_exporter/pbi_backup.prom\n  pbi-backup run --policy nightly --shard 2/4 --if-changed"
    )]
    Run(Box<crate::commands::run::RunArgs>),
    /// Check a backup: its hash against the manifest and its .abf container.
    #[command(
        after_help = "Example:\n  pbi-backup verify --workspace 'Sales Analytics' --file Sales_20261128T040908Z.abf --full"
    )]
    Verify(crate::commands::files::VerifyArgs),
    /// Show what an .abf (or .pbix, .xlsx) holds and whether it is whole, offline.
    #[command(
        after_help = "Examples:\n  pbi-backup inspect ./Sales.abf --full\n  pbi-backup inspect --workspace 'Sales Analytics' --file Sales_20261128T040908Z.abf --json"
    )]
    Inspect(crate::commands::files::InspectArgs),
    /// Show the model a backup holds (tables, columns, measures, relationships, roles, expressions), offline.
    #[command(
        after_help = "Examples:\n  pbi-backup definition ./Sales.abf --json\n  pbi-backup definition --workspace 'Sales Analytics' --latest Sales"
    )]
    Definition(crate::commands::definition::DefinitionArgs),
    /// Compare two backups' model definitions: exit 0 when the same, 1 when they differ.
    #[command(
        after_help = "Examples:\n  pbi-backup diff ./Sales-monday.abf ./Sales-tuesday.abf\n  pbi-backup diff --workspace 'Sales Analytics' --latest Sales --json"
    )]
    Diff(crate::commands::definition::DiffArgs),
    /// Prove backups restorable: restore each dataset's newest verified backup into a target workspace under a
    /// scratch name, compare it with the manifest, delete it again; exit 5 when one fails.
    #[command(
        after_help = "Example:\n  pbi-backup drill --workspace 'Sales Analytics' --all --target-workspace 'Restore Drills'"
    )]
    Drill(crate::commands::drill::DrillArgs),
    /// Show, attach, detach or re-attach a workspace's storage account.
    #[command(subcommand)]
    Storage(crate::commands::storage::StorageCommand),
    /// Print shell completions or the man page.
    #[command(
        after_help = "Example:\n  pbi-backup completions bash > /etc/bash_completion.d/pbi-backup"
    )]
    Completions(crate::commands::completions::CompletionsArgs),
}
