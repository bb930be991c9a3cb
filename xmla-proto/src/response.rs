//! Server answers: read in one streaming pass, classified as succeeded, succeeded with warnings, or failed.
//!
//! The reader follows the tolerance rules of the protocol reference: element names are matched by local name;
//! `Error` and `Warning` are taken with or without a `Message` wrapper; codes may be signed or unsigned; any `Error`
//! (under `Messages` or in a fault's `detail`) means failure even in an HTTP 200; one trailing `0x00` is stripped; a
//! trailing `0x01` is reported as unsupported; a body that is not XML is named as such. Rows of a rowset are handed
//! to a callback one at a time, so memory stays bounded by what the caller keeps.

use std::fmt;
use std::io::BufRead;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::error::{Error, Result};
use crate::request::{SOAP_NS, XMLA_NS};
use crate::writer::XmlWriter;
use crate::xml::{MAX_DEPTH, append_text, check_chars, check_name, xml_err};

/// Namespace of an empty result.
pub const EMPTY_NS: &str = "urn:schemas-microsoft-com:xml-analysis:empty";
/// Namespace of a rowset result.
pub const ROWSET_NS: &str = "urn:schemas-microsoft-com:xml-analysis:rowset";
/// Namespace of `Exception`, `Messages`, `Error` and `Warning` as servers emit them.
pub const EXCEPTION_NS: &str = "urn:schemas-microsoft-com:xml-analysis:exception";

/// At most this many errors and warnings are kept from one response; the rest are counted.
pub const MAX_MESSAGES: usize = 1000;

/// An error or warning reported by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The code, normalised to unsigned (`-1052311437` becomes `0xC1470073`). `None` when the server sent none or
    /// sent something that is not a number.
    pub code: Option<u32>,
    /// What the server said.
    pub description: String,
    /// The component that reported it.
    pub source: Option<String>,
    /// `HelpFile`, when given.
    pub help_file: Option<String>,
}

impl Message {
    /// A message with a code and a description.
    pub fn new(code: u32, description: impl Into<String>) -> Self {
        Message { code: Some(code), description: description.into(), source: None, help_file: None }
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => write!(f, "0x{code:08X} ({}): {}", code as i32, self.description)?,
            None => write!(f, "(no code): {}", self.description)?,
        }
        if let Some(s) = &self.source {
            write!(f, " [source: {s}]")?;
        }
        Ok(())
    }
}

/// A SOAP fault.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fault {
    /// `faultcode`, opaque text.
    pub code: String,
    /// `faultstring`.
    pub string: String,
    /// `faultactor`, when given.
    pub actor: Option<String>,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "soap fault {}: {}", self.code, self.string)
    }
}

/// Why a command failed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Failure {
    /// Every error, in order.
    pub errors: Vec<Message>,
    /// Warnings that came with them.
    pub warnings: Vec<Message>,
    /// The SOAP fault, when the failure came as one.
    pub fault: Option<Fault>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        if let Some(fault) = &self.fault {
            write!(f, "{fault}")?;
            first = false;
        }
        for e in &self.errors {
            if !first {
                f.write_str("; ")?;
            }
            write!(f, "error {e}")?;
            first = false;
        }
        Ok(())
    }
}

/// What the server said of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done, nothing to report.
    Succeeded,
    /// Done, with warnings (never empty).
    SucceededWithWarnings(Vec<Message>),
    /// Not done.
    Failed(Failure),
}

impl Outcome {
    /// Whether the command was carried out.
    pub fn is_success(&self) -> bool {
        !matches!(self, Outcome::Failed(_))
    }
}

/// One row of a rowset: (column, value) in document order; `None` for a null (`xsi:nil="true"`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Row {
    /// Columns with their decoded names.
    pub columns: Vec<(String, Option<String>)>,
}

impl Row {
    /// The value of the first column named `name`, if present and not null.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.columns.iter().find(|(k, _)| k == name).and_then(|(_, v)| v.as_deref())
    }
}

