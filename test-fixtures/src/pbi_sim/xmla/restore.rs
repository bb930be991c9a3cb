//! Restore: a backup read from the caller's backup folder, checked against the restore rules and put into the
//! simulator state as a semantic model.

use std::io::Cursor;

use super::answer::Message;
use super::request::{Restore, Security};
use abf_format::Report;
use adls_store::StoreExt;
use bytes::Bytes;
use serde_json::Value;

use super::target::{Action, Target, file_path, target_for};
use super::{Ctx, SIM_MODEL_FILE, codes, msg};

use crate::pbi_sim::Shared;
use crate::pbi_sim::scenario;
use crate::pbi_sim::state::{ModelState, State as SimState, now_string};

pub(super) async fn restore(
    shared: &Shared,
    ctx: &Ctx,
    r: &Restore,
) -> Result<Vec<Message>, Message> {
    // `ignoreIncompatibilities` and `forceRestore` are Power BI's (the XMLA backup and restore page); Analysis
    // Services and the msmdpump bridge do not know them.
    let power_bi = matches!(ctx, Ctx::Workspace { admin_by_door: false, .. });
    if !power_bi && (r.ignore_incompatibilities || r.force_restore) {
        return Err(msg(
            codes::UNSUPPORTED,
            "The ignoreIncompatibilities and forceRestore options are supported only for Power BI semantic models.",
        ));
    }
    let target = {
        let state = shared.state.lock().expect("poisoned");
        target_for(shared, &state, ctx, Action::Restore)?
    };
    let image = read_backup(&target, r).await?;
    // An encrypted backup opens only with the password it was made with.
    let image = if super::sealed::is_sealed(&image) {
        let password = r.password.as_deref();
        Bytes::from(super::sealed::open(&image, password).ok_or_else(|| {
            msg(
                codes::PASSWORD,
                "The backup file is encrypted and the password is missing or wrong. Give the password used at backup time.",
            )
        })?)
    } else {
        image
    };
    let report = inspect_backup(&target, r, &image)?;
    let side: Option<Value> = abf_format::read_file(Cursor::new(&image[..]), SIM_MODEL_FILE)
        .ok()
        .flatten()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let mut model = model_of(side.as_ref(), &report, &image);
    // The engine reads the whole file in, on a place on the capacity: the time a backup of that model takes.
    let speed = shared.state.lock().expect("poisoned").backup_mb_per_second;
    if let Some(speed) = speed.filter(|s| *s > 0.0) {
        tokio::time::sleep(std::time::Duration::from_secs_f64(model.size_mb as f64 / speed)).await;
    }
    apply_security(&mut model, r.security);
    let name = r.database_name.clone().unwrap_or_else(|| model.name.clone());
    let mut state = shared.state.lock().expect("poisoned");
    let existing = state.models.iter().position(|m| m.owner == target.owner && m.name == name);
    check_room(&state, &target, r, &model, &name, existing)?;
    let warnings = drop_incompatible_roles(&target, r, &mut model)?;
    if let Some(dropped) = shared.drop_on_restore.lock().expect("poisoned").clone() {
        model.tables.retain(|t| t.name != dropped);
    }
    if let Some(halved) = shared.halve_rows_on_restore.lock().expect("poisoned").clone() {
        for t in model.tables.iter_mut().filter(|t| t.name == halved) {
            t.rows /= 2;
        }
    }
    install(&mut state, &target, model, name, existing);
    shared.save(&state);
    Ok(warnings)
}

/// The backup file, read whole from the target's backup folder.
async fn read_backup(target: &Target, r: &Restore) -> Result<Bytes, Message> {
    let path = file_path(target, &r.file)?;
    let image = match target.store.get_bytes(&path).await {
        Ok(b) => b,
        Err(adls_store::Error::NotFound { .. }) => {
            return Err(msg(
                codes::FILE_MISSING,
                format!(
                    "The backup file '{}' was not found in the folder '{}/{}'. Place the .abf file in the workspace's backup folder before restoring.",
                    r.file, target.filesystem, target.folder
                ),
            ));
        }
        Err(e) => {
            return Err(msg(codes::NO_STORAGE, format!("The backup file could not be read: {e}")));
        }
    };
    Ok(image)
}

/// The backup's catalog, after the rules that need only the file: it is a whole `.abf`, its model is in the V3
/// format (LATER-06), and no table shares its name with an expression (LATER-26).
fn inspect_backup(target: &Target, r: &Restore, image: &Bytes) -> Result<Report, Message> {
    let report = abf_format::inspect(
        Cursor::new(&image[..]),
        abf_format::InspectOptions { full: true, ..Default::default() },
    )
    .map_err(|e| {
        msg(codes::CORRUPT_BACKUP, format!("The backup file '{}' could not be read: {e}", r.file))
    })?;
    if !report.valid {
        let problems: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
        return Err(msg(
            codes::CORRUPT_BACKUP,
            format!("The backup file '{}' is damaged: {}", r.file, problems.join("; ")),
        ));
    }
    // LATER-06: the catalog says which metadata format the model is in (2 is V3); a model without the column is let
    // through, since the service's handling of it is not documented.
    if target.power_bi && report.data_source_version.is_some_and(|v| v != 2) {
        return Err(msg(
            codes::NOT_V3,
            format!(
                "The backup file '{}' holds a model that is not in the enhanced metadata format (V3). Only V3 models can be restored.",
                r.file
            ),
        ));
    }
    // LATER-26: names compare without regard to case, as Analysis Services compares them.
    if let Some(clash) = report
        .tables
        .iter()
        .find(|t| report.expressions.iter().any(|e| e.eq_ignore_ascii_case(&t.name)))
    {
        return Err(msg(
            codes::NAME_CLASH,
            format!(
                "The table '{}' and a Power Query expression have the same name. Rename one of them and back the model up again.",
                clash.name
            ),
        ));
    }
    Ok(report)
}

