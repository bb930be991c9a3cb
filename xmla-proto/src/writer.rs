//! A thin layer over `quick_xml::Writer` that writes indented XML with our exact escaping.

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

use crate::xml::{escape_attr, escape_text};

pub(crate) struct XmlWriter {
    inner: Writer<Vec<u8>>,
}

impl XmlWriter {
    pub(crate) fn new() -> Self {
        let mut inner = Writer::new_with_indent(Vec::new(), b' ', 2);
        inner
            .write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))
            .expect("writing to a Vec cannot fail");
        XmlWriter { inner }
    }

    fn event(&mut self, event: Event<'_>) {
        self.inner.write_event(event).expect("writing to a Vec cannot fail");
    }

    fn start_tag<'a>(name: &'a str, attrs: &[(&str, &str)]) -> BytesStart<'a> {
        let mut start = BytesStart::new(name);
        for (k, v) in attrs {
            // Values are escaped here so that CR, LF and TAB survive attribute normalisation.
            start.push_attribute(quick_xml::events::attributes::Attribute {
                key: quick_xml::name::QName(k.as_bytes()),
                value: escape_attr(v).into_bytes().into(),
            });
        }
        start
    }

    pub(crate) fn start(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.event(Event::Start(Self::start_tag(name, attrs)));
    }

    pub(crate) fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.event(Event::Empty(Self::start_tag(name, attrs)));
    }

    pub(crate) fn end(&mut self, name: &str) {
        self.event(Event::End(BytesEnd::new(name)));
    }

    /// `<name attrs>text</name>`, or `<name attrs/>` for empty text.
    pub(crate) fn leaf_with(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) {
        if text.is_empty() {
            self.empty(name, attrs);
            return;
        }
        self.start(name, attrs);
        self.event(Event::Text(BytesText::from_escaped(escape_text(text))));
        self.end(name);
    }

    pub(crate) fn leaf(&mut self, name: &str, text: &str) {
        self.leaf_with(name, &[], text);
    }

    pub(crate) fn finish(self) -> String {
        String::from_utf8(self.inner.into_inner()).expect("only str was written")
    }
}