/// A response read in full (rows collected).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// `SessionId` of a `Session` header, when the server sent one.
    pub session_id: Option<String>,
    /// The outcome.
    pub outcome: Outcome,
    /// Rows of a rowset result (empty for commands).
    pub rows: Vec<Row>,
}

/// What [`read_response`] returns besides the rows it handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// `SessionId` of a `Session` header, when the server sent one.
    pub session_id: Option<String>,
    /// The outcome.
    pub outcome: Outcome,
    /// How many rows were handed to the callback.
    pub row_count: u64,
}

/// Reads a whole response held in memory. See [`read_response`] for large rowsets.
pub fn parse_response(body: &[u8]) -> Result<Response> {
    let mut rows = Vec::new();
    let Summary { session_id, outcome, row_count: _ } = read_response(body, |row| rows.push(row))?;
    Ok(Response { session_id, outcome, rows })
}

/// One database from a `DBSCHEMA_CATALOGS` rowset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    /// `CATALOG_NAME`.
    pub name: String,
    /// `DATABASE_ID`, on engines that send it.
    pub database_id: Option<String>,
    /// `COMPATIBILITY_LEVEL`, on engines that send it.
    pub compatibility_level: Option<u32>,
    /// `DATE_MODIFIED`, as the server wrote it.
    pub date_modified: Option<String>,
    /// `DESCRIPTION`.
    pub description: Option<String>,
}

impl Catalog {
    /// Reads a `DBSCHEMA_CATALOGS` row; `None` when it has no `CATALOG_NAME`.
    pub fn from_row(row: &Row) -> Option<Catalog> {
        Some(Catalog {
            name: row.get("CATALOG_NAME")?.to_owned(),
            database_id: row.get("DATABASE_ID").map(str::to_owned),
            compatibility_level: row.get("COMPATIBILITY_LEVEL").and_then(|v| v.trim().parse().ok()),
            date_modified: row.get("DATE_MODIFIED").map(str::to_owned),
            description: row.get("DESCRIPTION").filter(|d| !d.is_empty()).map(str::to_owned),
        })
    }
}

/// Normalises a signed or unsigned decimal code to u32.
fn parse_code(text: &str) -> Option<u32> {
    let v: i64 = text.trim().parse().ok()?;
    if let Ok(u) = u32::try_from(v) {
        Some(u)
    } else if let Ok(i) = i32::try_from(v) {
        Some(i as u32)
    } else {
        None
    }
}

