//! Snapshots of every request form, and the refusals of values XML cannot carry.

use xmla_proto::{
    Backup, BackupLocation, Command, Discover, Error, FolderMapping, Method, Password, Properties,
    ReadWriteMode, Request, Restore, RestoreLocation, Security, SessionHeader, Syntax,
};

fn xml(request: &Request) -> String {
    let xml = request.to_xml().expect("writes");
    // Everything written must read back to the same value.
    assert_eq!(&Request::parse(xml.as_bytes()).expect("parses back"), request);
    xml
}

fn exec(command: Command) -> String {
    xml(&Request::execute(command))
}

#[test]
fn backup_assl_forms() {
    let base = || Backup::new("Sales", "Sales.abf");
    insta::assert_snapshot!("backup_assl_defaults", exec(Command::backup(base())));
    let mut b = base();
    b.allow_overwrite = true;
    insta::assert_snapshot!("backup_assl_allow_overwrite", exec(Command::backup(b)));
    let mut b = base();
    b.apply_compression = false;
    insta::assert_snapshot!("backup_assl_no_compression", exec(Command::backup(b)));
    let mut b = base();
    b.password = Some(Password::new("p@ss<word>"));
    insta::assert_snapshot!("backup_assl_password", exec(Command::backup(b)));
    for security in [Security::SkipMembership, Security::CopyAll, Security::IgnoreSecurity] {
        let mut b = base();
        b.security = Some(security);
        insta::assert_snapshot!(
            format!("backup_assl_security_{security}"),
            exec(Command::backup(b))
        );
    }
    let mut b = base();
    b.backup_remote_partitions = true;
    b.locations = vec![BackupLocation {
        file: "remote.abf".into(),
        data_source_id: Some("Remote DS".into()),
    }];
    insta::assert_snapshot!("backup_assl_remote_partitions", exec(Command::backup(b)));
}

#[test]
fn backup_tmsl_forms() {
    let base = || Backup::new("Sales & Marketing", "/Sales.abf");
    insta::assert_snapshot!("backup_tmsl_defaults", exec(Command::backup_tmsl(base())));
    let mut b = base();
    b.allow_overwrite = true;
    b.apply_compression = false;
    b.password = Some(Password::new("secret"));
    insta::assert_snapshot!("backup_tmsl_all_options", exec(Command::backup_tmsl(b)));
}

#[test]
fn restore_assl_forms() {
    let base = || Restore::new("Sales.abf");
    insta::assert_snapshot!("restore_assl_defaults", exec(Command::restore(base())));
    let mut r = base();
    r.database_name = Some("Sales (restored)".into());
    r.database_id = Some("Sales-2".into());
    r.allow_overwrite = true;
    r.security = Some(Security::CopyAll);
    r.password = Some(Password::new("secret"));
    r.read_write_mode = Some(ReadWriteMode::ReadOnly);
    r.db_storage_location = Some(r"\\server\share\data".into());
    r.locations = vec![RestoreLocation {
        file: Some("remote.abf".into()),
        data_source_id: Some("DS".into()),
        data_source_type: Some("Remote".into()),
        connection_string: Some("Provider=MSOLAP;Data Source=remote".into()),
        folders: vec![FolderMapping { original: r"C:\old".into(), new: r"D:\new".into() }],
    }];
    let command = Command::restore(r);
    assert!(matches!(command, Command::Restore(_, Syntax::Assl)));
    insta::assert_snapshot!("restore_assl_all_options", exec(command));
}

