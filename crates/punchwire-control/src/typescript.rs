//! The contract's types in TypeScript, for the tray app's window: generated from the
//! Rust types (serde's renames and tags included) into `frontend/src/generated/`, and
//! checked here so that the committed file cannot fall behind the Rust side.
//!
//! Regenerate after changing a type:
//! `PUNCHWIRE_WRITE_TS=1 cargo test -p punchwire-control typescript`

use std::path::PathBuf;

use ts_rs::{Config, TS};

use crate::events::{RegistryMoved, RegistryNameUnresolved, RelayEnded, RelayStarted};
use crate::protocol::{Command, ErrorBody, ErrorCode, EventFrame, Hello, Request, Response};
use crate::rejection::Rejection;
use crate::setup::{Discovery, UnconfiguredInterface};
use crate::status::{
    EndpointSource, Health, HealthReason, HealthState, InterfaceStatus, PeerStatus, RegistryLink,
    RegistryModeStatus, ServiceStatus, Summary, SummaryState,
};

/// The file the window imports.
fn generated_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../frontend/src/generated/control.ts")
}

/// One exported declaration, with the Rust doc comment as its JSDoc.
fn declare<T: TS>(cfg: &Config) -> String {
    format!("{}export {}\n", T::docs().unwrap_or_default(), T::decl(cfg))
}

/// Every declaration, in reading order: the status document, then the protocol.
fn declarations() -> String {
    // Counters and ids are u64 in Rust but plain numbers once JSON.parse has read them.
    let cfg = Config::new().with_large_int("number");
    let parts = [
        declare::<ServiceStatus>(&cfg),
        declare::<Summary>(&cfg),
        declare::<SummaryState>(&cfg),
        declare::<InterfaceStatus>(&cfg),
        declare::<PeerStatus>(&cfg),
        declare::<Rejection>(&cfg),
        declare::<EndpointSource>(&cfg),
        declare::<Health>(&cfg),
        declare::<HealthReason>(&cfg),
        declare::<HealthState>(&cfg),
        declare::<RegistryLink>(&cfg),
        declare::<RegistryModeStatus>(&cfg),
        declare::<UnconfiguredInterface>(&cfg),
        declare::<Discovery>(&cfg),
        declare::<Request>(&cfg),
        declare::<Command>(&cfg),
        declare::<Hello>(&cfg),
        declare::<Response>(&cfg),
        declare::<ErrorBody>(&cfg),
        declare::<ErrorCode>(&cfg),
        declare::<EventFrame>(&cfg),
        declare::<RegistryMoved>(&cfg),
        declare::<RegistryNameUnresolved>(&cfg),
        declare::<RelayStarted>(&cfg),
        declare::<RelayEnded>(&cfg),
    ];
    format!(
        "// Generated from crates/punchwire-control by its `typescript` test: do not edit.\n\
         // Regenerate: PUNCHWIRE_WRITE_TS=1 cargo test -p punchwire-control typescript\n\n{}",
        parts.join("\n")
    )
}

#[test]
fn typescript_declarations_match_the_rust_types() {
    let path = generated_file();
    let wanted = declarations();
    if std::env::var_os("PUNCHWIRE_WRITE_TS").is_some() {
        std::fs::create_dir_all(path.parent().expect("a directory"))
            .unwrap_or_else(|e| panic!("create the directory of {}: {e}", path.display()));
        std::fs::write(&path, &wanted).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == wanted,
        "{} is out of date with the Rust types: regenerate it with \
         `PUNCHWIRE_WRITE_TS=1 cargo test -p punchwire-control typescript` and commit it",
        path.display()
    );
}
