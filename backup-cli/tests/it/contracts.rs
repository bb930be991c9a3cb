//! Held to the published API descriptions: lists the REST API pages with `$top` and `$skip` are read to their end.

use backup_core::output::{BackupOutput, exit_codes};
use test_fixtures::tenant::RULES_SCENARIO as RULES;

use crate::support::Tenant;

/// A service that answers one item per page unless asked for more: every workspace and every role is still found
/// (the last workspace of the scenario is backed up, its admin check reads the roles past the first).
#[tokio::test(flavor = "multi_thread")]
async fn workspaces_and_roles_past_the_first_page_are_found() {
    let scenario = RULES.replacen("[tenant]\n", "[tenant]\nrest-default-page = 1\n", 1);
    assert_ne!(scenario, RULES, "the scenario has a [tenant] table");
    let t = Tenant::start(&scenario).await;
    let env = t.env("tenantlake");
    let out: BackupOutput = t.cli(&env, "backup -w 'Personal Premium' -d Forecast").ok().await;
    assert_eq!((out.succeeded, out.failed), (1, 0), "{out:?}");
    let err = t.cli(&env, "doctor -w 'Finance Cpy'").fails(exit_codes::USAGE).await;
    assert!(
        err.message.contains("Finance Copy"),
        "the nearest names come from every page: {err:?}"
    );
}
