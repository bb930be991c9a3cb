//! SOAP requests: the `Execute` and `Discover` envelopes, their properties and session headers.

use crate::command::{Backup, Command, Restore, Syntax};
use crate::error::{Error, Result};
use crate::tmsl;
use crate::writer::XmlWriter;
use crate::xml::{Element, check_chars, check_name, parse_tree, preview};

/// SOAP 1.1 envelope namespace.
pub const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// XMLA namespace of `Execute`, `Discover` and the session headers.
pub const XMLA_NS: &str = "urn:schemas-microsoft-com:xml-analysis";
/// `SOAPAction` header value of an `Execute` (the quotes are part of the value).
pub const SOAP_ACTION_EXECUTE: &str = "\"urn:schemas-microsoft-com:xml-analysis:Execute\"";
/// `SOAPAction` header value of a `Discover`.
pub const SOAP_ACTION_DISCOVER: &str = "\"urn:schemas-microsoft-com:xml-analysis:Discover\"";
/// The Discover request type that lists databases.
pub const DBSCHEMA_CATALOGS: &str = "DBSCHEMA_CATALOGS";
/// The Discover request type that lists a tabular model's tables.
pub const TMSCHEMA_TABLES: &str = "TMSCHEMA_TABLES";

/// Requests larger than this are refused by [`Request::parse`]; a backup or restore request is a few kilobytes.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;

/// The XMLA session header of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionHeader {
    /// `BeginSession`: the server answers with a `Session` header.
    Begin,
    /// `Session SessionId=…`: run inside an existing session.
    Session(String),
    /// `EndSession SessionId=…`: close the session after this request.
    End(String),
}

/// `PropertyList` members. The common ones have fields; the rest are kept in order in `other`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Properties {
    /// Current database. On the Power BI MWC path, the dataset name.
    pub catalog: Option<String>,
    /// Seconds.
    pub timeout: Option<u32>,
    /// LCID.
    pub locale_identifier: Option<u32>,
    /// `Tabular`, `Multidimensional` or `Native`.
    pub format: Option<String>,
    /// Any other property, as (name, value).
    pub other: Vec<(String, String)>,
}

/// An `Execute` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execute {
    /// The one command.
    pub command: Command,
    /// Its properties.
    pub properties: Properties,
}

/// A `Discover` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discover {
    /// The rowset asked for, e.g. [`DBSCHEMA_CATALOGS`].
    pub request_type: String,
    /// `RestrictionList` members, as (column, value).
    pub restrictions: Vec<(String, String)>,
    /// Its properties.
    pub properties: Properties,
}

impl Discover {
    /// `DBSCHEMA_CATALOGS`, in tabular format: the databases the caller can see.
    pub fn catalogs() -> Self {
        Discover {
            request_type: DBSCHEMA_CATALOGS.into(),
            restrictions: Vec::new(),
            properties: Properties { format: Some("Tabular".into()), ..Properties::default() },
        }
    }

    /// `TMSCHEMA_TABLES` of one database.
    pub fn tables(database: impl Into<String>) -> Self {
        Discover::tmschema(TMSCHEMA_TABLES, database)
    }

    /// `TMSCHEMA_ROLES` of one database.
    pub fn roles(database: impl Into<String>) -> Self {
        Discover::tmschema("TMSCHEMA_ROLES", database)
    }

    /// `TMSCHEMA_ROLE_MEMBERSHIPS` of one database.
    pub fn role_memberships(database: impl Into<String>) -> Self {
        Discover::tmschema("TMSCHEMA_ROLE_MEMBERSHIPS", database)
    }

    /// `DISCOVER_STORAGE_TABLE_COLUMN_SEGMENTS` of one database: a row per column segment, with its `USED_SIZE` in
    /// bytes (the rowset reference in bi-shared-docs and MS-SSAS §3.1.4.2.2.1.3.60).
    pub fn storage_segments(database: impl Into<String>) -> Self {
        Discover::storage("DISCOVER_STORAGE_TABLE_COLUMN_SEGMENTS", database)
    }

