//! Every message of `xmla-vectors.md` (copied verbatim into `tests/vectors/`, see its README).

use xmla_proto::{
    Catalog, Command, Error, Method, Outcome, Request, Security, SessionHeader, Syntax,
    parse_response,
};

use crate::vector;

fn execute(request: Request) -> xmla_proto::Execute {
    match request.method {
        Method::Execute(e) => e,
        Method::Discover(d) => panic!("expected Execute, got {d:?}"),
    }
}

/// Wraps a TMSL vector into an `Execute` the way SSMS sends a script: XML-escaped inside `<Statement>`.
fn in_statement(json: &[u8]) -> String {
    let json = std::str::from_utf8(json)
        .unwrap()
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><Execute xmlns="urn:schemas-microsoft-com:xml-analysis"><Command><Statement>{json}</Statement></Command><Properties><PropertyList/></Properties></Execute></soap:Body></soap:Envelope>"#
    )
}

#[test]
fn v1_execute_with_mdx_statement_and_properties() {
    let e = execute(Request::parse(&vector("V1.xml")).unwrap());
    let Command::Statement(s) = &e.command else { panic!("{:?}", e.command) };
    assert_eq!(s.trim(), "SELECT [Measures].MEMBERS ON COLUMNS FROM [Adventure Works]");
    assert_eq!(e.properties.catalog.as_deref(), Some("Adventure Works DW Multidimensional 2012"));
    assert_eq!(e.properties.format.as_deref(), Some("Multidimensional"));
    assert_eq!(
        e.properties.other,
        vec![
            ("DataSourceInfo".to_owned(), "Provider=MSOLAP;Data Source=local;".to_owned()),
            ("AxisFormat".to_owned(), "ClusterFormat".to_owned())
        ]
    );
}

#[test]
fn v2_discover_with_restriction() {
    let r = Request::parse(&vector("V2.xml")).unwrap();
    let Method::Discover(d) = r.method else { panic!("discover") };
    assert_eq!(d.request_type, "MDSCHEMA_CUBES");
    assert_eq!(
        d.restrictions,
        vec![("CATALOG_NAME".into(), "Adventure Works DW Multidimensional 2012".into())]
    );
    assert_eq!(d.properties.format.as_deref(), Some("Tabular"));
}

#[test]
fn v3_legacy_begin_session_is_read_leniently() {
    // As published, the body holds only a placeholder: refused, without a panic.
    let err = Request::parse(&vector("V3.xml")).unwrap_err();
    assert!(err.to_string().contains("holds no <Execute> or <Discover>"), "{err}");
    // With a real body, the undeclared xsi: prefix is tolerated and BeginSession is read.
    let v3 = String::from_utf8(vector("V3.xml")).unwrap();
    let v2 = String::from_utf8(vector("V2.xml")).unwrap();
    let repaired = v3.replace("...<!-- Discover or Execute call goes here.-->", &v2);
    let r = Request::parse(repaired.as_bytes()).unwrap();
    assert_eq!(r.session, Some(SessionHeader::Begin));
    assert!(matches!(r.method, Method::Discover(_)));
}

#[test]
fn v4_session_header_in_a_response() {
    let header = String::from_utf8(vector("V4.xml")).unwrap();
    let doc = format!(
        r#"<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">{header}<SOAP-ENV:Body><ExecuteResponse xmlns="urn:schemas-microsoft-com:xml-analysis">{}</ExecuteResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>"#,
        String::from_utf8(vector("V7.xml")).unwrap()
    );
    let r = parse_response(doc.as_bytes()).unwrap();
    assert_eq!(r.session_id.as_deref(), Some("581"));
    assert_eq!(r.outcome, Outcome::Succeeded);
}

#[test]
fn v5_session_and_end_session_headers() {
    let v5 = String::from_utf8(vector("V5.xml")).unwrap();
    let v2 = String::from_utf8(vector("V2.xml")).unwrap();
    let headers: Vec<&str> = v5.split("\n\n").map(str::trim).collect();
    assert_eq!(headers.len(), 2);
    let mut found = Vec::new();
    for header in headers {
        let doc = format!(
            r#"<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">{header}<SOAP-ENV:Body>{v2}</SOAP-ENV:Body></SOAP-ENV:Envelope>"#
        );
        found.push(Request::parse(doc.as_bytes()).unwrap().session.unwrap());
    }
    assert_eq!(found, vec![SessionHeader::Session("581".into()), SessionHeader::End("581".into())]);
}

#[test]
fn v7_empty_result_is_success() {
    let r = parse_response(&vector("V7.xml")).unwrap();
    assert_eq!(r.outcome, Outcome::Succeeded);
    assert!(r.rows.is_empty());
}

