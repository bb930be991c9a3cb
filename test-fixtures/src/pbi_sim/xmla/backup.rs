//! Backup: the model written as a real `.abf` container into the caller's backup folder.

use std::io::Cursor;

use super::answer::Message;
use super::request::{Backup, Syntax};
use adls_store::{PutMode, StoreExt};
use serde_json::Value;

use super::target::{Action, file_path, target_for};
use super::{Ctx, SIM_MODEL_FILE, codes, msg, not_found};

use crate::pbi_sim::Shared;

pub(super) async fn backup(
    shared: &Shared,
    ctx: &Ctx,
    b: &Backup,
    syntax: Syntax,
) -> Result<(), Message> {
    let (target, mut model) = {
        let state = shared.state.lock().expect("poisoned");
        let target = target_for(shared, &state, ctx, Action::Backup)?;
        // As the engine reads them: ASSL's `Object/DatabaseID` is an ID, TMSL's `database` a name.
        let model = state
            .models
            .iter()
            .find(|m| {
                m.owner == target.owner
                    && match syntax {
                        Syntax::Assl => m.id.eq_ignore_ascii_case(&b.database),
                        Syntax::Tmsl => m.name == b.database,
                    }
            })
            .cloned()
            .ok_or_else(|| not_found(&b.database))?;
        (target, model)
    };
    let path = file_path(&target, &b.file)?;
    if !b.allow_overwrite && target.store.head(&path).await.is_ok() {
        return Err(msg(
            codes::FILE_EXISTS,
            format!(
                "The file '{}' already exists in the backup folder of '{}'. Set AllowOverwrite to replace it, or choose another name.",
                b.file, target.owner_name
            ),
        ));
    }
    // What the file keeps of the roles. ASSL's Backup element takes `Security`, whose documented default is
    // `SkipMembership` (bi-shared-docs `security-element-xmla.md`, written for Backup and Restore): the file keeps the
    // roles and drops their members. The TMSL command has no such option and no source says what it keeps; this
    // simulator takes the conservative reading, the engine's default: no members (listed in ARCHITECTURE.md).
    let security = if syntax == Syntax::Assl { b.security } else { None };
    super::restore::apply_security(&mut model, security);
    let side = serde_json::to_value(&model).unwrap_or(Value::Null);
    let spec = abf_format::ModelSpec {
        name: model.name.clone(),
        compatibility_level: model.compatibility_level,
        tables: model
            .tables
            .iter()
            .map(|t| abf_format::TableSpec {
                name: t.name.clone(),
                partitions: vec![t.name.clone()],
            })
            .collect(),
        expressions: Vec::new(),
        // The catalog's numbers for a role's permission: abf-format's ModelPermission (the container format's one
        // home, shared with the client as the format itself is); an unknown name is Administrator, as before.
        roles: model
            .roles
            .iter()
            .map(|r| abf_format::RoleSpec {
                name: r.name.clone(),
                model_permission: r
                    .permission
                    .parse::<abf_format::ModelPermission>()
                    .unwrap_or(abf_format::ModelPermission::Administrator)
                    .catalog_value(),
                members: r.members.clone(),
            })
            .collect(),
        // Enhanced metadata (V3, needs compatibility level 1465 or higher), as Power BI Desktop writes today.
        data_source_version: (model.compatibility_level >= 1465).then_some(2),
    };
    let side = serde_json::to_vec_pretty(&side).unwrap_or_default();
    let options = abf_format::WriterOptions { compress: b.apply_compression, crc: true };
    let definition = definition_of(&model);
    let image = abf_format::write_model_with(
        Cursor::new(Vec::new()),
        &spec,
        Some(&definition),
        &[(SIM_MODEL_FILE, &side)],
        options,
    )
    .map_err(|e| msg(codes::UNSUPPORTED, format!("The backup could not be written: {e}")))?
    .into_inner();
    // A password seals the whole image (the simulator's own format: see `sealed`).
    let image = match &b.password {
        Some(p) => super::sealed::seal(&image, p).map_err(|e| {
            msg(codes::UNSUPPORTED, format!("The backup could not be encrypted: {e}"))
        })?,
        None => image,
    };
    target.store.put(&path, image.into(), PutMode::Overwrite).await.map_err(|e| {
        msg(codes::NO_STORAGE, format!("The backup could not be written to storage: {e}"))
    })?;
    Ok(())
}

/// The model's tables' columns (text), measures and relationships, as the catalog of its backups holds them.
fn definition_of(model: &super::super::state::ModelState) -> abf_format::Definition {
    let split = |s: &str| -> (String, String) {
        match s.split_once('[') {
            Some((t, c)) => {
                (t.trim().trim_matches('\'').to_owned(), c.trim_end_matches(']').to_owned())
            }
            None => (s.to_owned(), String::new()),
        }
    };
    abf_format::Definition {
        tables: model
            .tables
            .iter()
            .map(|t| abf_format::DefTable {
                name: t.name.clone(),
                columns: t
                    .columns
                    .iter()
                    .map(|c| abf_format::DefColumn {
                        name: c.clone(),
                        data_type: "string".into(),
                        kind: "data".into(),
                        expression: None,
                    })
                    .collect(),
                measures: t
                    .measures
                    .iter()
                    .map(|m| abf_format::DefMeasure {
                        name: m.name.clone(),
                        expression: m.expression.clone(),
                        display_folder: None,
                        format_string: None,
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        relationships: model
            .relationships
            .iter()
            .map(|r| {
                let ((from_table, from_column), (to_table, to_column)) =
                    (split(&r.from), split(&r.to));
                abf_format::DefRelationship {
                    from_table,
                    from_column,
                    to_table,
                    to_column,
                    active: true,
                    cardinality: "many_to_one".into(),
                    cross_filter: "single".into(),
                }
            })
            .collect(),
        ..Default::default()
    }
}
