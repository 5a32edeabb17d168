//! Reading Meta's JSON leniently: one odd field never costs the rest of an update.
//!
//! The typed payload models (`functions/processor/src/payload`, [`crate::delivery`]) put these
//! on every field with `#[serde(default, deserialize_with = "…")]`: each reads whatever JSON is
//! there and keeps what fits, so a number where a string was expected, an object where a flag
//! was, or a field Meta adds tomorrow changes that one field only. [`repair_lone_surrogates`]
//! makes text a strict JSON parser would refuse (a `\ud800` with no partner) readable first.

use std::borrow::Cow;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::Value;

/// Meta ids and texts are strings; a number is accepted and stringified, an empty string is
/// absent (as is anything else).
pub fn id_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Meta sends numbers as strings (`"1749416383"`) and sometimes as numbers.
pub fn as_i64(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// A string field (see [`id_string`]).
pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(id_string(&Value::deserialize(d)?))
}

/// An integer field sent as a number or a numeric string.
pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(as_i64(&Value::deserialize(d)?))
}

/// A decimal field sent as a number or a numeric string.
pub fn float<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(v.as_f64().or_else(|| {
        v.as_str()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|f| f.is_finite())
    }))
}

/// A boolean field; anything but `true`/`false` is absent.
pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(Value::deserialize(d)?.as_bool())
}

/// A nested object read as `T` (itself lenient); absent when the JSON there is not an object
/// (serde would otherwise fill a struct from a list, field by position).
pub fn object<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    Ok(from_object(Value::deserialize(d)?))
}

fn from_object<T: DeserializeOwned>(v: Value) -> Option<T> {
    v.is_object().then(|| T::deserialize(v).ok()).flatten()
}

/// A list whose items are read as `T`; items that are not one (or are lists) are skipped, a
/// non-list is empty.
pub fn list<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => items
            .into_iter()
            .filter(|i| !i.is_array())
            .filter_map(|i| T::deserialize(i).ok())
            .collect(),
        _ => Vec::new(),
    })
}

/// A list passed on as Meta sent its items (shared contacts, order items); a non-list is empty.
pub fn values<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Value>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => items,
        _ => Vec::new(),
    })
}

/// An object passed on as Meta sent it (a referral, a referred product, pricing); anything
/// else is absent.
pub fn json_object<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Ok(Some(Value::deserialize(d)?).filter(Value::is_object))
}

/// Any JSON but `null`, passed on as sent (a Flow answer that is not the JSON string Meta
/// documents).
pub fn any<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Ok(Some(Value::deserialize(d)?).filter(|v| !v.is_null()))
}

/// Reads `json` as `T`; JSON of another shape (or none) gives `T::default()`. Every field of a
/// payload model is lenient, so only a body that is not an object at all ends up empty.
pub fn parse<T: DeserializeOwned + Default>(json: &str) -> T {
    serde_json::from_str::<Value>(json)
        .ok()
        .and_then(from_object)
        .unwrap_or_default()
}

/// The JSON text with every `\uD800`–`\uDFFF` escape that is not half of a high–low pair
/// replaced by `\ufffd` (U+FFFD, the replacement character). A client that truncates a string
/// in the middle of an emoji leaves such a half behind; JSON's grammar allows it but no string
/// can hold it, so strict parsers refuse the whole document. Borrowed when nothing changes.
/// Escapes only occur inside strings, so the scan needs no string tracking; `\\ud800` (an
/// escaped backslash, then text) is skipped as the two-character escape it is.
pub fn repair_lone_surrogates(json: &str) -> Cow<'_, str> {
    let b = json.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while let Some(offset) = b
        .get(i..)
        .and_then(|rest| rest.iter().position(|c| *c == b'\\'))
    {
        i += offset;
        if b.get(i + 1) != Some(&b'u') {
            i += 2;
            continue;
        }
        let Some(unit) = hex4(b, i + 2) else {
            i += 2;
            continue;
        };
        let paired = (0xD800..0xDC00).contains(&unit)
            && b.get(i + 6) == Some(&b'\\')
            && b.get(i + 7) == Some(&b'u')
            && hex4(b, i + 8).is_some_and(|low| (0xDC00..0xE000).contains(&low));
        if paired {
            i += 12;
        } else if (0xD800..0xE000).contains(&unit) {
            let s = out.get_or_insert_with(|| String::with_capacity(json.len()));
            s.push_str(json.get(copied..i).unwrap_or_default());
            s.push_str("\\ufffd");
            i += 6;
            copied = i;
        } else {
            i += 6;
        }
    }
    match out {
        None => Cow::Borrowed(json),
        Some(mut s) => {
            s.push_str(json.get(copied..).unwrap_or_default());
            Cow::Owned(s)
        }
    }
}

