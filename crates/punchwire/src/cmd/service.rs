//! `punchwire service`: the privileged service that keeps endpoints current.

use std::path::PathBuf;
use std::process::ExitCode;

use punchwire_control::defaults;
use punchwire_service::daemon;
use punchwire_wg::{Backend, SystemBackend};

#[derive(clap::Args)]
pub struct Args {
    /// The configuration file (see installers/config.example.toml).
    #[arg(long, default_value_os_t = defaults::config_path())]
    config: PathBuf,

    /// Run under the Windows Service Control Manager (what the installed service's
    /// command line says); without it, the service runs in this console until Ctrl-C.
    #[cfg(windows)]
    #[arg(long)]
    pub windows_service: bool,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    // Its registry mode serves TCP too.
    super::registry::raise_open_files();
    let backend = Backend::new(SystemBackend::new());
    daemon::run(&args.config, backend).await?;
    Ok(ExitCode::SUCCESS)
}

/// Hands the process to the Service Control Manager; returns when the service stops.
/// Called before any async runtime exists: the SCM owns the main thread.
#[cfg(windows)]
pub fn run_windows_service(args: Args) -> anyhow::Result<ExitCode> {
    let backend = Backend::new(SystemBackend::new());
    punchwire_service::scm::run(args.config, backend).map_err(|e| {
        anyhow::anyhow!(
            "cannot talk to the Service Control Manager ({e}); `--windows-service` is for the installed service only: run `punchwire service` in a console instead"
        )
    })?;
    Ok(ExitCode::SUCCESS)
}