#[test]
fn restore_with_power_bi_only_options_is_tmsl() {
    let mut r = Restore::new("/Backup.abf");
    r.database_name = Some("DB".into());
    r.allow_overwrite = true;
    r.security = Some(Security::CopyAll);
    r.ignore_incompatibilities = true;
    let command = Command::restore(r.clone());
    assert!(matches!(command, Command::Restore(_, Syntax::Tmsl)));
    insta::assert_snapshot!("restore_tmsl_ignore_incompatibilities", exec(command));

    let mut r2 = Restore::new("Sales.abf");
    r2.database_name = Some("Sales".into());
    r2.force_restore = true;
    r2.read_write_mode = Some(ReadWriteMode::ReadOnlyExclusive);
    r2.password = Some(Password::new("secret"));
    r2.db_storage_location = Some("x".into());
    insta::assert_snapshot!("restore_tmsl_force_restore", exec(Command::restore(r2)));

    // Forcing ASSL for a TMSL-only option is refused before anything is written.
    let err = Request::execute(Command::Restore(r, Syntax::Assl)).to_xml().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid command: ignoreIncompatibilities exist only in TMSL; send the restore as TMSL"
    );
    // TMSL needs the database name.
    let mut nameless = Restore::new("x.abf");
    nameless.force_restore = true;
    let err = Request::execute(Command::restore(nameless)).to_xml().unwrap_err();
    assert!(err.to_string().contains("must name the database"), "{err}");
}

#[test]
fn discover_and_session_forms() {
    insta::assert_snapshot!("discover_catalogs", xml(&Request::discover(Discover::catalogs())));
    insta::assert_snapshot!("discover_tables", xml(&Request::discover(Discover::tables("Sales"))));
    let mut with_props =
        Request::execute(Command::Statement("SELECT * FROM $SYSTEM.DBSCHEMA_CATALOGS".into()));
    if let Method::Execute(e) = &mut with_props.method {
        e.properties = Properties {
            catalog: Some("Sales".into()),
            timeout: Some(3600),
            locale_identifier: Some(1033),
            format: Some("Tabular".into()),
            other: vec![("DbpropMsmdRequestMemoryLimit".into(), "1024".into())],
        };
    }
    insta::assert_snapshot!("execute_statement_with_properties", xml(&with_props));
    for (name, session) in [
        ("begin", SessionHeader::Begin),
        ("session", SessionHeader::Session("7C1E5D2A-0000-4F1B-9C31-2D8F0E9A1B2C".into())),
        ("end", SessionHeader::End("7C1E5D2A-0000-4F1B-9C31-2D8F0E9A1B2C".into())),
    ] {
        let mut r = Request::discover(Discover::catalogs());
        r.session = Some(session);
        insta::assert_snapshot!(format!("discover_catalogs_session_{name}"), xml(&r));
    }
}

#[test]
fn soap_action_matches_the_method() {
    assert_eq!(
        Request::discover(Discover::catalogs()).soap_action(),
        "\"urn:schemas-microsoft-com:xml-analysis:Discover\""
    );
    assert_eq!(
        Request::execute(Command::backup(Backup::new("a", "b"))).soap_action(),
        "\"urn:schemas-microsoft-com:xml-analysis:Execute\""
    );
}

#[test]
fn awkward_names_round_trip_exactly() {
    for name in [
        "A & B",
        "<Sales>",
        "quote \" and ' apostrophe",
        "end ]]> of cdata",
        "Ventes été 日本 🙂",
        "tab\tcr\rlf\n",
    ] {
        let backup = Backup::new(name, format!("{name}.abf"));
        for command in [Command::backup(backup.clone()), Command::backup_tmsl(backup)] {
            exec(command);
        }
        let mut r = Restore::new(format!("{name}.abf"));
        r.database_name = Some(name.into());
        exec(Command::restore(r.clone()));
        r.force_restore = true;
        exec(Command::restore(r));
    }
}

#[test]
fn values_xml_cannot_carry_are_refused_before_writing() {
    let err = Request::execute(Command::backup(Backup::new("bad\u{0}name", "x.abf")))
        .to_xml()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidValue { field: "DatabaseID", .. }));
    insta::assert_snapshot!(err.to_string(), @r"invalid DatabaseID 'bad\0name': it holds the character U+0000, which XML 1.0 cannot carry; remove it or choose another name");
    let err = Request::execute(Command::backup_tmsl(Backup::new("ok", "bad\u{1B}.abf")))
        .to_xml()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidValue { field: "File", .. }), "{err}");
    let err = Request::execute(Command::backup(Backup::new("ok", ""))).to_xml().unwrap_err();
    assert_eq!(err.to_string(), "invalid File '': it is empty; give a name");
    let mut r = Restore::new("x.abf");
    r.database_name = Some("\u{FFFF}".into());
    assert!(Request::execute(Command::restore(r)).to_xml().is_err());
}

