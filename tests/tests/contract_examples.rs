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
