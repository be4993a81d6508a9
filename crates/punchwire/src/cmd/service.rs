//! `punchwire service`: the privileged service that keeps endpoints current.

use std::path::PathBuf;
use std::process::ExitCode;

use punchwire_service::config::DEFAULT_PATH;
use punchwire_service::daemon;
use punchwire_wg::{Backend, SystemBackend};

#[derive(clap::Args)]
pub struct Args {
    /// The configuration file (see installers/config.example.toml).
    #[arg(long, default_value = DEFAULT_PATH)]
    config: PathBuf,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    // Its registry mode serves TCP too.
    super::registry::raise_open_files();
    let backend = Backend::new(SystemBackend::new());
    daemon::run(&args.config, backend).await?;
    Ok(ExitCode::SUCCESS)
}
