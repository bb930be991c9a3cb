//! pbi-sim's reader of XMLA requests, written here from the reference (`../shared/reference/xmla.md` §2 and §3),
//! never with the client's xmla-proto: a request the client writes wrongly is refused here as a server would.
//!
//! What it follows: element names matched by local name (namespaces differ between documentation and the wire);
//! ASSL `Backup` and `Restore` children in any order (`xs:all`), booleans `true`/`false`/`1`/`0`, `ApplyCompression`
//! true by default, an empty `Password` meaning none; `Statement` text as TMSL when it is a JSON object whose one key
//! is `backup` or `restore`, checked against the TMSL reference's properties (unknown keys and a string where a
//! boolean belongs are refused, as vector V15 must be); anything else in a `Statement` is a query.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use serde::Deserialize;

/// A request: its session header and its method.
#[derive(Debug)]
pub(crate) struct Request {
    pub session: Option<Session>,
    pub method: Method,
}

/// The SOAP session header (§2.2).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Session {
    Begin,
    Use(String),
    End,
}

#[derive(Debug)]
pub(crate) enum Method {
    Execute { command: Command, catalog: Option<String> },
    Discover(Discover),
}

/// `Discover`: the rowset asked for, its restrictions, and the `Catalog` property.
#[derive(Debug)]
pub(crate) struct Discover {
    pub request_type: String,
    pub restrictions: Vec<(String, String)>,
    pub catalog: Option<String>,
}

#[derive(Debug)]
pub(crate) enum Command {
    Backup(Backup, Syntax),
    Restore(Restore),
    Statement(String),
}

/// How a command was written: ASSL names the database by ID, TMSL by name (§3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Syntax {
    Assl,
    Tmsl,
}

#[derive(Debug)]
pub(crate) struct Backup {
    pub database: String,
    pub file: String,
    pub apply_compression: bool,
    pub allow_overwrite: bool,
    pub password: Option<String>,
    /// ASSL's `Security` (the TMSL command has none).
    pub security: Option<Security>,
}

#[derive(Debug)]
pub(crate) struct Restore {
    pub file: String,
    pub database_name: Option<String>,
    pub security: Option<Security>,
    pub allow_overwrite: bool,
    pub password: Option<String>,
    pub ignore_incompatibilities: bool,
    pub force_restore: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names, reason = "the names the wire uses")]
pub(crate) enum Security {
    SkipMembership,
    CopyAll,
    IgnoreSecurity,
}

/// An element: its local name, attributes (by local name), text and children.
#[derive(Debug, Default)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
    children: Vec<Element>,
}

impl Element {
    fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn only_child(&self) -> Result<&Element, String> {
        match self.children.as_slice() {
            [one] => Ok(one),
            _ => Err(format!("{} must hold exactly one element", self.name)),
        }
    }

    fn flag(&self, name: &str, default: bool) -> Result<bool, String> {
        match self.text_of(name).map(str::trim) {
            None => Ok(default),
            Some("true" | "1") => Ok(true),
            Some("false" | "0") => Ok(false),
            Some(other) => Err(format!("{name} must be a boolean, not '{other}'")),
        }
    }
}

fn local(name: &[u8]) -> String {
    let name = String::from_utf8_lossy(name);
    name.rsplit(':').next().unwrap_or_default().to_owned()
}

fn open(tag: &BytesStart<'_>) -> Result<Element, String> {
    let mut e = Element { name: local(tag.name().as_ref()), ..Element::default() };
    for a in tag.attributes().with_checks(false) {
        let a = a.map_err(|e| e.to_string())?;
        let value = a.unescape_value().map_err(|e| e.to_string())?;
        e.attrs.push((local(a.key.as_ref()), value.into_owned()));
    }
    Ok(e)
}

/// The document's root element, read whole (requests are small).
fn parse_tree(body: &[u8]) -> Result<Element, String> {
    let mut reader = Reader::from_reader(body);
    let mut stack: Vec<Element> = Vec::new();
    loop {
        let event = reader.read_event().map_err(|e| format!("not well-formed XML: {e}"))?;
        match event {
            Event::Start(tag) => stack.push(open(&tag)?),
            Event::Empty(tag) => {
                let e = open(&tag)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(e),
                    None => return Ok(e),
                }
            }
            Event::End(_) => {
                let e = stack.pop().ok_or("an end tag without a start")?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(e),
                    None => return Ok(e),
                }
            }
            Event::Text(t) => {
                if let Some(e) = stack.last_mut() {
                    e.text.push_str(&t.decode().map_err(|e| e.to_string())?);
                }
            }
            Event::CData(t) => {
                if let Some(e) = stack.last_mut() {
                    e.text.push_str(&t.decode().map_err(|e| e.to_string())?);
                }
            }
            Event::GeneralRef(r) => {
                let name = r.decode().map_err(|e| e.to_string())?;
                let c = match r.resolve_char_ref().map_err(|e| e.to_string())? {
                    Some(c) => c.to_string(),
                    None => quick_xml::escape::resolve_predefined_entity(&name)
                        .ok_or_else(|| format!("unknown entity &{name};"))?
                        .to_owned(),
                };
                if let Some(e) = stack.last_mut() {
                    e.text.push_str(&c);
                }
            }
            Event::Eof => return Err("the document ends before its root element does".into()),
            _ => {}
        }
    }
}

