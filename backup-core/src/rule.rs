//! The rules' vocabulary, at the bottom of backup-core: the rule table (every rule the preflight checks, with its
//! class under each profile, from `power-bi-rules.md`), the ids of the rules only the server enforces, the rule
//! profiles, and what a finding is. Plain data: how a failed rule weighs ([`crate::preflight::severity`]) and how the
//! rules are evaluated live in the preflight, one layer up. [`RuleId`] is generated from the table, so an id
//! that is not in it does not compile.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Stops backup and restore before anything is sent.
    Block,
    /// Reported; the operation goes on.
    Warn,
    /// For information.
    Info,
}

/// What a rule found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The rule holds.
    Pass,
    /// The rule is broken.
    Fail,
    /// A fact is missing; the message says what to declare.
    Unknown,
}

/// One rule's verdict for one workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// Stable rule id (`SEED-01`, `LATER-30`, ...), as in the rules reference.
    pub rule: RuleId,
    /// Severity when the rule fails.
    pub severity: Severity,
    /// The verdict.
    pub status: Status,
    /// The workspace it is about.
    pub workspace: String,
    /// What was found, naming the workspace and the fact.
    pub message: String,
    /// What to do (empty when the rule holds).
    pub remedy: String,
    /// When the rule does not hold: its severity under the other profile, if that differs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub differs: Option<ProfileSeverity>,
}

/// How a finding would weigh under another profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSeverity {
    /// The other profile.
    pub profile: Profile,
    /// The severity there.
    pub severity: Severity,
}

impl Finding {
    /// Whether this finding stops the operation.
    pub fn blocks(&self) -> bool {
        self.status == Status::Fail && self.severity == Severity::Block
    }
}

/// Which version of the service's rules applies (`power-bi-rules.md`, "Rule profiles").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// The 2021 preview the product was specified against: admins only, multi-geo refused. Chosen by name.
    Seed,
    /// The service as documented today (revision \[D5\]): admins, members and contributors back up; restore as a
    /// new model needs admin; multi-geo is residency advice; the later rules that block there block. The default:
    /// users run against today's service.
    #[default]
    Current,
}

impl Profile {
    /// The other profile, for saying where a finding differs.
    pub fn other(self) -> Profile {
        match self {
            Profile::Seed => Profile::Current,
            Profile::Current => Profile::Seed,
        }
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Profile::Seed => "seed",
            Profile::Current => "current",
        })
    }
}

impl std::str::FromStr for Profile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "seed" => Ok(Profile::Seed),
            "current" => Ok(Profile::Current),
            _ => Err(format!(
                "'{s}' is not a rule profile; use current (the service as documented today, the default) or seed (the 2021 preview)"
            )),
        }
    }
}

/// How a rule's failure weighs when it is seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Blocks backup and restore (the preview's rules).
    Blocks,
    /// Warns, and blocks when `preflight.raise` lists it (later revisions, and what is unconfirmed).
    Warns,
    /// Informs; never blocks.
    Note,
}

/// One rule of the reference (`power-bi-rules.md`), as this tool checks it.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Stable id.
    pub id: RuleId,
    /// How its failure weighs under the `seed` profile.
    pub seed: Class,
    /// How its failure weighs under the `current` profile.
    pub current: Class,
    /// What it says, in a few words.
    pub title: &'static str,
}

impl Rule {
    /// Its class under `profile`.
    pub fn class(&self, profile: Profile) -> Class {
        match profile {
            Profile::Seed => self.seed,
            Profile::Current => self.current,
        }
    }
}

/// Generates [`RuleId`] and [`RULES`] from one table: a rule the preflight checks is written once, here.
macro_rules! rule_table {
    (
        checked { $( $v:ident $id:literal $seed:ident $current:ident $title:literal; )* }
        server_only { $( $sv:ident $sid:literal $stitle:literal; )* }
    ) => {
        /// A rule of `power-bi-rules.md` this tool knows: checked by the preflight, or enforced by the server and
        /// recognised in its refusals. Serialised as its id (`SEED-07`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum RuleId {
            $( #[doc = $title] $v, )*
            $( #[doc = $stitle] $sv, )*
        }

        impl RuleId {
            /// Every id, checked ones first, in the table's order.
            pub const ALL: &'static [RuleId] = &[$(RuleId::$v,)* $(RuleId::$sv,)*];

            /// The id as the rules reference writes it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( RuleId::$v => $id, )*
                    $( RuleId::$sv => $sid, )*
                }
            }

            /// What the rule says, in a few words.
            pub fn title(self) -> &'static str {
                match self {
                    $( RuleId::$v => $title, )*
                    $( RuleId::$sv => $stitle, )*
                }
            }
        }

        /// Every rule the preflight checks, with its class under each profile: the table "Rule profiles" of
        /// `power-bi-rules.md`, read rule by rule. LATER-23 blocks under both: a workspace the caller cannot see
        /// cannot be backed up by it at all.
        pub const RULES: &[Rule] = &[
            $( Rule { id: RuleId::$v, seed: $seed, current: $current, title: $title }, )*
        ];
    };
}

const B: Class = Class::Blocks;
const W: Class = Class::Warns;
const N: Class = Class::Note;