/// Decodes `_xHHHH_` (and `_xHHHHHHHH_`) escapes in a column name.
pub(crate) fn decode_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find("_x") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 2..];
        let decoded = [4usize, 8].iter().find_map(|&n| {
            let hex = tail.get(..n)?;
            if tail.as_bytes().get(n) != Some(&b'_') || !hex.bytes().all(|b| b.is_ascii_hexdigit())
            {
                return None;
            }
            Some((char::from_u32(u32::from_str_radix(hex, 16).ok()?)?, n + 1))
        });
        match decoded {
            Some((c, used)) => {
                out.push(c);
                rest = &tail[used..];
            }
            None => {
                out.push_str("_x");
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Encodes a column name as an XML element name, `_xHHHH_` for characters a simple name cannot hold.
pub(crate) fn encode_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut chars = name.chars().peekable();
    let mut first = true;
    while let Some(c) = chars.next() {
        let plain =
            c.is_ascii_alphabetic() || (!first && (c.is_ascii_digit() || c == '-' || c == '.'));
        let underscore = c == '_' && chars.peek() != Some(&'x');
        if plain || underscore {
            out.push(c);
        } else if (c as u32) <= 0xFFFF {
            out.push_str(&format!("_x{:04X}_", c as u32));
        } else {
            out.push_str(&format!("_x{:08X}_", c as u32));
        }
        first = false;
    }
    out
}

fn attr_value(
    reader: &Reader<impl BufRead>,
    e: &BytesStart<'_>,
    local: &[u8],
) -> Result<Option<String>> {
    for attr in e.attributes() {
        let attr = attr.map_err(|err| xml_err(reader, err))?;
        if attr.key.local_name().as_ref() == local {
            return Ok(Some(
                attr.unescape_value().map_err(|err| xml_err(reader, err))?.into_owned(),
            ));
        }
    }
    Ok(None)
}

/// Which piece of text is being collected.
#[derive(Default)]
enum Collecting {
    #[default]
    Nothing,
    Column {
        name: String,
        value: String,
        nil: bool,
    },
    FaultField(&'static str, String),
}

#[derive(Default)]
struct State {
    session_id: Option<String>,
    errors: Vec<Message>,
    warnings: Vec<Message>,
    dropped_messages: usize,
    fault: Option<Fault>,
    saw_result: bool,
    row: Option<Row>,
    row_count: u64,
}

impl State {
    fn push_message(&mut self, is_error: bool, m: Message) {
        let list = if is_error { &mut self.errors } else { &mut self.warnings };
        if list.len() < MAX_MESSAGES {
            list.push(m);
        } else {
            self.dropped_messages += 1;
        }
    }
}

/// Where one streaming read of a response stands: open elements, the result's `root`, what is
/// being collected and what has been gathered.
#[derive(Default)]
struct ResponseReader {
    /// Local names of the open elements, outermost first.
    stack: Vec<Vec<u8>>,
    /// Depth of the open result `root`, if one is open.
    depth_of_root: Option<usize>,
    st: State,
    collecting: Collecting,
    /// The document element has closed.
    document_done: bool,
    /// The one `0x00` allowed after the document has been seen.
    trailing_nul: bool,
}

/// Reads a response from a stream in one pass, handing each rowset row to `on_row`.
///
/// Returns an error only when the body cannot be read as an XMLA response (not XML, truncated, malformed, or a
/// continuation marker). A server that answered with an error is `Ok` with [`Outcome::Failed`].
pub fn read_response<R: BufRead>(mut input: R, mut on_row: impl FnMut(Row)) -> Result<Summary> {
    check_looks_like_xml(&mut input)?;
    let mut reader = Reader::from_reader(input);
    reader.config_mut().check_end_names = true;
    let mut buf = Vec::new();
    let mut doc = ResponseReader::default();
    loop {
        let event = reader.read_event_into(&mut buf).map_err(|e| {
            xml_err(
                &reader,
                format!("{e}; the response cannot be read, so the operation's outcome is unknown"),
            )
        })?;
        if matches!(event, Event::Eof) {
            break;
        }
        if doc.document_done {
            doc.after_document(event)?;
        } else {
            doc.on_event(&reader, &event, &mut on_row)?;
        }
        buf.clear();
    }
    doc.finish(&reader)
}

impl ResponseReader {
    /// Checks an event after the document element closed: only whitespace, one trailing `0x00`,
    /// comments and processing instructions may follow (`Eof` is the caller's to handle).
    fn after_document(&mut self, event: Event<'_>) -> Result<()> {
        match event {
            Event::Text(t) => {
                let raw: &[u8] = t.as_ref();
                let trimmed = raw.trim_ascii();
                match trimmed {
                    [] => {}
                    [0] if !self.trailing_nul => self.trailing_nul = true,
                    [1] => return Err(Error::ContinuationUnsupported),
                    _ => {
                        return Err(Error::Shape(
                            "unexpected content after the end of the response".into(),
                        ));
                    }
                }
            }
            Event::Eof | Event::Comment(_) | Event::PI(_) => {}
            _ => {
                return Err(Error::Shape(
                    "unexpected content after the end of the response".into(),
                ));
            }
        }
        Ok(())
    }

    /// Handles one event inside the document: a start, empty or end tag, or content.
    fn on_event<R: BufRead>(
        &mut self,
        reader: &Reader<R>,
        event: &Event<'_>,
        on_row: &mut impl FnMut(Row),
    ) -> Result<()> {
        match event {
            Event::Start(e) => self.on_start(reader, e, false, on_row),
            Event::Empty(e) => self.on_start(reader, e, true, on_row),
            Event::End(_) => self.on_end(reader, on_row),
            Event::Eof => Ok(()),
            other => self.on_text(other),
        }
    }

    /// Handles a start tag (an empty element when `is_empty`): notes what it holds, then enters it.
    fn on_start<R: BufRead>(
        &mut self,
        reader: &Reader<R>,
        e: &BytesStart<'_>,
        is_empty: bool,
        on_row: &mut impl FnMut(Row),
    ) -> Result<()> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(Error::Shape(format!("elements nested deeper than {MAX_DEPTH}")));
        }
        let name = e.local_name().as_ref().to_vec();
        let parent = self.stack.last().map(Vec::as_slice);
        let in_header = parent == Some(b"Header");
        let in_fault = parent == Some(b"Fault");
        let in_messages = self.stack.iter().any(|n| n == b"Messages" || n == b"Fault");
        let depth = self.stack.len();
        match name.as_slice() {
            b"Session" if in_header => {
                self.st.session_id = attr_value(reader, e, b"SessionId")?;
            }
            b"root" if self.depth_of_root.is_none() && !in_messages => {
                self.st.saw_result = true;
                self.depth_of_root = Some(depth);
            }
            b"results" if self.depth_of_root.is_none() => self.st.saw_result = true,
            b"Fault" => {
                self.st.fault = Some(Fault::default());
            }
            b"faultcode" | b"faultstring" | b"faultactor" if in_fault => {
                self.start_fault_field(&name, is_empty);
            }
            b"Error" | b"Warning" if in_messages => {
                let is_error = name == b"Error";
                let m = read_message(reader, e, is_error)?;
                self.st.push_message(is_error, m);
            }
            b"row" if self.depth_of_root.is_some_and(|d| depth == d + 1) && !in_messages => {
                self.st.row = Some(Row::default());
                if is_empty {
                    on_row(self.st.row.take().unwrap_or_default());
                    self.st.row_count += 1;
                }
            }
            _ if self.st.row.is_some() && self.depth_of_root.is_some_and(|d| depth == d + 2) => {
                self.start_column(reader, e, &name, is_empty)?;
            }
            _ => {}
        }
        if !is_empty {
            self.stack.push(name);
        }
        Ok(())
    }

    /// Starts collecting a fault field, or stores it empty at once for an empty element.
    fn start_fault_field(&mut self, name: &[u8], is_empty: bool) {
        let field = match name {
            b"faultcode" => "faultcode",
            b"faultstring" => "faultstring",
            _ => "faultactor",
        };
        if is_empty {
            set_fault_field(&mut self.st, field, String::new());
        } else {
            self.collecting = Collecting::FaultField(field, String::new());
        }
    }

    /// Starts collecting a column of the current row, or adds it at once for an empty element.
    fn start_column<R: BufRead>(
        &mut self,
        reader: &Reader<R>,
        e: &BytesStart<'_>,
        name: &[u8],
        is_empty: bool,
    ) -> Result<()> {
        let col = decode_name(&String::from_utf8_lossy(name));
        let nil = attr_value(reader, e, b"nil")?.is_some_and(|v| v.trim() == "true");
        if is_empty {
            let value = if nil { None } else { Some(String::new()) };
            if let Some(row) = self.st.row.as_mut() {
                row.columns.push((col, value));
            }
        } else {
            self.collecting = Collecting::Column { name: col, value: String::new(), nil };
        }
        Ok(())
    }

    /// Handles an end tag: stores what was collected, hands out a finished row, leaves the element.
    fn on_end<R>(&mut self, reader: &Reader<R>, on_row: &mut impl FnMut(Row)) -> Result<()> {
        let name =
            self.stack.pop().ok_or_else(|| xml_err(reader, "end tag without a start tag"))?;
        match std::mem::replace(&mut self.collecting, Collecting::Nothing) {
            Collecting::Column { name: col, value, nil } => {
                if let Some(row) = self.st.row.as_mut() {
                    row.columns.push((col, if nil { None } else { Some(value) }));
                }
            }
            Collecting::FaultField(field, text) => set_fault_field(&mut self.st, field, text),
            Collecting::Nothing => {}
        }
        if name == b"row"
            && self.depth_of_root.is_some_and(|d| self.stack.len() == d + 1)
            && let Some(row) = self.st.row.take()
        {
            on_row(row);
            self.st.row_count += 1;
        }
        if self.depth_of_root == Some(self.stack.len()) && name == b"root" {
            self.depth_of_root = None;
        }
        if self.stack.is_empty() {
            self.document_done = true;
        }
        Ok(())
    }

    /// Handles content other than tags: collects it when wanted, refuses text outside the document.
    fn on_text(&mut self, event: &Event<'_>) -> Result<()> {
        match &mut self.collecting {
            Collecting::Column { value, .. } | Collecting::FaultField(_, value) => {
                append_text(event, value)?;
            }
            Collecting::Nothing => {
                if let Event::Text(t) = event
                    && self.stack.is_empty()
                    && !t.as_ref().trim_ascii().is_empty()
                {
                    return Err(Error::Shape("text outside the document element".into()));
                }
            }
        }
        Ok(())
    }

    /// Checks the input ended with a whole response and turns what was gathered into the summary.
    fn finish<R>(self, reader: &Reader<R>) -> Result<Summary> {
        if let Some(open) = self.stack.last() {
            return Err(Error::Xml {
                position: reader.buffer_position(),
                message: format!(
                    "the response ended before <{}> was closed: it was cut off, and the operation's outcome is unknown",
                    String::from_utf8_lossy(open)
                ),
            });
        }
        if !self.document_done {
            return Err(Error::NotXml("the body holds no xml element".into()));
        }
        let mut st = self.st;
        if !st.saw_result && st.fault.is_none() {
            return Err(Error::Shape(
                "the response holds neither a <root> result nor a soap <Fault>".into(),
            ));
        }
        if st.dropped_messages > 0 {
            st.warnings.push(Message {
                code: None,
                description: format!("{} further messages were not kept", st.dropped_messages),
                source: Some("xmla-proto".into()),
                help_file: None,
            });
        }
        let outcome = if st.fault.is_some() || !st.errors.is_empty() {
            Outcome::Failed(Failure { errors: st.errors, warnings: st.warnings, fault: st.fault })
        } else if st.warnings.is_empty() {
            Outcome::Succeeded
        } else {
            Outcome::SucceededWithWarnings(st.warnings)
        };
        Ok(Summary { session_id: st.session_id, outcome, row_count: st.row_count })
    }
}

