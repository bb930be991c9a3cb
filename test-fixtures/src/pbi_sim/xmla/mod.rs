//! XMLA routing calls and the XMLA endpoints: requests read by pbi-sim's own reader (`request`), Backup and Restore
//! executed against the linked storage with the SEED rules enforced, answers written by its own writer (`answer`).
//! Neither uses the client's xmla-proto.
//!
//! - `request`: the requests (Execute with Backup, Restore or a Statement, ASSL or TMSL; Discover), read from the
//!   reference, not by the client's crate;
//! - `answer`: the answers (success, failure, fault, rowset), written from the reference, not by the client's crate;
//! - `routing`: the calls that tell a client where an XMLA endpoint is and give it a token for it;
//! - `endpoint`: the XMLA doors, which authenticate a request, parse it, dispatch it and write the answer;
//! - `discover`: the rowsets (Discover and the DMV statements);
//! - `target`: the SEED checks shared by Backup and Restore, and where their files live;
//! - `backup` and `restore`: what those commands do to the linked storage and the simulator state.

mod answer;
mod backup;
mod discover;
mod endpoint;
mod request;
mod respond;
mod restore;
mod routing;
mod sealed;
mod target;

use std::sync::Arc;

use answer::Message;
use axum::Router;
use axum::routing::{get, post, put};

use super::Shared;
use super::state::{ModelState, State as SimState};

/// The simulator's error codes. The service's real codes for these refusals are not public; these are stable and
/// distinct so that a client can tell them apart.
pub mod codes {
    /// SEED-01: the workspace is not on Premium or PPU.
    pub const NOT_PREMIUM: u32 = 0xC147_0101;
    /// SEED-02: no storage account linked.
    pub const NO_STORAGE: u32 = 0xC147_0102;
    /// SEED-07: the caller is not a workspace admin.
    pub const NOT_ADMIN: u32 = 0xC147_0103;
    /// SEED-04: the capacity is outside the tenant's home region (multi-geo).
    pub const MULTI_GEO: u32 = 0xC147_0104;
    /// SEED-12: the storage link is for dataflows only.
    pub const DATAFLOWS_ONLY: u32 = 0xC147_0105;
    /// The backup file exists and AllowOverwrite is not set.
    pub const FILE_EXISTS: u32 = 0xC147_0106;
    /// The backup file to restore is not in the workspace's folder.
    pub const FILE_MISSING: u32 = 0xC147_0107;
    /// The database to restore exists and AllowOverwrite is not set.
    pub const DATABASE_EXISTS: u32 = 0xC147_0108;
    /// LATER-10: not enough memory for an in-place restore; forceRestore would unload the old model.
    pub const NOT_ENOUGH_MEMORY: u32 = 0xC147_0109;
    /// LATER-09: roles without read permission and no ignoreIncompatibilities.
    pub const INCOMPATIBLE_ROLES: u32 = 0xC147_010A;
    /// The backup is encrypted and the password is missing or wrong.
    pub const PASSWORD: u32 = 0xC147_010B;
    /// LATER-11: the model is larger than the capacity allows, even unloaded.
    pub const RESOURCE_GOVERNING: u32 = 0xC147_010C;
    /// The file name cannot be used.
    pub const BAD_FILE_NAME: u32 = 0xC147_010D;
    /// The backup file is not a whole `.abf`.
    pub const CORRUPT_BACKUP: u32 = 0xC147_010E;
    /// LATER-26: a table and a shared expression have the same name.
    pub const NAME_CLASH: u32 = 0xC147_010F;
    /// LATER-06: the model is not in the enhanced metadata format (V3).
    pub const NOT_V3: u32 = 0xC147_0110;
    /// The database does not exist or the caller cannot see it (AMO's documented text).
    pub const DATABASE_NOT_FOUND: u32 = 0xC10A_0004;
    /// A statement or request type the simulator does not execute.
    pub const UNSUPPORTED: u32 = 0xC147_01FF;
    /// The capacity's XMLA endpoint is read-only (LATER-12).
    pub const XMLA_READ_ONLY: u32 = 0xC147_0111;
    /// The storage account refuses key-based access (LATER-04).
    pub const SHARED_KEY_DISABLED: u32 = 0xC147_0112;
    /// Refused for load: the capacity runs as many backup and restore commands as it may (the simulator's code).
    pub const THROTTLED: u32 = 0xC147_0113;
}

fn msg(code: u32, description: impl Into<String>) -> Message {
    Message { code, description: description.into() }
}

/// The refusal for a database the caller cannot see, in AMO's words.
fn not_found(db: &str) -> Message {
    msg(
        codes::DATABASE_NOT_FOUND,
        format!(
            "Either the database '{db}' does not exist, or you do not have permissions to access it."
        ),
    )
}

/// A simulated side file inside each backup, carrying what a restore needs beyond the catalog (columns, rows,
/// roles, size). Real backups do not have it; a backup without it is restored from its catalog alone.
const SIM_MODEL_FILE: &str = "SimModel.json";

/// Who is asking, through which door.
#[derive(Debug, Clone)]
enum Ctx {
    Workspace { principal: String, workspace_id: String, admin_by_door: bool },
    Aas { principal: String, server: String },
}

/// The owner's model by name or id (the legacy door's `sobe_wowvirtualserver-` prefix is dropped).
fn find_model<'a>(state: &'a SimState, owner: &str, name_or_id: &str) -> Option<&'a ModelState> {
    let name_or_id = name_or_id.strip_prefix("sobe_wowvirtualserver-").unwrap_or(name_or_id);
    state.models.iter().find(|m| {
        m.owner == owner && (m.name == name_or_id || m.id.eq_ignore_ascii_case(name_or_id))
    })
}

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/powerbi/databases/v201606/workspaces", get(routing::routing_workspaces))
        .route(
            "/powerbi/databases/v201606/workspaces/{id}/getDatabaseName",
            post(routing::get_database_name),
        )
        .route("/webapi/clusterResolve", post(routing::cluster_resolve))
        .route("/powerbi/globalservice/v201606/clusterdetails", get(routing::cluster_details))
        .route("/metadata/v201606/generateastoken", post(routing::generate_as_token))
        .route(
            "/spglobalservice/GetOrInsertClusterUrisByTenantLocation",
            put(routing::legacy_cluster),
        )
        .route("/webapi/xmla", post(endpoint::xmla_cluster))
        .route("/xmla", post(endpoint::xmla_legacy))
        .route("/olap/msmdpump.dll", post(endpoint::xmla_pump))
}
