//! The control protocol's decoder: any request line a local client sends is read as a
//! request or refused with a response, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|line: &[u8]| {
    if let Ok(line) = std::str::from_utf8(line) {
        let _ = punchwire_control::protocol::parse_request(line);
    }
});