rule_table! {
    checked {
    Seed01 "SEED-01" B B "Premium, Embedded, Fabric or PPU capacity";
    Seed02 "SEED-02" B B "an ADLS Gen2 account attached to the workspace";
    Seed04 "SEED-04" B W "the capacity in the tenant's home region (today: advice, LATER-01)";
    Seed05 "SEED-05" B W "the storage account in the home region (today: LATER-17)";
    Seed06 "SEED-06" N N "backups stored outside the capacity's region";
    Seed07 "SEED-07" B N "only workspace admins back up and restore (today: LATER-07/08)";
    Seed08 "SEED-08" B B "a backup folder named after the workspace";
    Seed09 "SEED-09" B B "storage owner, and admin of the target workspace";
    Seed10 "SEED-10" N N "storage owners can read every backup";
    Seed12 "SEED-12" B W "a storage link made for backups, not dataflows only";
    Seed13 "SEED-13" B B "relinking needs the old folder renamed";
    Later05 "LATER-05" W B "large semantic model storage format to restore";
    Later06 "LATER-06" W B "enhanced metadata (V3) models only";
    Later07 "LATER-07" W B "workspace admin to restore a new model";
    Later08 "LATER-08" W B "admin, member or contributor to back up or restore over a model";
    Later02 "LATER-02" W B "the storage account not in a VNET";
    Later03 "LATER-03" W B "no firewall, no private endpoint on the storage account";
    Later04 "LATER-04" W B "shared key access allowed on the storage account";
    Later09 "LATER-09" W W "roles with the read permission only";
    Later11 "LATER-11" W W "the model fits the capacity's memory";
    Later15 "LATER-15" W B "a storage account with hierarchical namespace";
    Later16 "LATER-16" W B "the storage account in the Power BI tenant";
    Later23 "LATER-23" B B "a workspace the caller can see, not My workspace";
    Later25 "LATER-25" W B "compatibility level 1500 or higher";
    Later26 "LATER-26" W B "no table and expression of one name";
    Later30 "LATER-30" W W "a running capacity";
    }
    server_only {
        Later10 "LATER-10" "a restore over a model in use needs /forceRestore";
        Later12 "LATER-12" "the capacity's XMLA endpoint set to Read Write";
    }
}

/// `RULES.md` at the repository root: every rule this tool knows and how it weighs under each profile, written
/// from the table above (its one home); a test fails when the file and the table differ.
pub fn rules_markdown() -> String {
    let class = |c: Class| match c {
        Class::Blocks => "blocks",
        Class::Warns => "warns",
        Class::Note => "note",
    };
    let mut out = String::from(
        "# The rules pbi-backup knows\n\n\
         Written from the rule table in `backup-core/src/rule.rs` (its one home; a test fails when they differ). \
         `current` is the service as documented today and the default; `seed` is the 2021 preview, chosen by name \
         (`--rules seed`). A rule that warns blocks when `preflight.raise` lists it. The sources of each rule are in \
         the project's rules reference (`power-bi-rules.md`).\n\n\
         | rule | what it asks | `current` | `seed` |\n|---|---|---|---|\n",
    );
    for id in RuleId::ALL {
        let (current, seed) = match id.rule() {
            Some(r) => (class(r.current), class(r.seed)),
            None => (
                "the server's (recognised in its refusal)",
                "the server's (recognised in its refusal)",
            ),
        };
        out.push_str(&format!("| {} | {} | {current} | {seed} |\n", id.as_str(), id.title()));
    }
    out
}

impl RuleId {
    /// The rule the preflight checks under this id; `None` for a rule only the server enforces.
    pub fn rule(self) -> Option<&'static Rule> {
        RULES.iter().find(|r| r.id == self)
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RuleId {
    type Err = String;

    /// An id of the table, compared without regard to case.
    fn from_str(s: &str) -> Result<Self, String> {
        RuleId::ALL.iter().copied().find(|r| r.as_str().eq_ignore_ascii_case(s.trim())).ok_or_else(
            || {
                let valid: Vec<&str> = RULES.iter().map(|r| r.id.as_str()).collect();
                format!(
                    "'{s}' is not a rule this tool knows; the rules it checks are {}",
                    valid.join(", ")
                )
            },
        )
    }
}

impl PartialEq<&str> for RuleId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for RuleId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RuleId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Parses the rule ids of `preflight.raise`: only rules the preflight checks can be raised.
pub fn parse_raise(ids: &[String]) -> Result<Vec<RuleId>, String> {
    let mut out = Vec::with_capacity(ids.len());
    let mut unknown = Vec::new();
    for id in ids {
        match id.parse::<RuleId>() {
            Ok(r) if r.rule().is_some() => out.push(r),
            _ => unknown.push(id.as_str()),
        }
    }
    if unknown.is_empty() {
        return Ok(out);
    }
    let valid: Vec<&str> = RULES.iter().map(|r| r.id.as_str()).collect();
    Err(format!(
        "preflight.raise names {} this tool does not check ({}); the rules it checks are {}",
        if unknown.len() == 1 { "a rule" } else { "rules" },
        unknown.join(", "),
        valid.join(", ")
    ))
}

#[cfg(test)]
mod rules_file {
    /// RULES.md is the table's: `PBI_BACKUP_BLESS=1 cargo test -p backup-core rules_md` writes it anew.
    #[test]
    fn rules_md_is_written_from_the_table() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../RULES.md");
        let want = super::rules_markdown();
        if std::env::var("PBI_BACKUP_BLESS").as_deref() == Ok("1") {
            std::fs::write(&path, &want).unwrap();
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "RULES.md differs from the rule table; PBI_BACKUP_BLESS=1 cargo test -p backup-core rules_md writes it"
        );
    }
}
