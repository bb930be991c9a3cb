//! What each error says, its kind and its exit code, as snapshots: a change to a message a user reads, or to the
//! code a scheduler sees, shows in review.

use backup_core::ops::Failure;
use backup_core::output::ErrorInfo;
use backup_core::preflight::{Blocked, Finding, Severity, Status};
use backup_core::{Error, Service};

/// Every error, and a preflight that blocked (an outcome of the operations, not an error of the layers below, but
/// said and mapped to its exit code the same way).
fn every_error() -> Vec<Failure> {
    vec![
        Failure::from(Error::Usage("name the target with --workspace or --server".into())),
        Failure::from(Error::NotFound {
            what: "workspace",
            name: "Finanse".into(),
            nearest: vec!["Finance".into(), "Finance Copy".into()],
        }),
        Failure::from(Error::io(
            "/backups/Sales.abf",
            std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory"),
        )),
        Failure::from(Error::io(
            "standard output",
            std::io::Error::other("No space left on device"),
        )),
        Failure::from(Error::Auth(
            "the token endpoint refused the client secret (AADSTS7000215)".into(),
        )),
        Failure::from(Error::Refused {
            service: Service::PowerBiRest,
            what: "listing workspaces".into(),
            url: Some("https://api.powerbi.com/v1.0/myorg/groups".into()),
            status: Some(403),
            code: Some("PowerBINotAuthorizedException".into()),
            message: "the caller has no access".into(),
        }),
        Failure::from(Error::Refused {
            service: Service::XmlaRouting,
            what: "workspace 'My workspace'".into(),
            url: None,
            status: None,
            code: Some("WorkspaceNotOnPbiPremium".into()),
            message: "the workspace is not on a Premium or PPU capacity".into(),
        }),
        Failure::from(Error::BadAnswer {
            service: Service::XmlaRouting,
            what: "cluster resolution".into(),
            detail: "no clusterFQDN".into(),
        }),
        Failure::from(Error::Unreachable {
            url: "https://api.powerbi.com/".into(),
            reason: "connection refused".into(),
        }),
        Failure::from(Error::OutcomeUnknown {
            url: "https://cluster.example/webapi/xmla".into(),
            reason: "the connection was reset".into(),
            what: "backup of 'Sales' to 'Sales.abf' (TMSL)".into(),
        }),
        Failure::from(Error::Cancelled { what: "restore".into() }),
        Failure::Blocked(Blocked {
            what: "backup".into(),
            findings: vec![Finding {
                rule: backup_core::rule::RuleId::Seed07,
                severity: Severity::Block,
                status: Status::Fail,
                workspace: "Finance".into(),
                message: "the caller is Member, not Admin, of workspace 'Finance'".into(),
                remedy: "make the caller an admin of the workspace".into(),
                differs: None,
            }],
        }),
        Failure::from(Error::Integrity(
            "Sales.abf does not match its manifest; nothing was sent".into(),
        )),
        Failure::from(Error::Internal("cannot start the runtime: out of threads".into())),
    ]
}

#[test]
fn each_error_says_what_failed_and_maps_to_one_exit_code() {
    let table: Vec<String> = every_error()
        .iter()
        .map(|e| format!("{} (exit {}): {e}", e.kind(), e.exit_code()))
        .collect();
    insta::assert_snapshot!(table.join("\n"));
}

#[test]
fn a_refusal_in_json_carries_its_service_status_and_code() {
    let e = &every_error()[5];
    insta::assert_json_snapshot!(ErrorInfo::from(e));
}