/// What `Security` does to the roles, for a restore or an ASSL backup (the engine's Restore and Backup elements,
/// bi-shared-docs `security-element-xmla.md`: `SkipMembership` when absent).
pub(super) fn apply_security(model: &mut ModelState, security: Option<Security>) {
    match security.unwrap_or(Security::SkipMembership) {
        Security::CopyAll => {}
        Security::SkipMembership => {
            for role in &mut model.roles {
                role.members.clear();
            }
        }
        Security::IgnoreSecurity => model.roles.clear(),
    }
}

/// The model to restore: the simulator's side file when the backup has one, else what the catalog says.
fn model_of(side: Option<&Value>, report: &Report, image: &Bytes) -> ModelState {
    match side.and_then(|v| serde_json::from_value(v.clone()).ok()) {
        Some(m) => m,
        None => ModelState {
            id: String::new(),
            name: report.database.name.clone().unwrap_or_else(|| "Model".into()),
            owner: String::new(),
            compatibility_level: report.database.compatibility_level.unwrap_or(1600),
            size_mb: (image.len() as u64).div_ceil(1 << 20),
            tables: report
                .tables
                .iter()
                .map(|t| scenario::Table {
                    name: t.name.clone(),
                    columns: Vec::new(),
                    rows: 0,
                    measures: Vec::new(),
                })
                .collect(),
            roles: report
                .roles
                .iter()
                .map(|r| scenario::Role {
                    name: r.name.clone(),
                    permission: r
                        .permission()
                        .unwrap_or(abf_format::ModelPermission::Administrator)
                        .to_string(),
                    members: Vec::new(),
                })
                .collect(),
            relationships: Vec::new(),
            modified: String::new(),
            refreshes: Vec::new(),
        },
    }
}

/// The rules on what the target already holds: a model of the same name (AllowOverwrite), and the memory the
/// capacity allows (LATER-11 for the model alone, LATER-10 with the old model still loaded).
fn check_room(
    state: &SimState,
    target: &Target,
    r: &Restore,
    model: &ModelState,
    name: &str,
    existing: Option<usize>,
) -> Result<(), Message> {
    if let Some(role) = target.new_model_needs_admin.as_deref()
        && existing.is_none()
        && role != "Admin"
    {
        return Err(msg(
            codes::NOT_ADMIN,
            format!(
                "To restore a new semantic model, the user must be an admin of the workspace '{}' ({role}).",
                target.owner_name
            ),
        ));
    }
    if existing.is_some() && !r.allow_overwrite {
        return Err(msg(
            codes::DATABASE_EXISTS,
            format!(
                "The semantic model '{name}' already exists in '{}'. Set AllowOverwrite to restore over it, or restore under another name.",
                target.owner_name
            ),
        ));
    }
    if let Some(limit_gb) = target.limit_gb {
        let limit_mb = (limit_gb * 1024.0) as u64;
        let existing_mb = existing.map(|i| state.models[i].size_mb).unwrap_or(0);
        if model.size_mb > limit_mb {
            return Err(msg(
                codes::RESOURCE_GOVERNING,
                format!(
                    "Resource governing: This operation was canceled because there wasn't enough memory to finish running it. More details: model size {} MB, memory limit {limit_mb} MB.",
                    model.size_mb
                ),
            ));
        }
        if !r.force_restore && model.size_mb + existing_mb > limit_mb {
            return Err(msg(
                codes::NOT_ENOUGH_MEMORY,
                "We cannot restore the semantic model backup right now because there is not enough memory to complete this operation. Please use the /forceRestore option to restore the semantic model with the existing semantic model unloaded and offline.",
            ));
        }
    }
    Ok(())
}

/// LATER-09: on Power BI, roles without read permission refuse the restore, or are dropped with a warning under
/// ignoreIncompatibilities. Returns the warnings.
fn drop_incompatible_roles(
    target: &Target,
    r: &Restore,
    model: &mut ModelState,
) -> Result<Vec<Message>, Message> {
    let mut warnings = Vec::new();
    let incompatible: Vec<String> = model
        .roles
        .iter()
        .filter(|role| target.power_bi && !role.permission.eq_ignore_ascii_case("read"))
        .map(|role| role.name.clone())
        .collect();
    if !incompatible.is_empty() {
        if !r.ignore_incompatibilities {
            return Err(msg(
                codes::INCOMPATIBLE_ROLES,
                format!(
                    "The backup has roles without read permission ({}); Power BI Premium supports only the read permission for roles. Restore with ignoreIncompatibilities to drop them.",
                    incompatible.join(", ")
                ),
            ));
        }
        model.roles.retain(|role| !incompatible.contains(&role.name));
        warnings.push(Message {
            code: codes::INCOMPATIBLE_ROLES,
            description: format!(
                "Roles dropped because they lack read permission: {}",
                incompatible.join(", ")
            ),
        });
    }
    Ok(warnings)
}

/// Puts the restored model into the state under its name, in place of the existing one (keeping its id) or as a new
/// one.
fn install(
    state: &mut SimState,
    target: &Target,
    mut model: ModelState,
    name: String,
    existing: Option<usize>,
) {
    model.name = name;
    model.owner = target.owner.clone();
    model.modified = now_string();
    // A restored model is a new item: its refresh history starts empty.
    model.refreshes.clear();
    match existing {
        Some(i) => {
            model.id = state.models[i].id.clone();
            state.models[i] = model;
        }
        None => {
            model.id = uuid::Uuid::new_v4().to_string();
            state.models.push(model);
        }
    }
}
