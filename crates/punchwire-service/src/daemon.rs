//! `punchwire service`: load the config, open the control socket, run until SIGTERM.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use punchwire_wg::Backend;
use tokio::signal::unix::{signal, SignalKind};

use crate::config::{Config, ConfigError};
use crate::control::auth::AccessPolicy;
use crate::control::server::serve;
use crate::control::unix::ControlListener;
use crate::service::Service;
use crate::tunnel_check::check_registries_in_tunnel;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot open the control socket: {0}")]
    Control(std::io::Error),
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
}

/// Runs the service until SIGTERM or SIGINT. A bad config is an error before anything
/// starts. SIGHUP reloads.
pub async fn run(config_path: &Path, backend: Backend) -> Result<(), DaemonError> {
    let loaded = Config::read(config_path)?;
    check_registries_in_tunnel(&loaded.config, &backend, config_path).await?;
    // Handlers first: once the socket exists, supervisors and scripts take the service
    // for started, and a SIGHUP or SIGTERM arriving before them would kill it outright
    // (and leave the socket behind).
    let mut terminate = signal(SignalKind::terminate()).map_err(DaemonError::Signals)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(DaemonError::Signals)?;
    let mut hangup = signal(SignalKind::hangup()).map_err(DaemonError::Signals)?;
    let policy = AccessPolicy::for_group(&loaded.config.control.group);
    let listener = ControlListener::bind(&loaded.config.control.socket, &policy)
        .map_err(DaemonError::Control)?;
    let socket: PathBuf = listener.path().to_owned();

    let service = Service::start(config_path, loaded, backend).await;
    tracing::info!(
        "punchwire service running (config {}, control socket {})",
        config_path.display(),
        socket.display()
    );

    let (stop_control, control_stopped) = tokio::sync::oneshot::channel::<()>();
    let control = tokio::spawn(serve(listener, policy, Arc::clone(&service), async {
        let _ = control_stopped.await;
    }));

    loop {
        tokio::select! {
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            _ = hangup.recv() => match service.reload().await {
                Ok(()) => {}
                Err(e) => tracing::error!("reload refused, keeping the running configuration: {e}"),
            },
        }
    }
    tracing::info!("stopping; every endpoint stays as it is");
    let _ = stop_control.send(());
    let _ = control.await;
    service.shutdown().await;
    Ok(())
}
