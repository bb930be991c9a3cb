//! `pbi-backup storage status|link|unlink|relink`.

use backup_core::ops::Context;
use backup_core::ops::Outcome;
use backup_core::output::StorageChange;
use clap::{Args, Subcommand};

use crate::global::Global;
use crate::print;

/// The storage subcommands.
#[derive(Debug, Subcommand)]
pub enum StorageCommand {
    /// Show each workspace's storage account, backup folder and backups.
    #[command(after_help = "Example:\n  pbi-backup storage status --workspace 'Sales Analytics'")]
    Status(WorkspacesArg),
    /// Attach a workspace to a registered storage account.
    #[command(
        after_help = "Example:\n  pbi-backup storage link --workspace 'Sales Analytics' --account contosobackups"
    )]
    Link(LinkArgs),
    /// Detach a workspace's storage account.
    #[command(after_help = "Example:\n  pbi-backup storage unlink --workspace 'Sales Analytics'")]
    Unlink(WorkspaceArg),
    /// Detach and attach again (fixes a dataflows-only link), renaming the old backup folder first; a detached
    /// workspace is attached to --account.
    #[command(
        after_help = "Examples:\n  pbi-backup storage relink --workspace 'Sales Analytics'\n  pbi-backup storage relink --workspace 'Sales Analytics' --account contosobackups"
    )]
    Relink(RelinkArgs),
}

/// One or more workspaces.
#[derive(Debug, Args)]
pub struct WorkspacesArg {
    /// Workspaces (repeatable).
    #[arg(long = "workspace", short = 'w', required = true, value_name = "NAME")]
    pub workspaces: Vec<String>,
}

/// One workspace.
#[derive(Debug, Args)]
pub struct WorkspaceArg {
    /// The workspace.
    #[arg(long, short = 'w', value_name = "NAME")]
    pub workspace: String,
}

/// Arguments of `storage relink`.
#[derive(Debug, Args)]
pub struct RelinkArgs {
    /// The workspace.
    #[arg(long, short = 'w', value_name = "NAME")]
    pub workspace: String,
    /// The registered storage account to attach to (default: the one it is attached to; needed when detached).
    #[arg(long, value_name = "NAME")]
    pub account: Option<String>,
}

/// Arguments of `storage link`.
#[derive(Debug, Args)]
pub struct LinkArgs {
    /// The workspace.
    #[arg(long, short = 'w', value_name = "NAME")]
    pub workspace: String,
    /// The registered storage account's name.
    #[arg(long, value_name = "NAME")]
    pub account: String,
}

pub async fn run(global: &Global, session: &Context, command: &StorageCommand) -> Outcome<i32> {
    let change = match command {
        StorageCommand::Status(a) => {
            let out = backup_core::ops::storage_status(session, &a.workspaces).await?;
            return print::report(global, &out, |list| {
                list.iter()
                    .map(|s| {
                        format!(
                            "{}: storage {}; folder power-bi-backup/{} {}; {} backups\n",
                            s.workspace,
                            s.account.as_deref().unwrap_or("NOT ATTACHED"),
                            s.workspace,
                            match (s.folder_exists, s.backups) {
                                (Some(true), Some(0)) => "exists, with no backup",
                                (Some(true), _) => "exists",
                                (Some(false), _) => "does not exist",
                                (None, _) => "unknown (no storage configured)",
                            },
                            s.backups.map(|n| n.to_string()).unwrap_or_else(|| "?".into())
                        )
                    })
                    .collect()
            });
        }
        StorageCommand::Link(a) => {
            backup_core::ops::storage_link(session, &a.workspace, &a.account).await?
        }
        StorageCommand::Unlink(a) => {
            backup_core::ops::storage_unlink(session, &a.workspace).await?
        }
        StorageCommand::Relink(a) => {
            backup_core::ops::storage_relink(session, &a.workspace, a.account.as_deref()).await?
        }
    };
    print::report(global, &change, human_change)
}

fn human_change(c: &StorageChange) -> String {
    c.actions.iter().map(|a| format!("{}: {a}\n", c.workspace)).collect()
}
