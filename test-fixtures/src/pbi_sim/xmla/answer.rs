//! pbi-sim's XMLA answers, written here from the reference (`../shared/reference/xmla.md` §4 and vectors V7, V8,
//! V18), never with the client's xmla-proto: the client's reader must understand what another writer wrote.
//!
//! Where the reference leaves a choice, this writer takes the one the service is documented or seen to take, which
//! is not always the one the documented syntax shows:
//! - `Error` and `Warning` sit directly under `Messages`, as in responses seen in public tooling (the documented
//!   syntax wraps each in a `Message`);
//! - a warning's code is `WarningCode` (the fault-code table's name, and public fixtures');
//! - codes are printed signed, as the Power BI troubleshooting page shows them (`-1052311437` for `0xC1470073`);
//! - a fault's code is opaque text (`XMLAnalysisError`, as in V18's note).

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

const SOAP: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const XMLA: &str = "urn:schemas-microsoft-com:xml-analysis";
const EMPTY: &str = "urn:schemas-microsoft-com:xml-analysis:empty";
const ROWSET: &str = "urn:schemas-microsoft-com:xml-analysis:rowset";
const EXCEPTION: &str = "urn:schemas-microsoft-com:xml-analysis:exception";
/// The `Source` of every message the simulated engine reports.
const SOURCE: &str = "Microsoft SQL Server Analysis Services";

/// An error or a warning of the simulated engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    /// The code, as an unsigned number (printed signed on the wire).
    pub code: u32,
    /// What the engine says.
    pub description: String,
}

/// One row of a rowset: each column's name and value (`None` leaves the column out, as servers do for a null).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    pub columns: Vec<(String, Option<String>)>,
}

impl Row {
    /// The value of the column `name`, when present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.columns.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.as_deref())
    }
}

/// An XML document under construction; writing to memory cannot fail.
struct Doc(Writer<Vec<u8>>);

impl Doc {
    fn new() -> Self {
        let mut w = Writer::new(Vec::new());
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None))).expect("in memory");
        Doc(w)
    }

    fn start(&mut self, name: &str, attrs: &[(&str, &str)]) {
        let tag = BytesStart::new(name).with_attributes(attrs.iter().copied());
        self.0.write_event(Event::Start(tag)).expect("in memory");
    }

    fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) {
        let tag = BytesStart::new(name).with_attributes(attrs.iter().copied());
        self.0.write_event(Event::Empty(tag)).expect("in memory");
    }

    fn end(&mut self, name: &str) {
        self.0.write_event(Event::End(BytesEnd::new(name))).expect("in memory");
    }

    fn leaf(&mut self, name: &str, text: &str) {
        self.start(name, &[]);
        self.0.write_event(Event::Text(BytesText::new(text))).expect("in memory");
        self.end(name);
    }

    /// `soap:Envelope`, with the `Session` header when a session is open (V18), around `body`.
    fn envelope(session: Option<&str>, body: impl FnOnce(&mut Doc)) -> String {
        let mut d = Doc::new();
        d.start("soap:Envelope", &[("xmlns:soap", SOAP)]);
        if let Some(id) = session {
            d.start("soap:Header", &[]);
            d.empty("Session", &[("xmlns", XMLA), ("SessionId", id)]);
            d.end("soap:Header");
        }
        d.start("soap:Body", &[]);
        body(&mut d);
        d.end("soap:Body");
        d.end("soap:Envelope");
        String::from_utf8(d.0.into_inner()).expect("written from str")
    }

    /// `ExecuteResponse/return/root` in the empty namespace (V7), holding `inside`.
    fn execute_root(&mut self, inside: impl FnOnce(&mut Doc)) {
        self.start("ExecuteResponse", &[("xmlns", XMLA)]);
        self.start("return", &[]);
        self.start("root", &[("xmlns", EMPTY)]);
        inside(self);
        self.end("root");
        self.end("return");
        self.end("ExecuteResponse");
    }

    /// An empty `Exception`, then `Messages` with the errors and the warnings (§4.2).
    fn messages(&mut self, errors: &[Message], warnings: &[Message]) {
        self.empty("Exception", &[("xmlns", EXCEPTION)]);
        self.start("Messages", &[("xmlns", EXCEPTION)]);
        for (tag, code_name, list) in
            [("Error", "ErrorCode", errors), ("Warning", "WarningCode", warnings)]
        {
            for m in list {
                let code = (m.code as i32).to_string();
                let attrs = [
                    (code_name, code.as_str()),
                    ("Description", &m.description),
                    ("Source", SOURCE),
                ];
                self.empty(tag, &attrs);
            }
        }
        self.end("Messages");
    }
}

/// A command that succeeded: the empty root, with the warnings when there are any.
pub(crate) fn success(session: Option<&str>, warnings: &[Message]) -> String {
    Doc::envelope(session, |d| {
        d.execute_root(|d| {
            if !warnings.is_empty() {
                d.messages(&[], warnings);
            }
        })
    })
}

/// A command that failed: HTTP 200, the empty root holding `Exception` and `Messages` (§4.2).
pub(crate) fn failure(errors: &[Message], warnings: &[Message]) -> String {
    Doc::envelope(None, |d| d.execute_root(|d| d.messages(errors, warnings)))
}