#[test]
fn passwords_never_print_but_are_sent() {
    let mut b = Backup::new("Sales", "Sales.abf");
    b.password = Some(Password::new("hunter2"));
    let command = Command::backup(b);
    assert!(!format!("{command:?}").contains("hunter2"));
    assert!(!command.describe().contains("hunter2"));
    assert!(exec(command).contains("<Password>hunter2</Password>"));
    // A password XML cannot carry is refused without echoing it.
    let mut b = Backup::new("Sales", "Sales.abf");
    b.password = Some(Password::new("bad\u{2}secret"));
    let err = Request::execute(Command::backup(b)).to_xml().unwrap_err().to_string();
    assert!(!err.contains("secret"), "{err}");
}

#[test]
fn parse_refuses_what_servers_refuse() {
    let cases: &[(&str, &str)] = &[
        ("<Execute><Command/></Execute>", "<Command> is empty"),
        (
            "<Execute><Command><Backup><File>a</File></Backup></Command></Execute>",
            "<Backup> is missing its required <Object>",
        ),
        (
            "<Execute><Command><Backup><Object><CubeID>c</CubeID></Object><File>a</File></Backup></Command></Execute>",
            "<Backup><Object> must name a database",
        ),
        (
            "<Execute><Command><Restore><DatabaseName>a</DatabaseName></Restore></Command></Execute>",
            "missing its required <File>",
        ),
        (
            "<Execute><Command><Restore><File>a</File><File>b</File></Restore></Command></Execute>",
            "holds <File> more than once",
        ),
        (
            "<Execute><Command><Backup><Object><DatabaseID>d</DatabaseID></Object><File>a</File><AllowOverwrite>yes</AllowOverwrite></Backup></Command></Execute>",
            "not an xs:boolean",
        ),
        (
            "<Execute><Command><Backup><Object><DatabaseID>d</DatabaseID></Object><File>a</File><Security>All</Security></Backup></Command></Execute>",
            "use SkipMembership, CopyAll or IgnoreSecurity",
        ),
        ("<Execute><Command><Process/></Command></Execute>", "unsupported: the command <Process>"),
        ("<Envelope><Body/></Envelope>", "holds no <Execute> or <Discover>"),
        ("<Discover/>", "has no <RequestType>"),
        ("<html/>", "expected a soap <Envelope>"),
        ("<Execute><Command><Backup>", "truncated"),
    ];
    for (input, expected) in cases {
        let err = Request::parse(input.as_bytes()).expect_err(input).to_string();
        assert!(err.contains(expected), "{input}: {err}");
    }
}

#[test]
fn parse_takes_any_child_order_and_xs_boolean_forms() {
    let input = r#"<Execute xmlns="urn:schemas-microsoft-com:xml-analysis"><Command>
        <Backup xmlns="http://schemas.microsoft.com/analysisservices/2003/engine">
          <AllowOverwrite>1</AllowOverwrite><ApplyCompression> 0 </ApplyCompression>
          <File>b.abf</File><Object><DatabaseID>d</DatabaseID></Object><Password></Password>
        </Backup></Command></Execute>"#;
    let Method::Execute(e) = Request::parse(input.as_bytes()).unwrap().method else {
        panic!("execute")
    };
    let Command::Backup(b, Syntax::Assl) = e.command else { panic!("backup") };
    assert_eq!((b.database.as_str(), b.file.as_str()), ("d", "b.abf"));
    assert!(b.allow_overwrite && !b.apply_compression);
    assert_eq!(b.password, None, "an empty password means no encryption");
}