/// [`repair_lone_surrogates`] on a raw JSON value: the same value when nothing changes.
pub fn repair_raw(raw: &RawValue) -> Option<Box<RawValue>> {
    match repair_lone_surrogates(raw.get()) {
        Cow::Borrowed(_) => None,
        // Replacing one valid escape by another keeps the JSON valid.
        Cow::Owned(fixed) => RawValue::from_string(fixed).ok(),
    }
}

fn hex4(b: &[u8], at: usize) -> Option<u32> {
    let digits = b.get(at..at + 4)?;
    let text = std::str::from_utf8(digits).ok()?;
    if !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u32::from_str_radix(text, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_surrogate_becomes_the_replacement_character_and_pairs_are_kept() {
        let cases = [
            (r#"{"b":"hi \ud800"}"#, r#"{"b":"hi \ufffd"}"#),
            (r#"{"b":"\ud800x\udc00"}"#, r#"{"b":"\ufffdx\ufffd"}"#),
            (
                r#"{"b":"\ud83d\udc4b \uDBFF"}"#,
                r#"{"b":"\ud83d\udc4b \ufffd"}"#,
            ),
            (
                r#"{"b":"\ud800\ud800\udc00"}"#,
                r#"{"b":"\ufffd\ud800\udc00"}"#,
            ),
        ];
        for (input, want) in cases {
            let fixed = repair_lone_surrogates(input);
            assert_eq!(fixed, want, "{input}");
            let v: Value = serde_json::from_str(&fixed).unwrap();
            assert!(v["b"].as_str().is_some());
        }
        assert_eq!(
            serde_json::from_str::<Value>(&repair_lone_surrogates(r#"{"b":"hi \ud800"}"#)).unwrap()
                ["b"],
            "hi \u{fffd}"
        );
    }

    #[test]
    fn text_without_lone_surrogates_is_borrowed_unchanged() {
        for input in [
            r#"{"b":"Ol\u00e1 \ud83d\udc4b"}"#,
            r#"{"b":"\\ud800 is text"}"#,
            r#"{"b":"\\\ud83d\udc4b"}"#,
            r#"{"b":"\u12"}"#,
            r#"{"b":"ends \"#,
            "",
        ] {
            assert!(
                matches!(repair_lone_surrogates(input), Cow::Borrowed(_)),
                "{input}"
            );
        }
    }

    #[test]
    fn fields_of_the_wrong_shape_are_absent_and_the_rest_kept() {
        #[derive(Deserialize, Default)]
        struct T {
            #[serde(default, deserialize_with = "text")]
            a: Option<String>,
            #[serde(default, deserialize_with = "int")]
            n: Option<i64>,
            #[serde(default, deserialize_with = "flag")]
            f: Option<bool>,
            #[serde(default, deserialize_with = "float")]
            x: Option<f64>,
            #[serde(default, deserialize_with = "list")]
            l: Vec<String>,
        }
        let t: T = parse(r#"{"a":{"x":1},"n":"42","f":"yes","x":"1.5","l":["a",2,"b"],"z":9}"#);
        assert_eq!(t.a, None);
        assert_eq!(t.n, Some(42));
        assert_eq!(t.f, None);
        assert_eq!(t.x, Some(1.5));
        assert_eq!(t.l, ["a", "b"]);
        let t: T = parse(r#"{"a":7}"#);
        assert_eq!(t.a.as_deref(), Some("7"));
        let t: T = parse("[1,2]");
        assert!(t.a.is_none() && t.n.is_none());
    }
}
