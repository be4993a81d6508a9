//! The control endpoint of this platform, behind one name: a Unix socket with its file
//! mode and the kernel's word on the peer (Linux, macOS), or a named pipe whose security
//! descriptor admits only the allowed principals (Windows). Both hand
//! [`super::server`] a byte stream and a [`super::auth::PeerIdentity`].

#[cfg(windows)]
pub use super::pipe::ControlListener;
#[cfg(unix)]
pub use super::unix::ControlListener;