/// Reads an `Error` or `Warning` element's attributes as a message.
fn read_message(
    reader: &Reader<impl BufRead>,
    e: &BytesStart<'_>,
    is_error: bool,
) -> Result<Message> {
    let mut code = attr_value(reader, e, b"ErrorCode")?;
    if code.is_none() && !is_error {
        code = attr_value(reader, e, b"WarningCode")?;
    }
    Ok(Message {
        code: code.as_deref().and_then(parse_code),
        description: attr_value(reader, e, b"Description")?.unwrap_or_default(),
        source: attr_value(reader, e, b"Source")?,
        help_file: attr_value(reader, e, b"HelpFile")?.filter(|h| !h.is_empty()),
    })
}

fn set_fault_field(st: &mut State, field: &'static str, text: String) {
    let fault = st.fault.get_or_insert_with(Fault::default);
    match field {
        "faultcode" => fault.code = text.trim().to_owned(),
        "faultstring" => fault.string = text,
        _ => fault.actor = Some(text),
    }
}

/// Refuses, before parsing, a body that is empty or does not start like XML, saying what arrived instead.
fn check_looks_like_xml<R: BufRead>(input: &mut R) -> Result<()> {
    let head = input.fill_buf()?;
    if head.is_empty() {
        return Err(Error::NotXml("the body is empty".into()));
    }
    let start = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let first = start.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|&b| b != b'<') {
        let shown: String = String::from_utf8_lossy(&head[..head.len().min(80)])
            .chars()
            .flat_map(char::escape_debug)
            .collect();
        let kind = match first {
            Some(b'{' | b'[') => "it looks like json",
            _ => "it does not start with '<'",
        };
        return Err(Error::NotXml(format!("{kind}; it begins \"{shown}\"")));
    }
    Ok(())
}

