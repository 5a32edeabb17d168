//! The log scan behind `make test`: no phone number, message text, name or secret that the test
//! suite handed the system may appear in any captured log line.
//!
//! What to look for is derived, not listed by hand: every input the local runner handed a
//! function (its inputs ledger), the `events/` fixtures, and every credential provisioned or
//! signed with. Phones match in any form (with or without `+`, spaced, dashed, national);
//! texts, names and secrets match as written, Debug-escaped or JSON-escaped.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;

use aho_corasick::AhoCorasick;
use serde_json::Value;

/// Phones shorter than this (in digits) are not phone numbers (ids of test fixtures, counters).
const MIN_PHONE_DIGITS: usize = 8;
/// Texts and names shorter than this match too much ordinary log text to be scanned for.
const MIN_TEXT_CHARS: usize = 2;

/// Keys whose string values are customer phone numbers or user ids.
const PHONE_KEYS: &[&str] = &["from", "wa_id", "to", "recipient_id", "phone", "user_id"];
/// Keys whose string values are message content.
const TEXT_KEYS: &[&str] = &["body", "caption", "text"];
/// Keys whose string values are people's names.
/// (`full_name` and `first_name` are also how the WhatsApp Business app's address book,
/// `smb_app_state_sync`, names a contact.)
const NAME_KEYS: &[&str] = &[
    "formatted_name",
    "first_name",
    "last_name",
    "middle_name",
    "full_name",
];

/// What must not reach a log line.
#[derive(Debug, Default)]
pub struct Sensitive {
    /// Digit strings (normalised) of every phone number.
    pub phones: BTreeSet<String>,
    pub texts: BTreeSet<String>,
    pub names: BTreeSet<String>,
    pub secrets: BTreeSet<String>,
}

/// One log line that holds a sensitive value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// 1-based line number in the capture.
    pub line: usize,
    /// `phone`, `text`, `name` or `secret`.
    pub kind: &'static str,
    /// The value, masked, so the report does not leak it again.
    pub masked: String,
}

impl Sensitive {
    /// Adds what one inputs-ledger line (see `local_runner::inputs`) names.
    pub fn add_ledger_line(&mut self, line: &str) {
        let Ok(entry) = serde_json::from_str::<Value>(line) else {
            return;
        };
        match entry["source"].as_str() {
            Some("webhook") => {
                self.add_query(entry["query"].as_str().unwrap_or(""));
                self.add_body(entry["body"].as_str().unwrap_or(""));
            }
            Some("sqs") => {
                self.add_phone(entry["group"].as_str().unwrap_or(""));
                self.add_body(entry["body"].as_str().unwrap_or(""));
            }
            Some("secret") => self.add_secret(entry["value"].as_str().unwrap_or("")),
            _ => {}
        }
    }

    /// Adds what a fixture (an API Gateway event or a Meta body) names.
    pub fn add_fixture(&mut self, text: &str) {
        if let Ok(value) = serde_json::from_str::<Value>(text) {
            if let Some(query) = value["rawQueryString"].as_str() {
                self.add_query(query);
            }
            self.walk(None, None, &value);
        }
    }

    fn add_query(&mut self, query: &str) {
        for pair in query.split('&') {
            if let Some(token) = pair.strip_prefix("hub.verify_token=") {
                self.add_secret(token);
            }
        }
    }

    /// A body: walked as JSON when it is JSON (webhook posts, SQS records), else ignored.
    fn add_body(&mut self, body: &str) {
        if let Ok(value) = serde_json::from_str::<Value>(body) {
            self.walk(None, None, &value);
        }
    }

    fn add_secret(&mut self, value: &str) {
        match serde_json::from_str::<Value>(value) {
            Ok(Value::Object(map)) => {
                for v in map.values().filter_map(Value::as_str) {
                    self.add_secret(v);
                }
            }
            _ if !value.is_empty() => {
                self.secrets.insert(value.to_owned());
            }
            _ => {}
        }
    }

