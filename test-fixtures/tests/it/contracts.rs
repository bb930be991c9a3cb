//! The contract check itself (`contracts/check.py`, run by `cargo xtask ci` over the whole suite's pbi-sim traffic)
//! can fail: an answer or a request the Power BI REST API description does not allow is found and named, and one it
//! allows passes. `PBI_BACKUP_PYTHON` names a python with `jsonschema` installed (`.ci/run` builds one). Unset, the
//! test says plainly that it did not run, unless `PBI_BACKUP_REQUIRE_PYTHON=1`.

use std::path::Path;

/// Runs the check over `records` (one JSON line each): its exit code and what it printed.
fn check(python: &std::ffi::OsStr, records: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pbi-sim-test.jsonl"), records.join("\n")).unwrap();
    let contracts = Path::new(env!("CARGO_MANIFEST_DIR")).join("contracts");
    let out = std::process::Command::new(python)
        .arg(contracts.join("check.py"))
        .arg(contracts.join("powerbi/swagger.json"))
        .arg(dir.path())
        .output()
        .unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[test]
#[allow(clippy::print_stderr, reason = "the check says when it did not run")]
fn the_contract_check_names_what_the_description_does_not_allow() {
    let Some(python) = std::env::var_os("PBI_BACKUP_PYTHON") else {
        assert!(
            std::env::var("PBI_BACKUP_REQUIRE_PYTHON").as_deref() != Ok("1"),
            "PBI_BACKUP_REQUIRE_PYTHON=1 but PBI_BACKUP_PYTHON is not set"
        );
        eprintln!("the contract check's own test did not run: PBI_BACKUP_PYTHON is not set");
        return;
    };
    let good = r#"{"method":"GET","path":"/v1.0/myorg/groups","query":[["$top","5000"],["$skip","0"]],"request":null,"status":200,"response":{"value":[{"id":"a8561234-78de-8fd8-1a8a-590c2c176746","name":"Finance","isOnDedicatedCapacity":true}]}}"#;
    let xmla = r#"{"method":"POST","path":"/webapi/xmla","query":[],"request":null,"status":200,"response":null}"#;
    let (code, text) = check(&python, &[good, xmla]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("1 requests and 1 answers validated"), "{text}");
    assert!(text.contains("1 other routes"), "{text}");
    let cases = [
        // A workspace id that is a number: the answer's schema says string.
        (
            r#"{"method":"GET","path":"/v1.0/myorg/groups","query":[],"request":null,"status":200,"response":{"value":[{"id":5,"name":"Finance"}]}}"#,
            "value/0/id: 5 is not of type 'string'",
        ),
        // A refresh answered 200: the operation declares 202.
        (
            r#"{"method":"POST","path":"/v1.0/myorg/groups/a/datasets/b/refreshes","query":[],"request":{"notifyOption":"NoNotification"},"status":200,"response":null}"#,
            "answered 200, which the operation does not declare (202)",
        ),
        // A query parameter the operation does not have, and one that is not an integer.
        (
            r#"{"method":"GET","path":"/v1.0/myorg/groups/a/users","query":[["$top","many"],["$skiptoken","x"]],"request":null,"status":200,"response":{"value":[]}}"#,
            "'$top' is 'many', not an integer",
        ),
        // A user entry without the fields the schema requires.
        (
            r#"{"method":"GET","path":"/v1.0/myorg/groups/a/users","query":[],"request":null,"status":200,"response":{"value":[{"groupUserAccessRight":"Admin"}]}}"#,
            "'principalType' is a required property",
        ),
        // A REST route the description does not have, and a route of no kind the check knows.
        (
            r#"{"method":"GET","path":"/v1.0/myorg/groups/a/backupAll","query":[],"request":null,"status":200,"response":{}}"#,
            "no operation of the description",
        ),
        (
            r#"{"method":"GET","path":"/nothing/known","query":[],"request":null,"status":404,"response":null}"#,
            "a route neither the REST description nor the list of other routes covers",
        ),
    ];
    for (record, expected) in cases {
        let (code, text) = check(&python, &[good, record]);
        assert_eq!(code, 1, "{record}: {text}");
        assert!(text.contains(expected), "{record}: {text}");
    }
}