    /// `DISCOVER_STORAGE_TABLES` of one database: a row per storage table with its `ROWS_COUNT` (MS-SSAS
    /// §3.1.4.2.2.1.3.58, and the SQL Server rowset reference, which names `DATABASE_NAME` as a restriction).
    pub fn storage_tables(database: impl Into<String>) -> Self {
        Discover::storage("DISCOVER_STORAGE_TABLES", database)
    }

    /// A storage rowset of one database (restricted by `DATABASE_NAME`, with the catalog set).
    fn storage(request_type: &str, database: impl Into<String>) -> Self {
        let database = database.into();
        Discover {
            request_type: request_type.into(),
            restrictions: vec![("DATABASE_NAME".into(), database.clone())],
            properties: Properties {
                catalog: Some(database),
                format: Some("Tabular".into()),
                ..Properties::default()
            },
        }
    }

    /// A `TMSCHEMA_*` rowset of one database (restricted by `DatabaseName`, with the catalog set).
    fn tmschema(request_type: &str, database: impl Into<String>) -> Self {
        let database = database.into();
        Discover {
            request_type: request_type.into(),
            restrictions: vec![("DatabaseName".into(), database.clone())],
            properties: Properties {
                catalog: Some(database),
                format: Some("Tabular".into()),
                ..Properties::default()
            },
        }
    }
}

/// The XMLA method of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// Run a command.
    Execute(Execute),
    /// Read a schema rowset.
    Discover(Discover),
}

/// One XMLA request: a SOAP envelope with an optional session header and one method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Session header, if any. Backup and restore need none.
    pub session: Option<SessionHeader>,
    /// The method.
    pub method: Method,
}

impl Request {
    /// An `Execute` of `command` with no properties and no session.
    pub fn execute(command: Command) -> Self {
        Request {
            session: None,
            method: Method::Execute(Execute { command, properties: Properties::default() }),
        }
    }

    /// A `Discover` with no session.
    pub fn discover(discover: Discover) -> Self {
        Request { session: None, method: Method::Discover(discover) }
    }

    /// The `Catalog` property: the database the request is about.
    pub fn catalog(&self) -> Option<&str> {
        match &self.method {
            Method::Execute(e) => e.properties.catalog.as_deref(),
            Method::Discover(d) => d.properties.catalog.as_deref(),
        }
    }

    /// Sets (or clears) the `Catalog` property.
    pub fn set_catalog(&mut self, catalog: Option<String>) {
        match &mut self.method {
            Method::Execute(e) => e.properties.catalog = catalog,
            Method::Discover(d) => d.properties.catalog = catalog,
        }
    }

    /// This request with the `Catalog` property set (or cleared).
    #[must_use]
    pub fn with_catalog(mut self, catalog: Option<String>) -> Self {
        self.set_catalog(catalog);
        self
    }

    /// Writes the SOAP envelope as [`Request::to_xml`] does, with a backup or restore password written as
    /// [`PASSWORD_MASK`](crate::PASSWORD_MASK): what `--dry-run` shows. The password is replaced before writing, so
    /// no escaped form of it can slip through.
    ///
    /// ```
    /// use xmla_proto::{Backup, Command, Password, Request};
    /// let mut b = Backup::new("Sales", "Sales.abf");
    /// b.password = Some(Password::new("p<&\"w"));
    /// let xml = Request::execute(Command::backup_tmsl(b)).to_xml_masked().unwrap();
    /// assert!(xml.contains("********") && !xml.contains("p&lt;"));
    /// ```
    pub fn to_xml_masked(&self) -> Result<String> {
        let mut masked = self.clone();
        if let Method::Execute(e) = &mut masked.method {
            let password = match &mut e.command {
                Command::Backup(b, _) => &mut b.password,
                Command::Restore(r, _) => &mut r.password,
                Command::Statement(_) => return masked.to_xml(),
            };
            if password.is_some() {
                *password = Some(crate::Password::new(crate::PASSWORD_MASK));
            }
        }
        masked.to_xml()
    }