    fn add_phone(&mut self, raw: &str) {
        let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
        if digits.len() < MIN_PHONE_DIGITS {
            return;
        }
        // The national form too: a log that dropped the country code still identifies the person.
        if let Ok(number) = phonenumber::parse(None, format!("+{digits}")) {
            let national = number.national().value().to_string();
            if national.len() >= MIN_PHONE_DIGITS {
                self.phones.insert(national);
            }
        }
        self.phones.insert(digits);
    }

    /// Classifies string values by their key (and the key of the object holding them).
    fn walk(&mut self, parent: Option<&str>, key: Option<&str>, value: &Value) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    self.walk(key, Some(k), v);
                }
            }
            Value::Array(items) => {
                for v in items {
                    self.walk(parent, key, v);
                }
            }
            Value::String(s) => {
                let Some(key) = key else { return };
                // Bodies of API Gateway events and SQS records are JSON documents themselves.
                if key == "body" && (s.starts_with('{') || s.starts_with('[')) {
                    if let Ok(inner) = serde_json::from_str::<Value>(s) {
                        return self.walk(None, None, &inner);
                    }
                }
                // An address-book contact's number (`smb_app_state_sync`); elsewhere
                // `phone_number` is the business's own.
                if PHONE_KEYS.contains(&key) || (key == "phone_number" && parent == Some("contact"))
                {
                    self.add_phone(s);
                } else if TEXT_KEYS.contains(&key) {
                    self.add_text(s);
                } else if NAME_KEYS.contains(&key) || (key == "name" && parent == Some("profile")) {
                    if s.chars().count() >= MIN_TEXT_CHARS {
                        self.names.insert(s.clone());
                    }
                } else if key.ends_with("secret") || key.ends_with("token") {
                    self.add_secret(s);
                }
            }
            _ => {}
        }
    }

    fn add_text(&mut self, s: &str) {
        if s.chars().count() >= MIN_TEXT_CHARS {
            self.texts.insert(s.to_owned());
        }
        // A phone number written in a message is a phone number.
        for run in digit_runs(s) {
            self.add_phone(&run);
        }
    }

    /// Scans `lines`; returns the number of lines scanned and every finding.
    pub fn scan<'a>(&self, lines: impl Iterator<Item = &'a str>) -> (usize, Vec<Finding>) {
        let matcher = TextMatcher::new(self);
        let phone_lengths: BTreeSet<usize> = self.phones.iter().map(String::len).collect();
        let phones: HashSet<&str> = self.phones.iter().map(String::as_str).collect();
        let mut count = 0;
        let mut findings = Vec::new();
        for (i, line) in lines.enumerate() {
            count += 1;
            // A wamid is base64 of a record holding the customer's wa_id: decode every one, so a
            // logged whole wamid counts as the phone number it carries.
            let decoded: Vec<String> = wamid_payloads(line);
            let runs = digit_runs(line)
                .into_iter()
                .chain(decoded.iter().flat_map(|d| digit_runs(d)));
            for run in runs {
                let hit = phone_lengths.iter().find_map(|&len| {
                    (0..=run.len().saturating_sub(len))
                        .filter_map(|start| run.get(start..start + len))
                        .find(|w| phones.contains(w))
                });
                if let Some(phone) = hit {
                    findings.push(Finding {
                        line: i + 1,
                        kind: "phone",
                        masked: shared::telemetry::mask_phone(phone),
                    });
                }
            }
            findings.extend(matcher.find(line).map(|(kind, value)| Finding {
                line: i + 1,
                kind,
                masked: mask_text(value),
            }));
        }
        (count, findings)
    }

    /// Reads the ledger and the fixtures under `events`.
    pub fn load(ledger: &Path, events: &Path) -> std::io::Result<Self> {
        let mut sensitive = Self::default();
        for line in std::fs::read_to_string(ledger)?.lines() {
            sensitive.add_ledger_line(line);
        }
        let mut dirs = vec![events.to_path_buf()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir)? {
                let path = entry?.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "json") {
                    sensitive.add_fixture(&std::fs::read_to_string(&path)?);
                }
            }
        }
        Ok(sensitive)
    }
}

