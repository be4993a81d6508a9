//! Running as a Windows service: the Service Control Manager starts `punchwire.exe
//! service --windows-service`, and its stop (or the machine's shutdown) ends
//! [`daemon::run_until`] cleanly, as SIGTERM does on Unix.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use punchwire_wg::Backend;
use windows_service::service::{
    ServiceControl, ServiceControlAccept, ServiceExitCode, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};

use crate::daemon;

/// The service's name in the SCM (what the installer registers).
pub const SERVICE_NAME: &str = "Punchwire";

/// What the SCM's entry point needs; it takes no arguments of ours.
static START: OnceLock<(PathBuf, Backend)> = OnceLock::new();

/// Hands this thread to the SCM until the service stops. Fails at once when the
/// program was not started by the SCM.
pub fn run(config: PathBuf, backend: Backend) -> Result<(), windows_service::Error> {
    let _ = START.set((config, backend));
    entry::start()
}

mod entry {
    // The macro defines the `extern "system"` function the SCM calls, which converts
    // its raw arguments with an `unsafe` block of the windows-service crate's own.
    #![allow(unsafe_code)]
    use std::ffi::OsString;

    windows_service::define_windows_service!(ffi_service_main, service_main);

    fn service_main(arguments: Vec<OsString>) {
        super::service_main(arguments)
    }

    pub(super) fn start() -> Result<(), windows_service::Error> {
        windows_service::service_dispatcher::start(super::SERVICE_NAME, ffi_service_main)
    }
}

fn service_main(_arguments: Vec<OsString>) {
    if let Err(e) = serve() {
        tracing::error!("the Windows service failed: {e}");
    }
}

fn serve() -> Result<(), Box<dyn std::error::Error>> {
    let (config, backend) = START
        .get()
        .cloned()
        .ok_or("started without a configuration")?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stop_tx = std::sync::Mutex::new(Some(stop_tx));
    let handler = move |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown => {
            if let Some(tx) = stop_tx.lock().ok().and_then(|mut tx| tx.take()) {
                let _ = tx.send(());
            }
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    };
    let status = service_control_handler::register(SERVICE_NAME, handler)?;
    let report = |state, accept, code| ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state: state,
        controls_accepted: accept,
        exit_code: ServiceExitCode::Win32(code),
        checkpoint: 0,
        wait_hint: Duration::from_secs(10),
        process_id: None,
    };
    status.set_service_status(report(
        ServiceState::Running,
        ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN,
        0,
    ))?;
    let runtime = tokio::runtime::Runtime::new()?;
    let result = runtime.block_on(daemon::run_until(&config, backend, async {
        let _ = stop_rx.await;
    }));
    if let Err(e) = &result {
        tracing::error!("{e}");
    }
    // ERROR_SERVICE_SPECIFIC_ERROR-style generic failure code when the run failed.
    let code = if result.is_ok() { 0 } else { 1 };
    status.set_service_status(report(
        ServiceState::Stopped,
        ServiceControlAccept::empty(),
        code,
    ))?;
    Ok(())
}