// ---- Writing responses (what a server, such as the simulator, sends). ----

fn write_envelope(session_id: Option<&str>, body: impl FnOnce(&mut XmlWriter)) -> String {
    let mut w = XmlWriter::new();
    w.start("soap:Envelope", &[("xmlns:soap", SOAP_NS)]);
    if let Some(id) = session_id {
        w.start("soap:Header", &[]);
        w.empty("Session", &[("xmlns", XMLA_NS), ("SessionId", id)]);
        w.end("soap:Header");
    }
    w.start("soap:Body", &[]);
    body(&mut w);
    w.end("soap:Body");
    w.end("soap:Envelope");
    w.finish()
}

fn write_messages(w: &mut XmlWriter, errors: &[Message], warnings: &[Message]) {
    w.empty("Exception", &[("xmlns", EXCEPTION_NS)]);
    w.start("Messages", &[("xmlns", EXCEPTION_NS)]);
    for (tag, code_attr, list) in
        [("Error", "ErrorCode", errors), ("Warning", "WarningCode", warnings)]
    {
        for Message { code, description, source, help_file } in list {
            let code = code.map(|c| c.to_string());
            let mut attrs: Vec<(&str, &str)> = Vec::new();
            if let Some(c) = &code {
                attrs.push((code_attr, c));
            }
            attrs.push(("Description", description));
            if let Some(s) = source {
                attrs.push(("Source", s));
            }
            if let Some(h) = help_file {
                attrs.push(("HelpFile", h));
            }
            w.empty(tag, &attrs);
        }
    }
    w.end("Messages");
}