    /// The `SOAPAction` HTTP header value for this request.
    pub fn soap_action(&self) -> &'static str {
        match self.method {
            Method::Execute(_) => SOAP_ACTION_EXECUTE,
            Method::Discover(_) => SOAP_ACTION_DISCOVER,
        }
    }

    /// Writes the SOAP envelope. Every value is checked first: an empty required name or a character XML 1.0 cannot
    /// carry is an error and nothing is written.
    pub fn to_xml(&self) -> Result<String> {
        self.validate()?;
        let Request { session, method } = self;
        let mut w = XmlWriter::new();
        w.start("soap:Envelope", &[("xmlns:soap", SOAP_NS)]);
        if let Some(h) = session {
            w.start("soap:Header", &[]);
            match h {
                SessionHeader::Begin => {
                    w.empty("BeginSession", &[("xmlns", XMLA_NS), ("mustUnderstand", "1")])
                }
                SessionHeader::Session(id) => w.empty(
                    "Session",
                    &[("xmlns", XMLA_NS), ("mustUnderstand", "1"), ("SessionId", id)],
                ),
                SessionHeader::End(id) => w.empty(
                    "EndSession",
                    &[("xmlns", XMLA_NS), ("mustUnderstand", "1"), ("SessionId", id)],
                ),
            }
            w.end("soap:Header");
        }
        w.start("soap:Body", &[]);
        match method {
            Method::Execute(Execute { command, properties }) => {
                w.start("Execute", &[("xmlns", XMLA_NS)]);
                w.start("Command", &[]);
                match command {
                    Command::Backup(b, Syntax::Assl) => b.write_assl(&mut w),
                    Command::Backup(b, Syntax::Tmsl) => w.leaf("Statement", &tmsl::write_backup(b)),
                    Command::Restore(r, Syntax::Assl) => r.write_assl(&mut w),
                    Command::Restore(r, Syntax::Tmsl) => {
                        w.leaf("Statement", &tmsl::write_restore(r))
                    }
                    Command::Statement(s) => w.leaf("Statement", s),
                }
                w.end("Command");
                write_properties(&mut w, properties);
                w.end("Execute");
            }
            Method::Discover(Discover { request_type, restrictions, properties }) => {
                w.start("Discover", &[("xmlns", XMLA_NS)]);
                w.leaf("RequestType", request_type);
                w.start("Restrictions", &[]);
                if restrictions.is_empty() {
                    w.empty("RestrictionList", &[]);
                } else {
                    w.start("RestrictionList", &[]);
                    for (k, v) in restrictions {
                        w.leaf(k, v);
                    }
                    w.end("RestrictionList");
                }
                w.end("Restrictions");
                write_properties(&mut w, properties);
                w.end("Discover");
            }
        }
        w.end("soap:Body");
        w.end("soap:Envelope");
        Ok(w.finish())
    }

    fn validate(&self) -> Result<()> {
        match &self.session {
            Some(SessionHeader::Session(id) | SessionHeader::End(id)) => {
                check_name("SessionId", id)?
            }
            Some(SessionHeader::Begin) | None => {}
        }
        let properties = match &self.method {
            Method::Execute(Execute { command, properties }) => {
                match command {
                    Command::Backup(b, syntax) => b.validate(*syntax)?,
                    Command::Restore(r, syntax) => r.validate(*syntax)?,
                    Command::Statement(s) => check_chars("Statement", s)?,
                }
                properties
            }
            Method::Discover(Discover { request_type, restrictions, properties }) => {
                check_element_name("RequestType", request_type)?;
                for (k, v) in restrictions {
                    check_element_name("RestrictionList", k)?;
                    check_chars("RestrictionList", v)?;
                }
                properties
            }
        };
        let Properties { catalog, timeout: _, locale_identifier: _, format, other } = properties;
        if let Some(c) = catalog {
            check_chars("Catalog", c)?;
        }
        if let Some(f) = format {
            check_chars("Format", f)?;
        }
        for (k, v) in other {
            check_element_name("PropertyList", k)?;
            if is_known_property(k) {
                return Err(Error::InvalidValue {
                    field: "PropertyList",
                    preview: preview(k),
                    reason: "this property has its own field in Properties; set it there".into(),
                });
            }
            check_chars("PropertyList", v)?;
        }
        Ok(())
    }

    /// Parses a request as clients write it: a SOAP envelope (any prefix, or none) or a bare `Execute`/`Discover`
    /// element; ASSL or TMSL commands; children in any order; namespaces ignored.
    pub fn parse(input: &[u8]) -> Result<Request> {
        if input.len() > MAX_REQUEST_BYTES {
            return Err(Error::Shape(format!(
                "the request is {} bytes, more than the {MAX_REQUEST_BYTES} a request may have",
                input.len()
            )));
        }
        let root = parse_tree(input)?;
        let (session, method_el) = match root.name.as_str() {
            "Envelope" => {
                let session = match root.child("Header") {
                    Some(h) => parse_session_header(h)?,
                    None => None,
                };
                let body = root
                    .child("Body")
                    .ok_or_else(|| Error::Shape("the envelope has no <Body>".into()))?;
                let method = body
                    .children
                    .iter()
                    .find(|c| c.name == "Execute" || c.name == "Discover")
                    .ok_or_else(|| {
                        Error::Shape("the soap body holds no <Execute> or <Discover>".into())
                    })?;
                (session, method)
            }
            "Execute" | "Discover" => (None, &root),
            other => {
                return Err(Error::Shape(format!(
                    "expected a soap <Envelope>, <Execute> or <Discover>, found <{other}>"
                )));
            }
        };
        let method = match method_el.name.as_str() {
            "Execute" => Method::Execute(parse_execute(method_el)?),
            _ => Method::Discover(parse_discover(method_el)?),
        };
        Ok(Request { session, method })
    }
}

