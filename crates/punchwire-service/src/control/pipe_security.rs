//! The Win32 calls the control pipe needs and tokio does not wrap: a group's SID by
//! name, a security descriptor from SDDL, creating a pipe instance with it, and the
//! client's process id.
//!
//! `unsafe` is allowed in this module alone because these are raw Win32 functions
//! (windows-sys) and tokio's `create_with_security_attributes_raw`, all `unsafe fn`.
//! Each call gets buffers we own with their true sizes, and every allocation Windows
//! makes for us is released with `LocalFree` exactly once.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::io;
use std::os::windows::io::AsRawHandle;
use std::path::Path;

use tokio::net::windows::named_pipe::{NamedPipeServer, ServerOptions};
use windows_sys::Win32::Foundation::{LocalFree, HANDLE};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
};
use windows_sys::Win32::Security::{LookupAccountNameW, SECURITY_ATTRIBUTES, SID_NAME_USE};
use windows_sys::Win32::System::Pipes::GetNamedPipeClientProcessId;

/// A security descriptor Windows allocated from SDDL, and the attributes pointing at it.
pub(super) struct PipeSecurity {
    descriptor: *mut c_void,
    attributes: SECURITY_ATTRIBUTES,
}

// SAFETY: the descriptor is immutable once built and only read by CreateNamedPipeW.
unsafe impl Send for PipeSecurity {}
// SAFETY: as above: shared use is read-only.
unsafe impl Sync for PipeSecurity {}

impl PipeSecurity {
    pub(super) fn from_sddl(sddl: &str) -> io::Result<Box<Self>> {
        let wide = wide(sddl);
        let mut descriptor: *mut c_void = std::ptr::null_mut();
        // SAFETY: `wide` is NUL-terminated; `descriptor` receives a LocalAlloc'd buffer.
        let ok = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                wide.as_ptr(),
                SDDL_REVISION_1,
                &mut descriptor,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Box::new(Self {
            descriptor,
            attributes: SECURITY_ATTRIBUTES {
                nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
                lpSecurityDescriptor: descriptor,
                bInheritHandle: 0,
            },
        }))
    }

    /// Creates one instance of the pipe `path` with this descriptor.
    pub(super) fn create(
        &self,
        options: &ServerOptions,
        path: &Path,
    ) -> io::Result<NamedPipeServer> {
        let attributes: *const SECURITY_ATTRIBUTES = &self.attributes;
        // SAFETY: `attributes` and the descriptor it points to live as long as `self`,
        // and Windows copies the descriptor into the pipe when creating it.
        unsafe { options.create_with_security_attributes_raw(path, attributes as *mut c_void) }
    }
}

impl Drop for PipeSecurity {
    fn drop(&mut self) {
        // SAFETY: allocated by ConvertStringSecurityDescriptorToSecurityDescriptorW.
        unsafe { LocalFree(self.descriptor) };
    }
}

/// The SID of the local group (or any account) `name`, as `S-1-…`; `None` when there
/// is no such account.
pub(super) fn group_sid(name: &str) -> Option<String> {
    let account = wide(name);
    let mut sid = vec![0u8; 68]; // SECURITY_MAX_SID_SIZE
    let mut sid_len = sid.len() as u32;
    let mut domain = vec![0u16; 256];
    let mut domain_len = domain.len() as u32;
    let mut kind: SID_NAME_USE = 0;
    // SAFETY: every buffer is ours, with its length in the matching argument.
    let ok = unsafe {
        LookupAccountNameW(
            std::ptr::null(),
            account.as_ptr(),
            sid.as_mut_ptr().cast(),
            &mut sid_len,
            domain.as_mut_ptr(),
            &mut domain_len,
            &mut kind,
        )
    };
    if ok == 0 {
        return None;
    }
    let mut text: *mut u16 = std::ptr::null_mut();
    // SAFETY: `sid` holds the SID just written; `text` receives a LocalAlloc'd string.
    if unsafe { ConvertSidToStringSidW(sid.as_mut_ptr().cast(), &mut text) } == 0 {
        return None;
    }
    let mut len = 0;
    // SAFETY: `text` is NUL-terminated UTF-16 from Windows; we read up to the NUL and
    // free it once.
    let sid_string = unsafe {
        while *text.add(len) != 0 {
            len += 1;
        }
        let s = String::from_utf16_lossy(std::slice::from_raw_parts(text, len));
        LocalFree(text.cast());
        s
    };
    Some(sid_string)
}

/// The process id of the client connected to `pipe`, when Windows says.
pub(super) fn client_process_id(pipe: &NamedPipeServer) -> Option<u32> {
    let mut pid = 0u32;
    // SAFETY: the handle is the live pipe's; `pid` is ours.
    let ok = unsafe { GetNamedPipeClientProcessId(pipe.as_raw_handle() as HANDLE, &mut pid) };
    (ok != 0).then_some(pid)
}

fn wide(text: &str) -> Vec<u16> {
    text.encode_utf16().chain(std::iter::once(0)).collect()
}
