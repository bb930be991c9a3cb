//! `proptest` strategies for every message type, restricted to what XML 1.0 can carry.

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

use crate::command::{
    Backup, BackupLocation, Command, FolderMapping, ReadWriteMode, Restore, RestoreLocation,
    Security, Syntax,
};
use crate::password::Password;
use crate::request::{Discover, Execute, Method, Properties, Request, SessionHeader};
use crate::response::{Failure, Fault, Message, Outcome, Row};

/// Text XML can carry, biased towards the characters that need escaping, CR, tabs and non-ASCII.
pub fn xml_text() -> impl Strategy<Value = String> {
    vec(
        prop_oneof![
            3 => proptest::char::range('a', 'z'),
            1 => prop::sample::select(vec!['&', '<', '>', '"', '\'', ']', ' ', '\t', '\n', '\r', '/', '\\', '%', '#']),
            1 => prop::sample::select(vec!['é', 'ß', '日', '本', '🙂', '\u{FFFD}', '\u{E000}']),
        ],
        0..24,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

/// Non-empty [`xml_text`], for names.
pub fn xml_name() -> impl Strategy<Value = String> {
    xml_text().prop_filter("names are not empty", |s| !s.is_empty())
}

/// A simple XML element name.
pub fn element_name() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_.-]{0,12}"
}

fn security() -> impl Strategy<Value = Security> {
    prop_oneof![
        Just(Security::SkipMembership),
        Just(Security::CopyAll),
        Just(Security::IgnoreSecurity)
    ]
}

fn password() -> impl Strategy<Value = Option<Password>> {
    option::of(xml_name().prop_map(Password::new))
}

/// A backup valid in `syntax`.
pub fn backup(syntax: Syntax) -> impl Strategy<Value = Backup> {
    let assl = syntax == Syntax::Assl;
    (
        xml_name(),
        xml_name(),
        option::of(security()),
        any::<bool>(),
        any::<bool>(),
        password(),
        vec((xml_name(), option::of(xml_text())), 0..3),
    )
        .prop_map(
            move |(
                database,
                file,
                security,
                apply_compression,
                allow_overwrite,
                password,
                locs,
            )| {
                let locations: Vec<BackupLocation> = if assl {
                    locs.into_iter()
                        .map(|(file, data_source_id)| BackupLocation { file, data_source_id })
                        .collect()
                } else {
                    Vec::new()
                };
                Backup {
                    database,
                    file,
                    security: if assl { security } else { None },
                    apply_compression,
                    allow_overwrite,
                    password,
                    backup_remote_partitions: !locations.is_empty() && allow_overwrite,
                    locations,
                }
            },
        )
}

fn restore_location() -> impl Strategy<Value = RestoreLocation> {
    (
        option::of(xml_text()),
        option::of(xml_text()),
        option::of(prop::sample::select(vec!["Remote".to_owned(), "Local".to_owned()])),
        option::of(xml_text()),
        vec(
            (xml_text(), xml_text()).prop_map(|(original, new)| FolderMapping { original, new }),
            0..2,
        ),
    )
        .prop_map(|(file, data_source_id, data_source_type, connection_string, folders)| {
            RestoreLocation { file, data_source_id, data_source_type, connection_string, folders }
        })
}

/// A restore together with the syntax it must be written in.
pub fn restore() -> impl Strategy<Value = (Restore, Syntax)> {
    (
        xml_name(),
        option::of(xml_name()),
        option::of(xml_name()),
        option::of(security()),
        any::<bool>(),
        password(),
        vec(restore_location(), 0..2),
        option::of(xml_text()),
        option::of(prop_oneof![
            Just(ReadWriteMode::ReadWrite),
            Just(ReadWriteMode::ReadOnly),
            Just(ReadWriteMode::ReadOnlyExclusive)
        ]),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(
                file,
                database_name,
                database_id,
                security,
                allow_overwrite,
                password,
                locations,
                db_storage_location,
                read_write_mode,
                ignore_incompatibilities,
                force_restore,
            )| {
                let mut r = Restore {
                    file,
                    database_name,
                    database_id,
                    security,
                    allow_overwrite,
                    password,
                    locations,
                    db_storage_location,
                    read_write_mode,
                    ignore_incompatibilities,
                    force_restore,
                };
                let syntax = r.required_syntax();
                if syntax == Syntax::Tmsl {
                    // TMSL restores name the database and carry no ASSL-only children.
                    r.database_name.get_or_insert_with(|| "Model".to_owned());
                    r.database_id = None;
                    r.locations.clear();
                }
                (r, syntax)
            },
        )
}

