//! JSON written the way Meta writes webhook bodies: compact, non-ASCII escaped as `\uXXXX` with
//! lowercase hex (UTF-16 surrogate pairs beyond the BMP), `/` left alone.
//!
//! The signature covers these exact bytes, so a receiver that re-serialises instead of hashing the
//! raw body fails here just as it would against Meta.

use std::io;

use serde::Serialize;
use serde_json::ser::{Formatter, Serializer};

/// Serialises `value` compactly with Meta's escaping.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(256);
    let mut ser = Serializer::with_formatter(&mut out, MetaFormatter);
    value.serialize(&mut ser)?;
    Ok(out)
}

/// Removes insignificant whitespace from a JSON text (kept byte for byte inside strings), so a
/// caller-supplied fragment looks like the rest of a Meta body. Assumes `json` is valid JSON.
pub fn minify(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\n' | '\r' | '\t') {
            out.push(c);
        }
    }
    out
}

/// serde_json's compact formatter, with every non-ASCII character written as a `\u` escape.
///
/// Non-ASCII can only occur inside strings in valid JSON, so escaping raw fragments
/// (`RawValue`) character by character is just as correct as escaping string fragments.
#[derive(Debug, Clone, Copy, Default)]
pub struct MetaFormatter;

impl MetaFormatter {
    fn write_escaped<W: ?Sized + io::Write>(writer: &mut W, text: &str) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in text.char_indices() {
            if c.is_ascii() {
                continue;
            }
            writer.write_all(text.as_bytes().get(start..i).unwrap_or_default())?;
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                write!(writer, "\\u{unit:04x}")?;
            }
            start = i + c.len_utf8();
        }
        writer.write_all(text.as_bytes().get(start..).unwrap_or_default())
    }
}

impl Formatter for MetaFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        Self::write_escaped(writer, fragment)
    }

    fn write_raw_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        Self::write_escaped(writer, fragment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(value: &serde_json::Value) -> String {
        String::from_utf8(to_vec(value).unwrap_or_default()).unwrap_or_default()
    }

    #[test]
    fn escapes_accents_and_emoji_as_lowercase_utf16() {
        assert_eq!(meta(&json!("Olá 👋")), r#""Ol\u00e1 \ud83d\udc4b""#);
    }

    #[test]
    fn escapes_the_example_from_metas_signature_docs() {
        assert_eq!(meta(&json!("äöå")), r#""\u00e4\u00f6\u00e5""#);
    }

    #[test]
    fn leaves_slashes_at_signs_and_ascii_alone() {
        assert_eq!(
            meta(&json!({"url": "https://x.y/a?b=c", "mail": "a@b.c"})),
            r#"{"mail":"a@b.c","url":"https://x.y/a?b=c"}"#
        );
    }

    #[test]
    fn keeps_json_escapes_for_quotes_backslashes_and_controls() {
        assert_eq!(
            meta(&json!("say \"hi\"\\\n\u{1}")),
            r#""say \"hi\"\\\n\u0001""#
        );
    }

    #[test]
    fn escapes_non_ascii_in_keys_and_raw_values() {
        let raw = serde_json::value::RawValue::from_string(r#"{"ñ":"€"}"#.to_owned());
        let Ok(raw) = raw else {
            panic!("valid raw value")
        };
        let out = String::from_utf8(to_vec(&raw).unwrap_or_default()).unwrap_or_default();
        assert_eq!(out, r#"{"\u00f1":"\u20ac"}"#);
    }

    #[test]
    fn output_parses_back_to_the_same_value() {
        let value = json!({"text": "Olá 👋 — ok/done", "n": [1, 2.5, null, true]});
        let parsed: serde_json::Value =
            serde_json::from_slice(&to_vec(&value).unwrap_or_default()).unwrap_or_default();
        assert_eq!(parsed, value);
    }

    #[test]
    fn minify_drops_whitespace_outside_strings_only() {
        assert_eq!(
            minify("{ \"a b\" : [ 1 ,\n 2 ], \"c\\\" d\" :\t\"x  y\" }"),
            r#"{"a b":[1,2],"c\" d":"x  y"}"#
        );
    }
}