impl Request {
    /// Reads a SOAP request; the error says what is wrong with it.
    pub(crate) fn parse(body: &[u8]) -> Result<Request, String> {
        let envelope = parse_tree(body)?;
        if envelope.name != "Envelope" {
            return Err(format!("expected a SOAP Envelope, found {}", envelope.name));
        }
        let session = envelope.child("Header").and_then(session_of);
        let body = envelope.child("Body").ok_or("the Envelope has no Body")?;
        let method = body.only_child()?;
        let method = match method.name.as_str() {
            "Execute" => Method::Execute {
                command: command_of(method.child("Command").ok_or("Execute has no Command")?)?,
                catalog: catalog_of(method),
            },
            "Discover" => Method::Discover(Discover {
                request_type: method.text_of("RequestType").unwrap_or_default().trim().to_owned(),
                restrictions: method
                    .child("Restrictions")
                    .and_then(|r| r.child("RestrictionList"))
                    .map(|l| l.children.iter().map(|c| (c.name.clone(), c.text.clone())).collect())
                    .unwrap_or_default(),
                catalog: catalog_of(method),
            }),
            other => return Err(format!("unsupported method {other}")),
        };
        Ok(Request { session, method })
    }
}

fn session_of(header: &Element) -> Option<Session> {
    header.children.iter().find_map(|h| match h.name.as_str() {
        "BeginSession" => Some(Session::Begin),
        "Session" => h.attr("SessionId").map(|id| Session::Use(id.to_owned())),
        "EndSession" => Some(Session::End),
        _ => None,
    })
}

fn catalog_of(method: &Element) -> Option<String> {
    let list = method.child("Properties")?.child("PropertyList")?;
    list.text_of("Catalog").map(|c| c.trim().to_owned()).filter(|c| !c.is_empty())
}

fn command_of(command: &Element) -> Result<Command, String> {
    let inner = command.only_child()?;
    match inner.name.as_str() {
        "Backup" => assl_backup(inner),
        "Restore" => assl_restore(inner),
        "Statement" => statement(&inner.text),
        other => Err(format!("unsupported command {other}")),
    }
}

fn required(e: &Element, name: &str) -> Result<String, String> {
    match e.text_of(name).map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v.to_owned()),
        _ => Err(format!("{} needs {name}", e.name)),
    }
}

fn password(e: &Element) -> Option<String> {
    e.text_of("Password").filter(|p| !p.is_empty()).map(str::to_owned)
}

fn security(value: &str) -> Result<Security, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "skipmembership" => Ok(Security::SkipMembership),
        "copyall" => Ok(Security::CopyAll),
        "ignoresecurity" => Ok(Security::IgnoreSecurity),
        other => Err(format!(
            "Security must be SkipMembership, CopyAll or IgnoreSecurity, not '{other}'"
        )),
    }
}

fn assl_backup(b: &Element) -> Result<Command, String> {
    let object = b.child("Object").ok_or("Backup needs Object")?;
    Ok(Command::Backup(
        Backup {
            database: required(object, "DatabaseID")?,
            file: required(b, "File")?,
            apply_compression: b.flag("ApplyCompression", true)?,
            allow_overwrite: b.flag("AllowOverwrite", false)?,
            password: password(b),
            security: b.text_of("Security").map(security).transpose()?,
        },
        Syntax::Assl,
    ))
}

fn assl_restore(r: &Element) -> Result<Command, String> {
    Ok(Command::Restore(Restore {
        file: required(r, "File")?,
        database_name: r
            .text_of("DatabaseName")
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned),
        security: r.text_of("Security").map(security).transpose()?,
        allow_overwrite: r.flag("AllowOverwrite", false)?,
        password: password(r),
        ignore_incompatibilities: false,
        force_restore: false,
    }))
}

/// TMSL `backup` (§3.1).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TmslBackup {
    database: String,
    file: String,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    allow_overwrite: bool,
    #[serde(default = "yes")]
    apply_compression: bool,
}

fn yes() -> bool {
    true
}

/// TMSL `restore` (§3.2).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TmslRestore {
    database: String,
    file: String,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    allow_overwrite: bool,
    #[serde(default)]
    read_write_mode: Option<String>,
    #[serde(default)]
    db_storage_location: Option<String>,
    #[serde(default)]
    security: Option<String>,
    #[serde(default)]
    ignore_incompatibilities: bool,
    #[serde(default)]
    force_restore: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
enum Tmsl {
    Backup(TmslBackup),
    Restore(TmslRestore),
}