/// The decoded payload (lossy UTF-8) of every `wamid.<base64>` token in `line`.
fn wamid_payloads(line: &str) -> Vec<String> {
    use base64::Engine;
    line.match_indices("wamid.")
        .filter_map(|(at, prefix)| {
            let rest = line.get(at + prefix.len()..)?;
            let token: String = rest
                .chars()
                .take_while(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '-' | '_')
                })
                .collect();
            let trimmed = token.trim_end_matches('=');
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(trimmed)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(trimmed))
                .ok()
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        })
        .collect()
}

/// Runs of digits, allowing the separators people write phone numbers with (`+55 11 98765-4321`,
/// `(11) 98765.4321`), returned as digits only.
fn digit_runs(line: &str) -> Vec<String> {
    let mut runs = Vec::new();
    let mut current = String::new();
    // Separators seen since the last digit; `) ` is two.
    let mut separators = 0;
    for c in line.chars() {
        if c.is_ascii_digit() {
            current.push(c);
            separators = 0;
        } else if !current.is_empty() && separators < 2 && matches!(c, ' ' | '-' | '.' | '(' | ')')
        {
            separators += 1;
        } else {
            if !current.is_empty() {
                runs.push(std::mem::take(&mut current));
            }
            separators = 0;
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

/// Texts, names and secrets, as written and in the escaped forms a log line may hold them.
struct TextMatcher<'a> {
    automaton: Option<AhoCorasick>,
    /// For each pattern: its kind and the value it stands for.
    patterns: Vec<(&'static str, &'a str)>,
}

impl<'a> TextMatcher<'a> {
    fn new(s: &'a Sensitive) -> Self {
        let mut needles = Vec::new();
        let mut patterns = Vec::new();
        let kinds = [
            ("text", &s.texts),
            ("name", &s.names),
            ("secret", &s.secrets),
        ];
        for (kind, values) in kinds {
            for value in values {
                let debug = format!("{value:?}");
                let debug = debug.trim_matches('"').to_owned();
                let json = serde_json::to_string(value).unwrap_or_default();
                let json = json.trim_matches('"').to_owned();
                let twice = serde_json::to_string(&json).unwrap_or_default();
                let twice = twice.trim_matches('"').to_owned();
                let forms: BTreeSet<String> = [value.clone(), debug, json, twice].into();
                for form in forms {
                    needles.push(form);
                    patterns.push((kind, value.as_str()));
                }
            }
        }
        let automaton = AhoCorasick::new(&needles).ok();
        Self {
            automaton,
            patterns,
        }
    }

    /// Matches that stand as words (a short name inside a longer word is not that name, nor a
    /// text inside an identifier such as a template name, `pedido_enviado`).
    fn find<'l>(&'l self, line: &'l str) -> impl Iterator<Item = (&'static str, &'a str)> + 'l {
        let in_word = |c: char| c.is_alphanumeric() || c == '_';
        self.automaton
            .iter()
            .flat_map(move |a| a.find_overlapping_iter(line))
            .filter(move |m| {
                let before = line.get(..m.start()).and_then(|s| s.chars().next_back());
                let after = line.get(m.end()..).and_then(|s| s.chars().next());
                !before.is_some_and(in_word) && !after.is_some_and(in_word)
            })
            .filter_map(move |m| self.patterns.get(m.pattern().as_usize()).copied())
    }
}

fn mask_text(value: &str) -> String {
    let first: String = value.chars().take(2).collect();
    format!("{first}… ({} chars)", value.chars().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sensitive() -> Sensitive {
        let mut s = Sensitive::default();
        s.add_ledger_line(
            &serde_json::json!({
                "source": "webhook",
                "query": "",
                "body": r#"{"entry":[{"changes":[{"value":{"contacts":[{"profile":{"name":"João"},"wa_id":"5511987654321"}],"messages":[{"from":"5511987654321","text":{"body":"Olá, meu pedido?"}}]}}]}]}"#,
            })
            .to_string(),
        );
        s.add_ledger_line(r#"{"source":"secret","value":"{\"app_secret\":\"local-app-secret\"}"}"#);
        s
    }

    #[test]
    fn the_app_s_address_book_names_and_numbers_are_sensitive_the_business_number_is_not() {
        let mut s = Sensitive::default();
        s.add_fixture(
            r#"{"entry":[{"changes":[{"value":{"phone_number":"15550783881","state_sync":[{"type":"contact","contact":{"full_name":"Pablo Morales","first_name":"Pablo","phone_number":"16505551234"},"action":"add"}]}}]}]}"#,
        );
        assert!(s.names.contains("Pablo Morales"));
        assert!(s.names.contains("Pablo"));
        assert!(s.phones.contains("16505551234"));
        assert!(!s.phones.contains("15550783881"));
    }

    fn scan(lines: &[&str]) -> Vec<Finding> {
        sensitive().scan(lines.iter().copied()).1
    }

    #[test]
    fn derives_phones_texts_names_and_secrets_from_what_the_functions_were_handed() {
        let s = sensitive();
        assert!(s.phones.contains("5511987654321"));
        assert!(s.phones.contains("11987654321"), "national form");
        assert!(s.texts.contains("Olá, meu pedido?"));
        assert!(s.names.contains("João"));
        assert!(s.secrets.contains("local-app-secret"));
    }

    #[test]
    fn a_planted_phone_fails_the_scan_in_every_form() {
        for line in [
            "from=5511987654321 stored",
            r#"{"to":"+5511987654321"}"#,
            "to: +55 11 98765-4321",
            "key ALIAS#106540352242922#wa:5511987654321",
            "national (11) 98765-4321",
        ] {
            let found = scan(&[line]);
            assert_eq!(found.len(), 1, "{line}: {found:?}");
            assert_eq!(found[0].kind, "phone");
            assert!(found[0].masked.ends_with("****4321"), "{found:?}");
        }
    }

    #[test]
    fn a_whole_wamid_fails_the_scan_as_the_phone_it_encodes() {
        use base64::Engine;
        let mut raw = vec![0x1c, 0x18, 13];
        raw.extend_from_slice(b"5511987654321");
        raw.extend_from_slice(b"\x15\x02\x00\x11\x18\x04ABCD\x00");
        let wamid = format!(
            "wamid.{}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        );
        let found = scan(&[&format!("command accepted by Meta wamid={wamid}")]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].kind, "phone");
        let masked = shared::telemetry::mask_wamid(&wamid);
        assert!(scan(&[&format!("wamid={masked}")]).is_empty());
    }

    #[test]
    fn a_masked_phone_passes() {
        assert!(scan(&[
            "to=+55119****4321 wamid=wamid.HBgN",
            "phone_number_id=106540352242922"
        ])
        .is_empty());
    }

    #[test]
    fn a_planted_text_name_or_secret_fails_the_scan_escaped_or_not() {
        let found = scan(&[
            r#"{"error":"\"Olá, meu pedido?\" is not of type integer"}"#,
            r#"{"fields":{"value":"\"Ol\u00e1, meu pedido?\""}}"#,
            "contact João updated",
            "secret local-app-secret",
        ]);
        let kinds: Vec<_> = found.iter().map(|f| (f.line, f.kind)).collect();
        assert_eq!(
            kinds,
            [(1, "text"), (3, "name"), (4, "secret")],
            "{found:?}"
        );
    }

    #[test]
    fn a_name_inside_a_longer_word_is_not_that_name() {
        let mut s = Sensitive::default();
        s.names.insert("Ana".into());
        assert!(s.scan(["Analysis done", "banana"].into_iter()).1.is_empty());
        assert_eq!(s.scan(["by Ana."].into_iter()).1.len(), 1);
    }

    #[test]
    fn a_text_inside_an_identifier_is_not_that_text() {
        // A template named `pedido_enviado` in an EMF line, and a customer who wrote "pedido".
        let mut s = Sensitive::default();
        s.texts.insert("pedido".into());
        let line = r#"{"TemplatesSent":1,"template":"pedido_enviado","function":"processor"}"#;
        assert!(s.scan([line, "meu_pedido"].into_iter()).1.is_empty());
        assert_eq!(s.scan([r#"{"body":"pedido"}"#].into_iter()).1.len(), 1);
    }

    #[test]
    fn counts_every_line_scanned() {
        assert_eq!(sensitive().scan(["a", "b", "c"].into_iter()).0, 3);
    }
}
