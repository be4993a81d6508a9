//! How a client reaches the service on this platform: a Unix socket (Linux, macOS) or
//! a named pipe (Windows). Each gives [`ControlClient`](crate::client::ControlClient) a
//! byte stream and says, in the user's terms, why it could not.

#[cfg(windows)]
mod pipe;
#[cfg(unix)]
mod unix;

#[cfg(windows)]
pub(crate) use pipe::{connect, group_of, join_hint, Stream, START_HINT};
#[cfg(unix)]
pub(crate) use unix::{connect, group_of, join_hint, Stream, START_HINT};
