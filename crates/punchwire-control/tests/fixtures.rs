//! The golden fixtures at the repository's `tests/fixtures/`, which the window's tests
//! and the tray's fake service read too, are what the Rust types read and write.

use std::path::PathBuf;

use punchwire_control::status::ServiceStatus;
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(name);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

#[test]
fn the_status_fixture_is_a_status_document_field_for_field() {
    let written = fixture("status.json");
    let status: ServiceStatus =
        serde_json::from_value(written.clone()).expect("status.json reads as the status document");
    // Nothing dropped, nothing added, nothing renamed on the way back.
    assert_eq!(serde_json::to_value(&status).unwrap(), written);
}

#[test]
fn the_events_fixture_holds_each_event_the_service_sends() {
    let events = fixture("events.json");
    let types: Vec<&str> = events
        .as_array()
        .expect("events.json is a list")
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_else(|| panic!("no type: {e}")))
        .collect();
    // A health change for each state a peer can move to in a day: direct, stale, not direct.
    assert_eq!(
        types,
        [
            "endpoint-changed",
            "peer-health-changed",
            "peer-health-changed",
            "peer-health-changed",
            "registry-reachable",
            "registry-unreachable",
            "decision",
            "network-changed",
            "registry-moved",
            "registry-name-unresolved",
            "paused",
            "resumed",
            "reloaded",
            "registry-enabled",
            "registry-disabled",
            "relay-started",
            "relay-ended",
            "relay-undone",
        ]
    );
    // Each when it happened (milliseconds since the Unix epoch), in the order it did: the
    // window shows `recent-events` and the live ones at these times, newest first.
    let times: Vec<u64> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["at"].as_u64().unwrap_or_else(|| panic!("no `at`: {e}")))
        .collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
}
