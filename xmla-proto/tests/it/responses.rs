//! The tolerance rules for responses, one case each.

use xmla_proto::{Error, Fault, Message, Outcome, parse_response, write_failure, write_success};

const ENV_START: &str = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><ExecuteResponse xmlns="urn:schemas-microsoft-com:xml-analysis"><return>"#;
const ENV_END: &str = "</return></ExecuteResponse></soap:Body></soap:Envelope>";

fn wrap(inner: &str) -> String {
    format!("{ENV_START}{inner}{ENV_END}")
}

fn failure(body: &str) -> xmla_proto::Failure {
    match parse_response(body.as_bytes()).unwrap().outcome {
        Outcome::Failed(f) => f,
        other => panic!("expected failure, got {other:?}"),
    }
}

#[test]
fn error_inside_http_200_is_failure_with_code_description_and_source() {
    let body = wrap(
        r#"<root xmlns="urn:schemas-microsoft-com:xml-analysis:empty"><Exception xmlns="urn:schemas-microsoft-com:xml-analysis:exception"/><Messages xmlns="urn:schemas-microsoft-com:xml-analysis:exception"><Error ErrorCode="3238002695" Description="The database with the name of 'Sales' already exists." Source="Microsoft SQL Server Analysis Services" HelpFile=""/></Messages></root>"#,
    );
    let f = failure(&body);
    assert_eq!(f.errors.len(), 1);
    let e = &f.errors[0];
    assert_eq!(e.code, Some(3_238_002_695));
    assert_eq!(e.source.as_deref(), Some("Microsoft SQL Server Analysis Services"));
    assert_eq!(e.help_file, None);
    insta::assert_snapshot!(f.to_string(), @"error 0xC1000007 (-1056964601): The database with the name of 'Sales' already exists. [source: Microsoft SQL Server Analysis Services]");
}

#[test]
fn documented_namespace_and_message_wrapper_are_accepted() {
    let body = wrap(
        r#"<root xmlns="urn:schemas-microsoft-com:xml-analysis:empty"><x:Exception xmlns:x="http://schemas.microsoft.com/analysisservices/2003/exception"/><x:Messages xmlns:x="http://schemas.microsoft.com/analysisservices/2003/exception"><x:Message><x:Error ErrorCode="-1052311437" Description="We had to move the session with ID 'abc' to another Power BI Premium node."/></x:Message></x:Messages></root>"#,
    );
    let f = failure(&body);
    assert_eq!(f.errors[0].code, Some(0xC147_0073));
    assert!(f.errors[0].description.contains("move the session"));
}

#[test]
fn exception_with_only_warnings_is_success_with_warnings() {
    let body = wrap(
        r#"<root xmlns="urn:schemas-microsoft-com:xml-analysis:empty"><Exception/><Messages><Warning WarningCode="1092550657" Description="Roles were dropped." Source="PBI"/><Warning ErrorCode="-5" Description="Second."/></Messages></root>"#,
    );
    let Outcome::SucceededWithWarnings(w) = parse_response(body.as_bytes()).unwrap().outcome else {
        panic!("warnings only is a success")
    };
    assert_eq!(w[0].code, Some(1_092_550_657));
    assert_eq!(w[1].code, Some(0xFFFF_FFFB));
}

#[test]
fn errors_in_a_fault_detail_are_failures_whatever_the_status() {
    let body = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault><faultcode>XMLForAnalysis.0xc10a0004</faultcode><faultstring>Either the database 'x' does not exist, or you do not have permissions to access it.</faultstring><detail><Error ErrorCode="3238658052" Description="Either the database 'x' does not exist."/></detail></soap:Fault></soap:Body></soap:Envelope>"#;
    let f = failure(body);
    assert_eq!(f.fault.as_ref().unwrap().code, "XMLForAnalysis.0xc10a0004");
    assert_eq!(f.errors[0].code, Some(3_238_658_052));
}