fn check_messages(list: &[Message]) -> Result<()> {
    for Message { code: _, description, source, help_file } in list {
        check_chars("Description", description)?;
        for v in [source, help_file].into_iter().flatten() {
            check_chars("Source", v)?;
        }
    }
    Ok(())
}

/// The answer to a command that succeeded: an empty `root`, with warnings when given.
pub fn write_success(session_id: Option<&str>, warnings: &[Message]) -> Result<String> {
    if let Some(id) = session_id {
        check_name("SessionId", id)?;
    }
    check_messages(warnings)?;
    Ok(write_envelope(session_id, |w| {
        w.start("ExecuteResponse", &[("xmlns", XMLA_NS)]);
        w.start("return", &[]);
        if warnings.is_empty() {
            w.empty("root", &[("xmlns", EMPTY_NS)]);
        } else {
            w.start("root", &[("xmlns", EMPTY_NS)]);
            write_messages(w, &[], warnings);
            w.end("root");
        }
        w.end("return");
        w.end("ExecuteResponse");
    }))
}

/// The answer to a command that failed, as servers send it: HTTP 200, an empty `root` holding `Exception` and
/// `Messages`.
pub fn write_failure(errors: &[Message], warnings: &[Message]) -> Result<String> {
    if errors.is_empty() {
        return Err(Error::InvalidCommand("a failure response needs at least one error".into()));
    }
    check_messages(errors)?;
    check_messages(warnings)?;
    Ok(write_envelope(None, |w| {
        w.start("ExecuteResponse", &[("xmlns", XMLA_NS)]);
        w.start("return", &[]);
        w.start("root", &[("xmlns", EMPTY_NS)]);
        write_messages(w, errors, warnings);
        w.end("root");
        w.end("return");
        w.end("ExecuteResponse");
    }))
}

