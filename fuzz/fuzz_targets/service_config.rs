//! The service's configuration: any file is parsed and checked, or refused with a
//! reason; what is accepted is written back (as set-config does) and reads back equal.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use punchwire_service::config::Config;

fuzz_target!(|text: &[u8]| {
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let path = Path::new("/etc/punchwire/punchwire.toml");
    if let Ok(config) = Config::parse(path, text) {
        let written = config.to_toml();
        let again = Config::parse(path, &written).unwrap_or_else(|e| {
            panic!("the written configuration does not read back: {e}\n{written}")
        });
        assert_eq!(
            again, config,
            "the written configuration reads back different"
        );
    }
});