/// Any command this crate writes.
pub fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        backup(Syntax::Assl).prop_map(|b| Command::Backup(b, Syntax::Assl)),
        backup(Syntax::Tmsl).prop_map(|b| Command::Backup(b, Syntax::Tmsl)),
        restore().prop_map(|(r, s)| Command::Restore(r, s)),
        // Statements that are not TMSL backup/restore JSON: anything not starting with '{' after trimming.
        xml_text()
            .prop_filter("not json", |s| !s.trim_start().starts_with('{'))
            .prop_map(Command::Statement),
    ]
}

fn properties() -> impl Strategy<Value = Properties> {
    (
        option::of(xml_text()),
        option::of(any::<u32>()),
        option::of(any::<u32>()),
        option::of(prop::sample::select(vec!["Tabular".to_owned(), "Multidimensional".to_owned()])),
        vec((element_name(), xml_text()), 0..3),
    )
        .prop_map(|(catalog, timeout, locale_identifier, format, other)| {
            let other = other
                .into_iter()
                .filter(|(k, _)| {
                    !matches!(k.as_str(), "Catalog" | "Timeout" | "LocaleIdentifier" | "Format")
                })
                .collect();
            Properties { catalog, timeout, locale_identifier, format, other }
        })
}

/// Any request this crate writes.
pub fn request() -> impl Strategy<Value = Request> {
    let session = option::of(prop_oneof![
        Just(SessionHeader::Begin),
        xml_name().prop_map(SessionHeader::Session),
        xml_name().prop_map(SessionHeader::End),
    ]);
    let method = prop_oneof![
        (command(), properties())
            .prop_map(|(command, properties)| Method::Execute(Execute { command, properties })),
        (element_name(), vec((element_name(), xml_text()), 0..3), properties()).prop_map(
            |(request_type, restrictions, properties)| Method::Discover(Discover {
                request_type,
                restrictions,
                properties
            })
        ),
    ];
    (session, method).prop_map(|(session, method)| Request { session, method })
}

/// A server message.
pub fn message() -> impl Strategy<Value = Message> {
    (option::of(any::<u32>()), xml_text(), option::of(xml_text()), option::of(xml_name())).prop_map(
        |(code, description, source, help_file)| Message { code, description, source, help_file },
    )
}

/// An outcome of a command.
pub fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        Just(Outcome::Succeeded),
        vec(message(), 1..4).prop_map(Outcome::SucceededWithWarnings),
        (vec(message(), 1..4), vec(message(), 0..3)).prop_map(
            |(errors, warnings)| Outcome::Failed(Failure { errors, warnings, fault: None })
        ),
        (xml_text(), xml_text(), option::of(xml_text()), vec(message(), 0..3)).prop_map(
            |(code, string, actor, errors)| Outcome::Failed(Failure {
                errors,
                warnings: Vec::new(),
                fault: Some(Fault { code: code.trim().to_owned(), string, actor })
            })
        ),
    ]
}

/// Rows sharing one column set.
pub fn rows() -> impl Strategy<Value = (Vec<String>, Vec<Row>)> {
    vec(xml_name(), 1..4).prop_flat_map(|columns| {
        let n = columns.len();
        let cols = columns.clone();
        (
            Just(columns),
            vec(vec(option::of(xml_text()), n), 0..5).prop_map(move |values| {
                values
                    .into_iter()
                    .map(|vals| Row { columns: cols.iter().cloned().zip(vals).collect() })
                    .collect()
            }),
        )
    })
}
