//! The only code that calls into `wireguard.dll`: load it, open an existing adapter by
//! name, and hand configuration bytes in and out. Everything it returns is plain bytes
//! for [`super::layout`] to read.
//!
//! `unsafe` is allowed here alone because the DLL's functions are C functions reached
//! through the wireguard-nt crate's raw table (`wireguard_nt::Sys`), which only offers
//! them as `unsafe fn`. Each call passes a NUL-terminated UTF-16 name, a buffer we own
//! and its true size, and closes every adapter handle it opens before returning.
#![allow(unsafe_code)]

use std::io;
use std::path::{Path, PathBuf};

/// wireguard-nt limits adapter names to 127 UTF-16 units plus the terminating NUL.
const MAX_NAME_UNITS: usize = 127;
/// `ERROR_MORE_DATA`: the buffer was too small (a peer was added since we asked).
const ERROR_MORE_DATA: i32 = 234;
/// How often to ask again when the configuration grows between two calls.
const GET_ATTEMPTS: usize = 4;

/// Opens the existing adapter `$name` (never creates one) and evaluates to its raw
/// handle, or returns the error. A macro because the handle's type is private to the
/// wireguard-nt crate and so cannot be named in a signature; every caller closes it.
macro_rules! open_adapter {
    ($self:ident, $name:expr) => {{
        let wide = wide_name($name).map_err(|source| CallError {
            step: "opening the adapter",
            source,
        })?;
        // SAFETY: `wide` is NUL-terminated UTF-16 that outlives the call.
        let raw = unsafe { $self.wg.WireGuardOpenAdapter(wide.as_ptr()) };
        if raw.is_null() {
            return Err(CallError {
                step: "opening the adapter",
                source: io::Error::last_os_error(),
            });
        }
        raw
    }};
}

/// `wireguard.dll`, loaded.
pub(super) struct Driver {
    wg: wireguard_nt::Wireguard,
    path: PathBuf,
}

/// Which call failed, with Windows' own error.
#[derive(Debug)]
pub(super) struct CallError {
    pub step: &'static str,
    pub source: io::Error,
}

impl Driver {
    /// Loads the DLL at `path` (a bare `wireguard.dll` uses Windows' DLL search order).
    pub(super) fn load(path: &Path) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        // SAFETY: loading runs the DLL's initialisation; wireguard.dll is WireGuard's
        // own signed library and has no initialisation beyond its C runtime.
        let wg = unsafe { wireguard_nt::load_from_path(path) }?;
        Ok(Self {
            wg,
            path: path.to_owned(),
        })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether an adapter named `name` exists (and we may open it).
    pub(super) fn probe(&self, name: &str) -> Result<(), CallError> {
        let raw = open_adapter!(self, name);
        // SAFETY: `raw` came from WireGuardOpenAdapter and is closed exactly once.
        unsafe { self.wg.WireGuardCloseAdapter(raw) };
        Ok(())
    }

    /// The adapter's whole configuration, as `WireGuardGetConfiguration` wrote it.
    pub(super) fn get_configuration(&self, name: &str) -> Result<Vec<u8>, CallError> {
        let raw = open_adapter!(self, name);
        let mut result = Err(CallError {
            step: "reading the configuration",
            source: io::Error::other("it kept growing while being read"),
        });
        let mut size: u32 = 0;
        for _ in 0..GET_ATTEMPTS {
            // 8-byte units: the driver's structures are 8-aligned.
            let mut buf = vec![0u64; (size as usize).div_ceil(8)];
            let ptr = if buf.is_empty() {
                std::ptr::null_mut()
            } else {
                buf.as_mut_ptr().cast()
            };
            // SAFETY: `ptr` is null with size 0 (a size query) or points to `size`
            // writable, 8-aligned bytes that outlive the call.
            let ok = unsafe { self.wg.WireGuardGetConfiguration(raw, ptr, &mut size) };
            if ok != 0 {
                let bytes: Vec<u8> = buf.iter().flat_map(|w| w.to_ne_bytes()).collect();
                result = Ok(bytes[..(size as usize).min(bytes.len())].to_vec());
                break;
            }
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(ERROR_MORE_DATA) {
                result = Err(CallError {
                    step: "reading the configuration",
                    source: err,
                });
                break;
            }
        }
        // SAFETY: `raw` came from WireGuardOpenAdapter and is closed exactly once.
        unsafe { self.wg.WireGuardCloseAdapter(raw) };
        result
    }

    /// Applies `config` (a `WIREGUARD_INTERFACE` and what follows it).
    pub(super) fn set_configuration(&self, name: &str, config: &[u8]) -> Result<(), CallError> {
        let mut words = vec![0u64; config.len().div_ceil(8)];
        for (word, chunk) in words.iter_mut().zip(config.chunks(8)) {
            let mut bytes = [0u8; 8];
            bytes[..chunk.len()].copy_from_slice(chunk);
            *word = u64::from_ne_bytes(bytes);
        }
        let raw = open_adapter!(self, name);
        // SAFETY: `words` holds `config.len()` initialised, 8-aligned bytes.
        let ok = unsafe {
            self.wg
                .WireGuardSetConfiguration(raw, words.as_ptr().cast(), config.len() as u32)
        };
        let result = if ok != 0 {
            Ok(())
        } else {
            Err(CallError {
                step: "setting the configuration",
                source: io::Error::last_os_error(),
            })
        };
        // SAFETY: `raw` came from WireGuardOpenAdapter and is closed exactly once.
        unsafe { self.wg.WireGuardCloseAdapter(raw) };
        result
    }
}

/// `name` as NUL-terminated UTF-16, refused when the driver could not hold it.
fn wide_name(name: &str) -> io::Result<Vec<u16>> {
    let mut wide: Vec<u16> = name.encode_utf16().collect();
    if wide.is_empty() || wide.len() > MAX_NAME_UNITS || wide.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a possible adapter name",
        ));
    }
    wide.push(0);
    Ok(wide)
}
