//! Every example event in `schemas/examples/events/` (the ones docs/crm-contract.md shows) is
//! valid under the published schemas, so the documentation cannot drift from the contract.

use std::path::Path;

#[test]
fn every_example_event_matches_the_published_schemas() {
    let contract = shared::contract::EventContract::load();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/examples/events");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("examples directory") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("readable example");
        let event: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            path.file_stem().and_then(|s| s.to_str()),
            event["type"].as_str(),
            "{} is named after its type",
            path.display()
        );
        contract.check(&event);
        checked += 1;
    }
    assert!(checked > 0, "no examples in {}", dir.display());
}

/// `message.echo` and `history.message` carry `message.received`'s normalised content fields:
/// their schemas describe those fields exactly as `message.received.json` does.
#[test]
fn echo_and_history_content_fields_are_message_received_s() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/events");
    let data = |name: &str| -> serde_json::Value {
        let text = std::fs::read_to_string(dir.join(format!("{name}.json"))).expect("schema");
        let schema: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        schema["properties"]["data"]["properties"].clone()
    };
    let received = data("message.received");
    let fields = received.as_object().expect("data properties");
    for name in ["message.echo", "history.message"] {
        let other = data(name);
        for (field, schema) in fields.iter().filter(|(f, _)| *f != "original") {
            assert_eq!(&other[field], schema, "{name}: data.{field}");
        }
    }
}
