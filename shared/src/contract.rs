//! The CRM event contract as code, for tests: every event a test sees is checked against the
//! published JSON Schemas in `schemas/events/` (the envelope and its type's schema) and against
//! the queue conventions (dedup id = `event_id`, group = contact, `type` attribute).
//! Behind the `contract` feature so the Lambda binaries do not carry a schema validator.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::queue::OutboundMessage;

/// Where the published schemas live in this repository.
pub fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/events")
}

/// The envelope schema and one schema per event type, compiled once.
pub struct EventContract {
    envelope: jsonschema::Validator,
    by_type: HashMap<String, jsonschema::Validator>,
}

fn compile(path: &Path) -> jsonschema::Validator {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let schema: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

impl EventContract {
    /// Compiles every schema in [`schema_dir`]; panics (this is test tooling) on a bad one.
    pub fn load() -> Self {
        let dir = schema_dir();
        let mut by_type = HashMap::new();
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(stem) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".json"))
            else {
                continue;
            };
            if stem != "envelope" {
                by_type.insert(stem.to_owned(), compile(&path));
            }
        }
        Self {
            envelope: compile(&dir.join("envelope.json")),
            by_type,
        }
    }

    /// The event types that have a schema.
    pub fn types(&self) -> impl Iterator<Item = &str> {
        self.by_type.keys().map(String::as_str)
    }

    /// Panics with every violation if `event` does not match the envelope and its type's schema.
    pub fn check(&self, event: &Value) {
        let t = event["type"]
            .as_str()
            .unwrap_or_else(|| panic!("event has no type: {event}"));
        let typed = self
            .by_type
            .get(t)
            .unwrap_or_else(|| panic!("no schema for {t}"));
        let errors: Vec<String> = self
            .envelope
            .iter_errors(event)
            .chain(typed.iter_errors(event))
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{t} event violates its schema: {errors:#?}\n{event:#}"
        );
    }

    /// Checks each queued event's body and its SQS message conventions.
    pub fn check_all(&self, messages: &[OutboundMessage]) {
        for m in messages {
            let event: Value = serde_json::from_str(&m.body)
                .unwrap_or_else(|e| panic!("event is not JSON ({e}): {}", m.body));
            self.check(&event);
            let t = event["type"].as_str().unwrap_or_default();
            assert_eq!(
                m.dedup_id.as_deref(),
                event["event_id"].as_str(),
                "dedup id is the event id"
            );
            assert_eq!(
                m.attributes,
                vec![("type".to_owned(), t.to_owned())],
                "type attribute"
            );
            let group = event["contact"]["id"]
                .as_str()
                .or(event["phone_number_id"].as_str())
                .or(event["waba_id"].as_str())
                .or(Some("unknown")); // an event that names nothing (an unreadable command)
            assert_eq!(m.group_id.as_deref(), group, "FIFO group of a {t} event");
        }
    }
}
