//! `doctor`: every rule for each workspace, with the facts they were evaluated on.

use crate::error::{Error, Result};
use crate::ops::Context;
use crate::ops::output::{DoctorOutput, SignedIn};
use crate::preflight::{Fact, Operation, evaluate, facts_of, gather_facts};

/// Runs every rule for each workspace.
pub async fn doctor(session: &Context, workspaces: &[String]) -> Result<DoctorOutput> {
    let mut findings = Vec::new();
    let mut facts_seen = Vec::new();
    for (i, name) in workspaces.iter().enumerate() {
        let (facts, tenant) = gather_facts(session, name).await?;
        // A workspace the caller cannot see at all is an unknown name, as for every other command (exit 2, with
        // the nearest names), not a rule's verdict.
        if facts.group.is_none() {
            return Err(Error::NotFound {
                what: "workspace",
                name: name.clone(),
                nearest: facts.nearest,
            });
        }
        findings.extend(evaluate(Operation::Doctor, &facts, &tenant));
        if i == 0 {
            facts_seen.push(Fact {
                workspace: None,
                name: "home_region".into(),
                value: tenant.home_region.clone(),
                source: tenant.home_region_source,
            });
        }
        facts_seen.extend(facts_of(&facts, &tenant));
    }
    let blocked = findings.iter().any(|f| f.blocks());
    // The facts were read with a Power BI token, so asking again answers from the cache.
    let signed_in = match session.tokens() {
        Ok(tokens) if session.settings.credential().is_ok() => {
            let token = tokens.token(crate::service::auth::POWERBI_SCOPE).await.ok();
            let who =
                token.as_ref().and_then(crate::service::auth::Identity::of).unwrap_or_default();
            Some(SignedIn {
                credential: tokens.signed_in_with().await,
                oid: who.oid,
                appid: who.appid,
                upn: who.upn,
            })
        }
        _ => None,
    };
    Ok(DoctorOutput {
        facts: facts_seen,
        findings,
        blocked,
        storage: session.settings.store_description(),
        profile: session.settings.profile,
        signed_in,
    })
}
