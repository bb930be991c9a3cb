//! Small XML helpers: text decoding (UTF-16LE or UTF-8) and a flat event walk over local element names.

use quick_xml::events::Event;

/// Decodes an XML document stored as UTF-16LE (with or without BOM) or UTF-8, dropping trailing NULs.
pub(crate) fn decode_text(bytes: &[u8]) -> Result<String, String> {
    let utf16 = |body: &[u8]| -> Result<String, String> {
        if !body.len().is_multiple_of(2) {
            return Err("utf-16 text has an odd number of bytes".into());
        }
        let units = body.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]));
        let s: String = char::decode_utf16(units)
            .collect::<Result<_, _>>()
            .map_err(|_| "invalid utf-16 text".to_string())?;
        Ok(s.trim_end_matches('\0').to_string())
    };
    if let Some(body) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return utf16(body);
    }
    if bytes.len() >= 2 && bytes[1] == 0 {
        return utf16(bytes);
    }
    let body = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
    let s = std::str::from_utf8(body).map_err(|_| "invalid utf-8 text".to_string())?;
    Ok(s.trim_end_matches('\0').to_string())
}

/// One step of [`walk`].
#[derive(Debug)]
pub(crate) enum Step<'s> {
    /// An element opened; the stack ends with its local name.
    Open(&'s [String]),
    /// An element closed with this text content (direct text only); the stack still ends with its local name.
    Close(&'s [String], &'s str),
}

/// Walks a document, reporting every element open and close with the stack of local names.
pub(crate) fn walk(xml: &str, mut f: impl FnMut(Step<'_>)) -> Result<(), String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut stack: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut seen_root = false;
    loop {
        let event = reader.read_event().map_err(|e| format!("xml does not parse: {e}"))?;
        match event {
            Event::Start(e) => {
                if stack.is_empty() && seen_root {
                    return Err("xml has more than one root element".into());
                }
                seen_root = true;
                stack.push(String::from_utf8_lossy(e.local_name().as_ref()).into_owned());
                text.clear();
                f(Step::Open(&stack));
            }
            Event::Empty(e) => {
                if stack.is_empty() && seen_root {
                    return Err("xml has more than one root element".into());
                }
                seen_root = true;
                stack.push(String::from_utf8_lossy(e.local_name().as_ref()).into_owned());
                f(Step::Open(&stack));
                f(Step::Close(&stack, ""));
                stack.pop();
                text.clear();
            }
            Event::End(_) => {
                f(Step::Close(&stack, &text));
                stack.pop();
                text.clear();
            }
            Event::Text(t) => {
                text.push_str(&t.decode().map_err(|e| format!("xml text does not decode: {e}"))?);
            }
            Event::CData(t) => {
                text.push_str(&t.decode().map_err(|e| format!("xml text does not decode: {e}"))?);
            }
            Event::GeneralRef(r) => {
                if let Some(c) =
                    r.resolve_char_ref().map_err(|e| format!("bad character reference: {e}"))?
                {
                    text.push(c);
                } else {
                    let name = r.decode().map_err(|e| format!("bad entity reference: {e}"))?;
                    let c = match name.as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        other => return Err(format!("unknown entity &{other};")),
                    };
                    text.push(c);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err(format!(
            "xml ends inside element <{}>",
            stack.last().map_or("", |s| s.as_str())
        ));
    }
    if !seen_root {
        return Err("xml has no root element".into());
    }
    Ok(())
}

/// Escapes text for element content.
pub(crate) fn escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_both_encodings() {
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("<a/>".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(decode_text(&utf16).unwrap(), "<a/>");
        assert_eq!(decode_text(b"<a/>\0\0").unwrap(), "<a/>");
        assert!(decode_text(&[0xFF, 0xFE, 0x00]).is_err());
    }

    #[test]
    fn walks_text_with_entities() {
        let mut seen = Vec::new();
        walk("<r><x>a &amp; b&#33;</x><y/></r>", |s| {
            if let Step::Close(stack, text) = s {
                seen.push((stack.join("/"), text.to_string()));
            }
        })
        .unwrap();
        assert_eq!(seen[0], ("r/x".to_string(), "a & b!".to_string()));
        assert_eq!(seen[1], ("r/y".to_string(), String::new()));
        assert!(walk("<r><x>", |_| {}).is_err());
        assert!(walk("", |_| {}).is_err());
    }
}