/// Element names written from user data must be XML names; this crate only needs simple ones.
fn check_element_name(field: &'static str, name: &str) -> Result<()> {
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidValue {
            field,
            preview: preview(name),
            reason: "an element name must start with a letter or '_' and hold only ASCII letters, digits, '_', '-' or '.'".into(),
        })
    }
}

fn is_known_property(name: &str) -> bool {
    matches!(name, "Catalog" | "Timeout" | "LocaleIdentifier" | "Format")
}

fn write_properties(w: &mut XmlWriter, p: &Properties) {
    let Properties { catalog, timeout, locale_identifier, format, other } = p;
    w.start("Properties", &[]);
    let empty =
        catalog.is_none() && timeout.is_none() && locale_identifier.is_none() && format.is_none();
    if empty && other.is_empty() {
        w.empty("PropertyList", &[]);
    } else {
        w.start("PropertyList", &[]);
        if let Some(c) = catalog {
            w.leaf("Catalog", c);
        }
        if let Some(t) = timeout {
            w.leaf("Timeout", &t.to_string());
        }
        if let Some(l) = locale_identifier {
            w.leaf("LocaleIdentifier", &l.to_string());
        }
        if let Some(f) = format {
            w.leaf("Format", f);
        }
        for (k, v) in other {
            w.leaf(k, v);
        }
        w.end("PropertyList");
    }
    w.end("Properties");
}

