//! What the operating system asks of the running service, in one shape on every
//! platform: stop, or reload the configuration.
//!
//! Unix: SIGTERM and SIGINT stop, SIGHUP reloads. Windows: Ctrl-C, Ctrl-Break, closing
//! the console and logoff/shutdown stop (there is no reload signal: `punchwire reload`
//! asks over the pipe); as a Windows service, the Service Control Manager's stop
//! arrives through [`crate::daemon::run_until`]'s `stop` instead.

use std::io;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Stop,
    Reload,
}

#[cfg(unix)]
pub struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    /// Takes over the signals; until then they would kill the process outright.
    pub fn install() -> io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    pub async fn next(&mut self) -> Request {
        tokio::select! {
            _ = self.terminate.recv() => Request::Stop,
            _ = self.interrupt.recv() => Request::Stop,
            _ = self.hangup.recv() => Request::Reload,
        }
    }
}

#[cfg(windows)]
pub struct Signals {
    ctrl_c: tokio::signal::windows::CtrlC,
    ctrl_break: tokio::signal::windows::CtrlBreak,
    ctrl_close: tokio::signal::windows::CtrlClose,
    ctrl_shutdown: tokio::signal::windows::CtrlShutdown,
}

#[cfg(windows)]
impl Signals {
    pub fn install() -> io::Result<Self> {
        use tokio::signal::windows::{ctrl_break, ctrl_c, ctrl_close, ctrl_shutdown};
        Ok(Self {
            ctrl_c: ctrl_c()?,
            ctrl_break: ctrl_break()?,
            ctrl_close: ctrl_close()?,
            ctrl_shutdown: ctrl_shutdown()?,
        })
    }

    pub async fn next(&mut self) -> Request {
        tokio::select! {
            _ = self.ctrl_c.recv() => Request::Stop,
            _ = self.ctrl_break.recv() => Request::Stop,
            _ = self.ctrl_close.recv() => Request::Stop,
            _ = self.ctrl_shutdown.recv() => Request::Stop,
        }
    }
}