/// A SOAP fault, optionally with `Error` elements in its `detail`.
pub fn write_fault(fault: &Fault, detail: &[Message]) -> Result<String> {
    let Fault { code, string, actor } = fault;
    check_chars("faultcode", code)?;
    check_chars("faultstring", string)?;
    if let Some(a) = actor {
        check_chars("faultactor", a)?;
    }
    check_messages(detail)?;
    Ok(write_envelope(None, |w| {
        w.start("soap:Fault", &[]);
        w.leaf("faultcode", code);
        w.leaf("faultstring", string);
        if let Some(a) = actor {
            w.leaf("faultactor", a);
        }
        if !detail.is_empty() {
            w.start("detail", &[]);
            write_messages(w, detail, &[]);
            w.end("detail");
        }
        w.end("soap:Fault");
    }))
}

/// A rowset answer to a `Discover` (or a DMV query), with the inline schema ADOMD.NET requires.
pub fn write_rowset(columns: &[&str], rows: &[Row]) -> Result<String> {
    for c in columns {
        check_name("column", c)?;
    }
    for row in rows {
        for (k, v) in &row.columns {
            check_name("column", k)?;
            if let Some(v) = v {
                check_chars("value", v)?;
            }
        }
    }
    Ok(write_envelope(None, |w| {
        w.start("DiscoverResponse", &[("xmlns", XMLA_NS)]);
        w.start("return", &[]);
        w.start(
            "root",
            &[
                ("xmlns", ROWSET_NS),
                ("xmlns:xsd", "http://www.w3.org/2001/XMLSchema"),
                ("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"),
                ("xmlns:sql", "urn:schemas-microsoft-com:xml-sql"),
            ],
        );
        w.start(
            "xsd:schema",
            &[("targetNamespace", ROWSET_NS), ("elementFormDefault", "qualified")],
        );
        w.start("xsd:element", &[("name", "root")]);
        w.start("xsd:complexType", &[]);
        w.start("xsd:sequence", &[]);
        w.empty(
            "xsd:element",
            &[("name", "row"), ("type", "row"), ("minOccurs", "0"), ("maxOccurs", "unbounded")],
        );
        w.end("xsd:sequence");
        w.end("xsd:complexType");
        w.end("xsd:element");
        w.start("xsd:complexType", &[("name", "row")]);
        w.start("xsd:sequence", &[]);
        for c in columns {
            let encoded = encode_name(c);
            w.empty(
                "xsd:element",
                &[("name", &encoded), ("sql:field", c), ("type", "xsd:string"), ("minOccurs", "0")],
            );
        }
        w.end("xsd:sequence");
        w.end("xsd:complexType");
        w.end("xsd:schema");
        for row in rows {
            w.start("row", &[]);
            for (k, v) in &row.columns {
                let encoded = encode_name(k);
                match v {
                    Some(v) => w.leaf(&encoded, v),
                    None => w.empty(&encoded, &[("xsi:nil", "true")]),
                }
            }
            w.end("row");
        }
        w.end("root");
        w.end("return");
        w.end("DiscoverResponse");
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_normalised_to_unsigned() {
        assert_eq!(parse_code("-1052311437"), Some(0xC147_0073));
        assert_eq!(parse_code("3242655859"), Some(0xC147_0073));
        assert_eq!(parse_code("12x"), None);
        assert_eq!(parse_code("99999999999"), None);
    }

    #[test]
    fn column_names_round_trip_through_the_xml_name_encoding() {
        for name in ["Order Details", "CATALOG_NAME", "_x0020_", "1st", "Ünïcode", "a:b", "x_xy"]
        {
            assert_eq!(decode_name(&encode_name(name)), name, "{name}");
        }
        assert_eq!(decode_name("Order_x0020_Details"), "Order Details");
        assert_eq!(decode_name("bad_xZZZZ_"), "bad_xZZZZ_");
    }
}