#[test]
fn rows_before_an_exception_are_delivered_and_the_outcome_is_failure() {
    let body = wrap(
        r#"<root xmlns="urn:schemas-microsoft-com:xml-analysis:rowset"><row><Name>A</Name></row><row><Name>B</Name></row><Exception xmlns="urn:schemas-microsoft-com:xml-analysis:exception"/><Messages xmlns="urn:schemas-microsoft-com:xml-analysis:exception"><Error ErrorCode="1" Description="cancelled"/></Messages></root>"#,
    );
    let r = parse_response(body.as_bytes()).unwrap();
    assert_eq!(r.rows.len(), 2);
    assert!(matches!(r.outcome, Outcome::Failed(_)));
}

#[test]
fn nulls_encoded_names_and_cdata_in_rows() {
    let body = wrap(
        r#"<root xmlns="urn:schemas-microsoft-com:xml-analysis:rowset" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><row><Order_x0020_Details>a &amp; <![CDATA[<b>]]></Order_x0020_Details><Empty/><Null xsi:nil="true"/></row></root>"#,
    );
    let r = parse_response(body.as_bytes()).unwrap();
    assert_eq!(
        r.rows[0].columns,
        vec![
            ("Order Details".to_owned(), Some("a & <b>".to_owned())),
            ("Empty".to_owned(), Some(String::new())),
            ("Null".to_owned(), None)
        ]
    );
}

#[test]
fn trailing_bytes() {
    let ok = write_success(None, &[]).unwrap();
    let mut one_nul = ok.clone().into_bytes();
    one_nul.push(0);
    assert_eq!(parse_response(&one_nul).unwrap().outcome, Outcome::Succeeded);
    let mut two_nuls = one_nul.clone();
    two_nuls.push(0);
    assert!(matches!(parse_response(&two_nuls), Err(Error::Shape(_))));
    let mut continuation = ok.into_bytes();
    continuation.push(1);
    let err = parse_response(&continuation).unwrap_err();
    assert!(matches!(err, Error::ContinuationUnsupported));
    assert!(err.to_string().contains("outcome is unknown"));
}

#[test]
fn bodies_that_are_not_xml_say_what_arrived() {
    let cases: &[(&[u8], &str)] = &[
        (b"", "the response is not xml: the body is empty"),
        (
            b"{\"error\":{\"code\":\"PowerBINotAuthorizedException\"}}",
            "it looks like json; it begins \"{\\\"error\\\"",
        ),
        (b"Service Unavailable", "it does not start with '<'; it begins \"Service Unavailable\""),
        (b"   \n  ", "the body holds no xml element"),
    ];
    for (body, expected) in cases {
        let err = parse_response(body).unwrap_err().to_string();
        assert!(err.contains(expected), "{err}");
    }
    let html = b"<html><head><title>502</title></head><body>Bad Gateway</body></html>";
    let err = parse_response(html).unwrap_err().to_string();
    assert!(err.contains("neither a <root> result nor a soap <Fault>"), "{err}");
}

#[test]
fn truncated_response_is_an_error_that_says_the_outcome_is_unknown() {
    let full = write_failure(&[Message::new(5, "boom")], &[]).unwrap();
    for cut in [10, full.len() / 2, full.len() - 3] {
        let err = parse_response(&full.as_bytes()[..cut]).unwrap_err();
        assert!(matches!(err, Error::Xml { .. } | Error::Shape(_)), "cut at {cut}: {err:?}");
    }
    let err = parse_response(&full.as_bytes()[..full.len() - 3]).unwrap_err().to_string();
    assert!(err.contains("outcome is unknown"), "{err}");
}

#[test]
fn too_many_messages_are_counted_not_kept() {
    let errors: String =
        (0..1500).map(|i| format!(r#"<Error ErrorCode="{i}" Description="e"/>"#)).collect();
    let body = wrap(&format!("<root><Exception/><Messages>{errors}</Messages></root>"));
    let f = failure(&body);
    assert_eq!(f.errors.len(), xmla_proto::MAX_MESSAGES);
    assert!(f.warnings.last().unwrap().description.contains("500 further messages"));
}

#[test]
fn fault_display_and_outcome_helpers() {
    let f = Fault { code: "XMLAnalysisError".into(), string: "no".into(), actor: None };
    assert_eq!(f.to_string(), "soap fault XMLAnalysisError: no");
    assert!(Outcome::SucceededWithWarnings(vec![Message::new(1, "w")]).is_success());
}