/// A method that did not run: `soap:Fault` with its code and text (§4.3).
pub(crate) fn fault(code: &str, text: &str) -> String {
    Doc::envelope(None, |d| {
        d.start("soap:Fault", &[]);
        d.leaf("faultcode", code);
        d.leaf("faultstring", text);
        d.end("soap:Fault");
    })
}

/// A rowset (`DiscoverResponse/return/root` in the rowset namespace) with its inline schema, each column declared
/// with its XML Schema type, then one `row` per row (V8, repaired). Column names are plain XML names here; values are
/// escaped.
pub(crate) fn rowset(columns: &[(&str, &str)], rows: &[Row]) -> String {
    Doc::envelope(None, |d| {
        d.start("DiscoverResponse", &[("xmlns", XMLA)]);
        d.start("return", &[]);
        d.start(
            "root",
            &[
                ("xmlns", ROWSET),
                ("xmlns:xsd", "http://www.w3.org/2001/XMLSchema"),
                ("xmlns:sql", "urn:schemas-microsoft-com:xml-sql"),
            ],
        );
        d.start("xsd:schema", &[("targetNamespace", ROWSET), ("elementFormDefault", "qualified")]);
        d.start("xsd:element", &[("name", "root")]);
        d.start("xsd:complexType", &[]);
        d.start("xsd:sequence", &[]);
        let repeated =
            [("name", "row"), ("type", "row"), ("minOccurs", "0"), ("maxOccurs", "unbounded")];
        d.empty("xsd:element", &repeated);
        d.end("xsd:sequence");
        d.end("xsd:complexType");
        d.end("xsd:element");
        d.start("xsd:complexType", &[("name", "row")]);
        d.start("xsd:sequence", &[]);
        for (c, kind) in columns {
            let column = [("name", *c), ("type", *kind), ("sql:field", *c), ("minOccurs", "0")];
            d.empty("xsd:element", &column);
        }
        d.end("xsd:sequence");
        d.end("xsd:complexType");
        d.end("xsd:schema");
        for row in rows {
            d.start("row", &[]);
            for (name, value) in &row.columns {
                if let Some(v) = value {
                    d.leaf(name, v);
                }
            }
            d.end("row");
        }
        d.end("root");
        d.end("return");
        d.end("DiscoverResponse");
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Read back with quick-xml's reader, not the client's: the names and values a reader sees.
    fn events(xml: &str) -> Vec<String> {
        let mut reader = quick_xml::Reader::from_str(xml);
        let mut seen = Vec::new();
        let mut text = String::new();
        loop {
            let event = reader.read_event().expect("well-formed");
            if !matches!(event, Event::Text(_) | Event::GeneralRef(_)) && !text.is_empty() {
                seen.push(format!("text {}", std::mem::take(&mut text)));
            }
            match event {
                Event::Start(e) | Event::Empty(e) => {
                    let mut s = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                    for a in e.attributes() {
                        let a = a.expect("attribute");
                        let value = a.unescape_value().expect("escaped");
                        s.push_str(&format!(
                            " {}={value}",
                            String::from_utf8_lossy(a.key.as_ref())
                        ));
                    }
                    seen.push(s);
                }
                Event::Text(t) => text.push_str(&t.decode().expect("utf-8")),
                Event::GeneralRef(r) => {
                    let name = r.decode().expect("utf-8");
                    let c =
                        quick_xml::escape::resolve_predefined_entity(&name).expect("predefined");
                    text.push_str(c);
                }
                Event::Eof => return seen,
                _ => {}
            }
        }
    }

    #[test]
    fn a_failure_carries_signed_codes_and_escaped_text_under_messages() {
        let error = Message { code: 0xC147_0073, description: "Model <'A' & \"B\">".into() };
        let warning = Message { code: 1, description: "careful".into() };
        let seen = events(&failure(&[error], &[warning]));
        let error =
            format!("Error ErrorCode=-1052311437 Description=Model <'A' & \"B\"> Source={SOURCE}");
        assert!(seen.contains(&error), "{seen:?}");
        assert!(
            seen.contains(&format!("Warning WarningCode=1 Description=careful Source={SOURCE}"))
        );
        let at = |name: &str| seen.iter().position(|s| s.starts_with(name)).expect(name);
        assert!(at("root xmlns=") < at("Exception") && at("Exception") < at("Messages"));
    }

    #[test]
    fn a_success_echoes_the_session_and_a_rowset_leaves_nulls_out() {
        let seen = events(&success(Some("s-1"), &[]));
        assert!(seen.contains(&format!("Session xmlns={XMLA} SessionId=s-1")), "{seen:?}");
        assert!(seen.contains(&format!("root xmlns={EMPTY}")), "{seen:?}");
        let row = Row { columns: vec![("A".into(), Some("x < y".into())), ("B".into(), None)] };
        let seen = events(&rowset(&[("A", "xsd:string"), ("B", "xsd:string")], &[row]));
        let from_row = seen.iter().position(|s| s == "row").expect("a row");
        assert_eq!(seen[from_row..], ["row", "A", "text x < y"], "{seen:?}");
    }
}
