//! XML helpers shared by requests and responses: character validation, escaping, and a small bounded element tree
//! for request parsing.

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::error::{Error, Result};

/// Nesting deeper than this is refused; no XMLA message comes close.
pub(crate) const MAX_DEPTH: usize = 256;

/// Whether XML 1.0 can carry `c` (the `Char` production; Rust strings hold no surrogates).
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// A short, quoted, escaped preview of a value for error messages.
pub(crate) fn preview(value: &str) -> String {
    const MAX: usize = 60;
    // Control characters are escaped so that a message stays one readable line; quotes are left as they are.
    let mut s: String = value
        .chars()
        .take(MAX)
        .map(|c| if c.is_control() { c.escape_debug().to_string() } else { c.to_string() })
        .collect();
    if value.chars().count() > MAX {
        s.push('…');
    }
    format!("'{s}'")
}

/// Refuses a value that XML 1.0 cannot carry. `field` names the element the value was meant for.
pub(crate) fn check_chars(field: &'static str, value: &str) -> Result<()> {
    if let Some(c) = value.chars().find(|&c| !is_xml_char(c)) {
        return Err(Error::InvalidValue {
            field,
            preview: preview(value),
            reason: format!(
                "it holds the character U+{:04X}, which XML 1.0 cannot carry; remove it or choose another name",
                c as u32
            ),
        });
    }
    Ok(())
}

/// Like [`check_chars`], and also refuses an empty value.
pub(crate) fn check_name(field: &'static str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(Error::InvalidValue {
            field,
            preview: "''".into(),
            reason: "it is empty; give a name".into(),
        });
    }
    check_chars(field, value)
}

/// Escapes text content so that it parses back to exactly the same string: `&`, `<`, `>` as entities and carriage
/// returns as a character reference (a literal CR would be normalised to LF by any XML reader).
pub(crate) fn escape_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes an attribute value (quoted with `"`); tabs and line breaks as references so they survive normalisation.
pub(crate) fn escape_attr(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\r' => out.push_str("&#13;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

/// Appends the text of a `Text`, `CData` or `GeneralRef` event to `out`. Returns false for other events.
pub(crate) fn append_text(event: &Event<'_>, out: &mut String) -> Result<bool> {
    match event {
        Event::Text(t) => {
            out.push_str(&t.xml10_content().map_err(|e| shape_err(format!("text: {e}")))?)
        }
        Event::CData(t) => {
            out.push_str(&t.xml10_content().map_err(|e| shape_err(format!("cdata: {e}")))?)
        }
        Event::GeneralRef(r) => {
            if let Some(c) =
                r.resolve_char_ref().map_err(|e| shape_err(format!("character reference: {e}")))?
            {
                out.push(c);
            } else {
                let name = r.decode().map_err(|e| shape_err(format!("entity reference: {e}")))?;
                match quick_xml::escape::resolve_predefined_entity(&name) {
                    Some(s) => out.push_str(s),
                    None => return Err(shape_err(format!("unknown entity reference '&{name};'"))),
                }
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn shape_err(msg: String) -> Error {
    Error::Shape(msg)
}

/// Converts a quick-xml error into ours, with the reader's position.
pub(crate) fn xml_err<R>(reader: &Reader<R>, e: impl std::fmt::Display) -> Error {
    Error::Xml { position: reader.buffer_position(), message: e.to_string() }
}

/// An element of a parsed request: local names only, namespaces ignored (the tolerance rule of the reference).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    /// All text directly inside this element, concatenated.
    pub text: String,
}

impl Element {
    pub(crate) fn attr(&self, local: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == local).map(|(_, v)| v.as_str())
    }

    pub(crate) fn child(&self, local: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == local)
    }

    /// The element's text, refusing child elements where a simple value is expected.
    pub(crate) fn simple_text(&self) -> Result<&str> {
        if let Some(c) = self.children.first() {
            return Err(Error::Shape(format!(
                "<{}> should hold text, not the element <{}>",
                self.name, c.name
            )));
        }
        Ok(&self.text)
    }
}

fn local(name: &[u8]) -> String {
    let local = match name.iter().rposition(|&b| b == b':') {
        Some(i) => &name[i + 1..],
        None => name,
    };
    String::from_utf8_lossy(local).into_owned()
}

/// Parses a whole document into an element tree. Comments, processing instructions and the declaration are skipped;
/// prefixes are dropped (so undeclared prefixes, as in old documentation examples, are accepted).
pub(crate) fn parse_tree(input: &[u8]) -> Result<Element> {
    let mut reader = Reader::from_reader(input);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut buf = Vec::new();
    loop {
        let event = reader.read_event_into(&mut buf).map_err(|e| xml_err(&reader, e))?;
        match &event {
            Event::Start(e) | Event::Empty(e) => {
                if root.is_some() {
                    return Err(Error::Shape("content after the document element".into()));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(Error::Shape(format!("elements nested deeper than {MAX_DEPTH}")));
                }
                let mut el = Element { name: local(e.name().as_ref()), ..Element::default() };
                for attr in e.attributes() {
                    let attr = attr.map_err(|e| xml_err(&reader, e))?;
                    let value = attr.unescape_value().map_err(|e| xml_err(&reader, e))?;
                    el.attrs.push((local(attr.key.as_ref()), value.into_owned()));
                }
                if matches!(event, Event::Empty(_)) {
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(el),
                        None => root = Some(el),
                    }
                } else {
                    stack.push(el);
                }
            }
            Event::End(_) => {
                let el =
                    stack.pop().ok_or_else(|| xml_err(&reader, "end tag without a start tag"))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Eof => break,
            other => {
                let mut text = String::new();
                if append_text(other, &mut text)? {
                    match stack.last_mut() {
                        Some(el) => el.text.push_str(&text),
                        None if text.trim().is_empty() => {}
                        None => {
                            return Err(Error::Shape(format!(
                                "text outside any element: {}",
                                preview(&text)
                            )));
                        }
                    }
                }
            }
        }
        buf.clear();
    }
    if let Some(open) = stack.last() {
        return Err(Error::Xml {
            position: reader.buffer_position(),
            message: format!("the input ended before <{}> was closed (truncated?)", open.name),
        });
    }
    root.ok_or_else(|| Error::Shape("the input holds no xml element".into()))
}

/// Parses an `xs:boolean` (`true`, `false`, `1`, `0`, surrounding whitespace allowed).
pub(crate) fn parse_bool(field: &'static str, text: &str) -> Result<bool> {
    match text.trim() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(Error::InvalidValue {
            field,
            preview: preview(text),
            reason: "it is not an xs:boolean; use true, false, 1 or 0".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_round_trips_awkward_text() {
        let s = "a&b<c>d\"e'f]]>g\r\nh\té";
        let doc = format!("<x>{}</x>", escape_text(s));
        assert_eq!(parse_tree(doc.as_bytes()).unwrap().text, s);
        let doc = format!("<x a=\"{}\"/>", escape_attr(s));
        assert_eq!(parse_tree(doc.as_bytes()).unwrap().attr("a"), Some(s));
    }

    #[test]
    fn control_characters_are_refused_with_the_field_named() {
        let err = check_name("DatabaseName", "bad\u{1}name").unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid DatabaseName 'bad\\u{1}name': it holds the character U+0001, which XML 1.0 cannot carry; remove it or choose another name"
        );
        assert!(check_name("File", "").unwrap_err().to_string().contains("it is empty"));
    }

    #[test]
    fn truncated_input_names_the_open_element() {
        let err = parse_tree(b"<a><b>text").unwrap_err().to_string();
        assert!(err.contains("before <b> was closed"), "{err}");
    }
}