fn parse_session_header(header: &Element) -> Result<Option<SessionHeader>> {
    let mut found = None;
    for h in &header.children {
        let parsed = match h.name.as_str() {
            "BeginSession" => SessionHeader::Begin,
            "Session" | "EndSession" => {
                let id = h
                    .attr("SessionId")
                    .ok_or_else(|| {
                        Error::Shape(format!("<{}> has no SessionId attribute", h.name))
                    })?
                    .to_owned();
                if h.name == "Session" {
                    SessionHeader::Session(id)
                } else {
                    SessionHeader::End(id)
                }
            }
            // Other headers (Version, ProtocolCapabilities, ...) carry nothing this crate acts on.
            _ => continue,
        };
        if found.is_some() {
            return Err(Error::Shape("the soap header holds more than one session element".into()));
        }
        found = Some(parsed);
    }
    Ok(found)
}

fn parse_properties(parent: &Element) -> Result<Properties> {
    let mut p = Properties::default();
    let Some(list) = parent.child("Properties").and_then(|ps| ps.child("PropertyList")) else {
        return Ok(p);
    };
    for prop in &list.children {
        let value = prop.simple_text()?;
        match prop.name.as_str() {
            "Catalog" => p.catalog = Some(value.to_owned()),
            "Timeout" => p.timeout = Some(parse_u32("Timeout", value)?),
            "LocaleIdentifier" => p.locale_identifier = Some(parse_u32("LocaleIdentifier", value)?),
            "Format" => p.format = Some(value.to_owned()),
            other => p.other.push((other.to_owned(), value.to_owned())),
        }
    }
    Ok(p)
}

fn parse_u32(field: &'static str, value: &str) -> Result<u32> {
    value.trim().parse().map_err(|_| Error::InvalidValue {
        field,
        preview: preview(value),
        reason: "it is not a whole number between 0 and 4294967295".into(),
    })
}

fn parse_execute(el: &Element) -> Result<Execute> {
    let command_el =
        el.child("Command").ok_or_else(|| Error::Shape("<Execute> has no <Command>".into()))?;
    let mut commands = command_el.children.iter();
    let Some(inner) = commands.next() else {
        // An empty <Statement/> is what ADOMD sends to open a session; an empty <Command/> is nothing at all.
        return Err(Error::Shape("<Command> is empty; it must hold one command".into()));
    };
    if commands.next().is_some() || !command_el.text.trim().is_empty() {
        return Err(Error::Shape("<Command> must hold exactly one command".into()));
    }
    let command = match inner.name.as_str() {
        "Backup" => Command::Backup(Backup::parse_assl(inner)?, Syntax::Assl),
        "Restore" => Command::Restore(Restore::parse_assl(inner)?, Syntax::Assl),
        "Statement" => {
            let text = inner.simple_text()?;
            match tmsl::parse(text)? {
                tmsl::Parsed::Backup(b) => Command::Backup(b, Syntax::Tmsl),
                tmsl::Parsed::Restore(r) => Command::Restore(r, Syntax::Tmsl),
                tmsl::Parsed::Other => Command::Statement(text.to_owned()),
            }
        }
        other => return Err(Error::Unsupported(format!("the command <{other}>"))),
    };
    Ok(Execute { command, properties: parse_properties(el)? })
}

fn parse_discover(el: &Element) -> Result<Discover> {
    let request_type = el
        .child("RequestType")
        .ok_or_else(|| Error::Shape("<Discover> has no <RequestType>".into()))?
        .simple_text()?
        .trim()
        .to_owned();
    let mut restrictions = Vec::new();
    if let Some(list) = el.child("Restrictions").and_then(|r| r.child("RestrictionList")) {
        for r in &list.children {
            if !r.children.is_empty() {
                // Multi-valued restrictions (<Value> children) are not needed by any rowset this crate reads.
                return Err(Error::Unsupported(format!(
                    "the multi-valued restriction <{}>",
                    r.name
                )));
            }
            restrictions.push((r.name.clone(), r.text.clone()));
        }
    }
    Ok(Discover { request_type, restrictions, properties: parse_properties(el)? })
}
