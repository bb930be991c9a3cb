//! The service's documented refusals, recognised by their text and named by the rule they enforce, so that a
//! refusal says its rule and its remedy, not only the raw text (`fidelity.md`, "Documented server texts").

use crate::rule::RuleId;

/// A rule the server enforced, and what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerRule {
    /// The rule id of `power-bi-rules.md`.
    pub rule: RuleId,
    /// What to do.
    pub remedy: &'static str,
}

/// Each documented text (lowercase, as a part of the message) and its rule.
const TEXTS: &[(&str, ServerRule)] = &[
    (
        "/forcerestore",
        ServerRule {
            rule: RuleId::Later10,
            remedy: "restore again with --force-restore: the existing model is unloaded and offline while the restore runs",
        },
    ),
    (
        "key based authentication is not permitted",
        ServerRule {
            rule: RuleId::Later04,
            remedy: "allow storage account key access on the storage account (Configuration); Power BI reads and writes backups with it",
        },
    ),
    (
        "xmla read/write",
        ServerRule {
            rule: RuleId::Later12,
            remedy: "set the capacity's XMLA endpoint to Read Write (capacity settings, Power BI workloads)",
        },
    ),
];

/// The rule a server's message is the documented refusal of, if any.
pub fn server_rule(message: &str) -> Option<ServerRule> {
    let lower = message.to_lowercase();
    TEXTS.iter().find(|(text, _)| lower.contains(text)).map(|(_, rule)| *rule)
}

/// Refusals for load: the capacity runs too many operations now; nothing ran, and the same command may be sent
/// again later. The text is Microsoft's for a refresh the capacity throttles ("Refresh operation throttled by Power
/// BI Premium", the refresh troubleshooting page); that a backup or restore is refused with it is not documented
/// (ARCHITECTURE.md, "Where the sources are silent").
const LOAD_TEXTS: &[&str] = &["throttled by power bi premium"];

/// Whether a failure is a refusal for load (see `LOAD_TEXTS`): then nothing ran, and sending it again later is
/// safe.
pub fn refused_for_load(failure: &xmla_proto::Failure) -> bool {
    failure.errors.iter().any(|m| {
        let lower = m.description.to_lowercase();
        LOAD_TEXTS.iter().any(|t| lower.contains(t))
    })
}

/// The rule of the first of a failure's errors that is a documented refusal.
pub fn failure_rule(failure: &xmla_proto::Failure) -> Option<ServerRule> {
    failure.errors.iter().find_map(|m| server_rule(&m.description))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_texts_name_their_rules() {
        let force = "We cannot restore the semantic model backup right now because there is not enough memory to complete this operation. Please use the /forceRestore option to restore the semantic model with the existing semantic model unloaded and offline.";
        assert_eq!(server_rule(force).map(|r| r.rule), Some(RuleId::Later10));
        let key = "Key based authentication is not permitted on this storage account.";
        assert_eq!(server_rule(key).map(|r| r.rule), Some(RuleId::Later04));
        let read_only = "It looks like you can't make changes to this dataset. Make sure XMLA read/write support is enabled";
        assert_eq!(server_rule(read_only).map(|r| r.rule), Some(RuleId::Later12));
        assert_eq!(server_rule("The database 'Q1' exists"), None);
    }
}