#[test]
fn v8_malformed_rowset_is_refused_and_its_repair_reads() {
    let err = parse_response(&vector("V8.xml")).unwrap_err();
    assert!(matches!(err, Error::Xml { .. }), "{err:?}");
    let repaired = String::from_utf8(vector("V8.xml"))
        .unwrap()
        .replacen("   </xsd:element>\n", "", 1)
        .replace("   ...\n", "")
        .replace("</root>", "</root></return>");
    let r = parse_response(repaired.as_bytes()).unwrap();
    assert_eq!(r.outcome, Outcome::Succeeded);
    assert_eq!(r.rows.len(), 1);
    let catalog = Catalog::from_row(&r.rows[0]).unwrap();
    assert_eq!(catalog.name, "FoodMart 2000");
    assert_eq!(catalog.date_modified.as_deref(), Some("3/11/2001 6:49:36 PM"));
    assert_eq!(catalog.description, None);
    assert_eq!(r.rows[0].get("ROLES"), Some("All Users"));
}

#[test]
fn v10_protocol_capabilities_syntax_block_is_refused_without_panic() {
    let err = Request::parse(&vector("V10.xml")).unwrap_err();
    assert!(err.to_string().contains("holds no <Execute> or <Discover>"), "{err}");
}

#[test]
fn v12_tmsl_restore_with_ignore_incompatibilities() {
    let e = execute(Request::parse(in_statement(&vector("V12.json")).as_bytes()).unwrap());
    let Command::Restore(r, Syntax::Tmsl) = e.command else { panic!("{:?}", e.command) };
    assert_eq!(r.database_name.as_deref(), Some("DB"));
    assert_eq!(r.file, "/Backup.abf");
    assert!(r.allow_overwrite && r.ignore_incompatibilities && !r.force_restore);
    assert_eq!(r.security, Some(Security::CopyAll));
}

#[test]
fn v14_tmsl_backup_with_password() {
    let e = execute(Request::parse(in_statement(&vector("V14.json")).as_bytes()).unwrap());
    let Command::Backup(b, Syntax::Tmsl) = e.command else { panic!("{:?}", e.command) };
    assert_eq!(b.database, "AS_AdventureWorksDW2014");
    assert_eq!(b.file, "AS_AdventureWorksDW2014.abf");
    assert_eq!(b.password.as_ref().map(|p| p.expose()), Some("secret"));
    assert!(b.apply_compression && !b.allow_overwrite);
}

#[test]
fn v15_invalid_reference_restore_is_refused() {
    let err = Request::parse(in_statement(&vector("V15.json")).as_bytes()).unwrap_err();
    let Error::Tmsl { command: "restore", message } = &err else { panic!("{err:?}") };
    assert!(
        message.contains("allowOverwrite")
            || message.contains("invalid type")
            || message.contains("unknown field"),
        "{message}"
    );
}

#[test]
fn v18_session_reply_with_trailing_nul() {
    let body = vector("V18.xml");
    assert_eq!(body.last(), Some(&0));
    let r = parse_response(&body).unwrap();
    assert_eq!(r.session_id.as_deref(), Some("fabric-emulator-session"));
    assert_eq!(r.outcome, Outcome::Succeeded);
    // Its fault counterpart, also followed by 0x00.
    let fault = b"<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body><soap:Fault><faultcode>XMLAnalysisError</faultcode><faultstring>\xE2\x80\xA6</faultstring></soap:Fault></soap:Body></soap:Envelope>\x00";
    let Outcome::Failed(f) = parse_response(fault).unwrap().outcome else {
        panic!("a fault is a failure")
    };
    let fault = f.fault.unwrap();
    assert_eq!((fault.code.as_str(), fault.string.as_str()), ("XMLAnalysisError", "…"));
}

#[test]
fn v19_live_power_bi_envelope_template() {
    let template = String::from_utf8(vector("V19.xml")).unwrap();
    let statement =
        r#"{"backup":{"database":"Sales & Co","file":"Sales.abf","allowOverwrite":true}}"#;
    let doc = template
        .replace("{statement}", &statement.replace('&', "&amp;"))
        .replace("{catalog}", "Sales &amp; Co");
    let e = execute(Request::parse(doc.as_bytes()).unwrap());
    let Command::Backup(b, Syntax::Tmsl) = e.command else { panic!("{:?}", e.command) };
    assert_eq!(b.database, "Sales & Co");
    assert!(b.allow_overwrite);
    assert_eq!(e.properties.catalog.as_deref(), Some("Sales & Co"));
    assert_eq!(e.properties.other, vec![("Content".to_owned(), "Data".to_owned())]);
}
