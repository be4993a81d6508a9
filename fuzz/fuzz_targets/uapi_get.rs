//! The UAPI reader: any answer a userspace WireGuard daemon sends to `get=1` is read
//! into a device or refused with a reason, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|answer: &[u8]| {
    // The backend refuses an answer that is not UTF-8 before parsing it.
    if let Ok(text) = std::str::from_utf8(answer) {
        let _ = punchwire_wg::fuzzing::parse_uapi_get(text);
    }
});