fn statement(text: &str) -> Result<Command, String> {
    let trimmed = text.trim();
    let is_command = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(trimmed)
        .is_ok_and(|o| o.len() == 1 && (o.contains_key("backup") || o.contains_key("restore")));
    if !is_command {
        return Ok(Command::Statement(text.to_owned()));
    }
    let tmsl: Tmsl = serde_json::from_str(trimmed).map_err(|e| format!("invalid TMSL: {e}"))?;
    Ok(match tmsl {
        Tmsl::Backup(b) => Command::Backup(
            Backup {
                database: b.database,
                file: b.file,
                apply_compression: b.apply_compression,
                allow_overwrite: b.allow_overwrite,
                password: b.password.filter(|p| !p.is_empty()),
                security: None,
            },
            Syntax::Tmsl,
        ),
        Tmsl::Restore(r) => {
            // Accepted because the reference lists them; the simulated service has no use for them.
            let _ = (r.read_write_mode, r.db_storage_location);
            Command::Restore(Restore {
                file: r.file,
                database_name: Some(r.database).filter(|n| !n.is_empty()),
                security: r.security.as_deref().map(security).transpose()?,
                allow_overwrite: r.allow_overwrite,
                password: r.password.filter(|p| !p.is_empty()),
                ignore_incompatibilities: r.ignore_incompatibilities,
                force_restore: r.force_restore,
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../xmla-proto/tests/vectors");

    fn vector(name: &str) -> Vec<u8> {
        std::fs::read(format!("{VECTORS}/{name}")).unwrap()
    }

    fn in_statement(json: &[u8]) -> Vec<u8> {
        let json = String::from_utf8_lossy(json).replace('&', "&amp;").replace('<', "&lt;");
        format!(
            r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><Execute xmlns="urn:schemas-microsoft-com:xml-analysis"><Command><Statement>{json}</Statement></Command></Execute></soap:Body></soap:Envelope>"#
        )
        .into_bytes()
    }

    #[test]
    fn the_reference_tmsl_commands_are_read_and_v15_is_refused() {
        let Method::Execute { command: Command::Restore(r), .. } =
            Request::parse(&in_statement(&vector("V12.json"))).unwrap().method
        else {
            panic!("V12 is a restore")
        };
        assert!(r.ignore_incompatibilities);
        assert_eq!(r.security, Some(Security::CopyAll));
        let Method::Execute { command: Command::Backup(b, Syntax::Tmsl), .. } =
            Request::parse(&in_statement(&vector("V14.json"))).unwrap().method
        else {
            panic!("V14 is a backup")
        };
        assert!(b.password.is_some() && b.apply_compression);
        let err = Request::parse(&in_statement(&vector("V15.json"))).unwrap_err();
        assert!(err.contains("invalid TMSL"), "{err}");
    }

    /// V1 and V2 are methods alone: in an envelope, as they travel.
    fn enveloped(name: &str) -> Vec<u8> {
        let method = String::from_utf8(vector(name)).unwrap();
        format!(
            r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>{method}</soap:Body></soap:Envelope>"#
        )
        .into_bytes()
    }

    #[test]
    fn the_reference_requests_are_read() {
        let r = Request::parse(&enveloped("V1.xml")).unwrap();
        let Method::Execute { command: Command::Statement(s), catalog } = r.method else {
            panic!("V1 is a statement")
        };
        assert!(s.contains("SELECT [Measures].MEMBERS"), "{s}");
        assert_eq!(catalog.as_deref(), Some("Adventure Works DW Multidimensional 2012"));
        let r = Request::parse(&enveloped("V2.xml")).unwrap();
        let Method::Discover(d) = r.method else { panic!("V2 is a Discover") };
        assert_eq!(d.request_type, "MDSCHEMA_CUBES");
        assert!(!d.restrictions.is_empty());
        let r = Request::parse(&vector("V19.xml")).unwrap();
        assert!(matches!(r.method, Method::Execute { .. }), "{r:?}");
    }

    #[test]
    fn assl_backup_in_any_order_with_defaults_and_a_bad_boolean_refused() {
        let xml = |inner: &str| {
            format!(
                r#"<Envelope><Header><BeginSession/></Header><Body><Execute><Command><Backup xmlns="http://schemas.microsoft.com/analysisservices/2003/engine">{inner}</Backup></Command><Properties><PropertyList><Catalog>Sales</Catalog></PropertyList></Properties></Execute></Body></Envelope>"#
            )
        };
        let r = Request::parse(
            xml("<File>a &amp; b.abf</File><Password></Password><Object><DatabaseID>id-1</DatabaseID></Object>").as_bytes(),
        )
        .unwrap();
        assert_eq!(r.session, Some(Session::Begin));
        let Method::Execute { command: Command::Backup(b, Syntax::Assl), catalog } = r.method
        else {
            panic!("a backup")
        };
        assert_eq!((b.database.as_str(), b.file.as_str()), ("id-1", "a & b.abf"));
        assert!(b.apply_compression && b.password.is_none());
        assert_eq!(catalog.as_deref(), Some("Sales"));
        let err = Request::parse(
            xml("<Object><DatabaseID>x</DatabaseID></Object><File>f.abf</File><ApplyCompression>yes</ApplyCompression>")
                .as_bytes(),
        )
        .unwrap_err();
        assert!(err.contains("ApplyCompression must be a boolean"), "{err}");
        let err = Request::parse(xml("<File>f.abf</File>").as_bytes()).unwrap_err();
        assert!(err.contains("Backup needs Object"), "{err}");
    }
}
