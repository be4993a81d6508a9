//! The registry's DNS wire reader: any bytes off a UDP socket are read in place without
//! a panic, an overflow or a read past the packet.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|packet: &[u8]| {
    let _ = punchwire_registry::fuzzing::read_query(packet);
});
