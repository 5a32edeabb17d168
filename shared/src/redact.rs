//! Error details without the input that caused them. A log line may say where and what kind of
//! problem; never the customer's number, text or name, nor a secret. Errors that would carry
//! input keep one of these instead, so their Display and Debug are both safe to log.

use std::fmt;

use crate::telemetry::mask_phone;

/// A `serde_json` error reduced to its category and position. serde's own message quotes the
/// offending value (`invalid type: string "Olá…"`), so it is dropped; a missing field keeps its
/// name, which comes from our types, not from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    category: &'static str,
    line: usize,
    column: usize,
    missing_field: Option<String>,
}

impl From<serde_json::Error> for JsonError {
    fn from(err: serde_json::Error) -> Self {
        use serde_json::error::Category;
        let category = match err.classify() {
            Category::Io => "I/O",
            Category::Syntax => "syntax",
            Category::Data => "data",
            Category::Eof => "unexpected end of input",
        };
        let missing_field = err
            .to_string()
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned);
        Self {
            category,
            line: err.line(),
            column: err.column(),
            missing_field,
        }
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "JSON {} error at line {} column {}",
            self.category, self.line, self.column
        )?;
        if let Some(field) = &self.missing_field {
            write!(f, ": missing field `{field}`")?;
        }
        Ok(())
    }
}

impl std::error::Error for JsonError {}

/// A DynamoDB item key fit for a log line: every run of digits long enough to be a phone number
/// or user id is masked (`ALIAS#1065…#wa:5511987654321` → `ALIAS#10654****2922#wa:55119****4321`).
pub fn item_key(pk: &str, sk: &str) -> String {
    format!("{}/{}", mask_digit_runs(pk), mask_digit_runs(sk))
}

fn mask_digit_runs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    for c in text.chars().chain(std::iter::once('\0')) {
        if c.is_ascii_digit() {
            run.push(c);
            continue;
        }
        if run.len() >= 6 {
            out.push_str(&mask_phone(&run));
        } else {
            out.push_str(&run);
        }
        run.clear();
        if c != '\0' {
            out.push(c);
        }
    }
    out
}

/// A value from Meta's vocabulary (a status, a preference) for a log line: shown when it looks
/// like a vocabulary word, otherwise only its length.
pub fn vocabulary(value: &str) -> String {
    let word = !value.is_empty()
        && value.len() <= 40
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'-');
    if word {
        value.to_owned()
    } else {
        format!("<{} chars, not shown>", value.chars().count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_error_keeps_the_position_but_not_the_value() {
        #[derive(Debug, serde::Deserialize)]
        struct T {
            #[allow(dead_code)]
            n: u32,
        }
        let err = serde_json::from_str::<T>(r#"{"n":"Olá +5511987654321"}"#).unwrap_err();
        assert!(err.to_string().contains("Olá"), "serde quotes the value");
        let safe = JsonError::from(err).to_string();
        assert_eq!(safe, "JSON data error at line 1 column 26");
        let missing = serde_json::from_str::<T>("{}").unwrap_err();
        assert_eq!(
            JsonError::from(missing).to_string(),
            "JSON data error at line 1 column 2: missing field `n`"
        );
    }

    #[test]
    fn an_item_key_masks_phone_numbers_and_user_ids() {
        assert_eq!(
            item_key("ALIAS#106540352242922#wa:5511987654321", "ALIAS"),
            "ALIAS#10654****2922#wa:55119****4321/ALIAS"
        );
        assert_eq!(
            item_key("CONSENT#000000012345#e1", "uid:US.1349120865530274"),
            "CONSENT#00000****2345#e1/uid:US.13491****0274"
        );
        assert_eq!(item_key("PROFILE", "MSG#12345"), "PROFILE/MSG#12345");
    }

    #[test]
    fn a_vocabulary_word_is_shown_and_anything_else_is_not() {
        assert_eq!(vocabulary("delivered"), "delivered");
        assert_eq!(vocabulary("Olá"), "<3 chars, not shown>");
        assert_eq!(vocabulary("+5511987654321"), "<14 chars, not shown>");
    }
}
