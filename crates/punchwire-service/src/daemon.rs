//! `punchwire service`: load the config, open the control endpoint, run until asked to
//! stop (a signal, Ctrl-C, or the Windows Service Control Manager).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use punchwire_wg::Backend;

use crate::config::{Config, ConfigError};
use crate::control::auth::AccessPolicy;
use crate::control::server::serve;
use crate::control::transport::ControlListener;
use crate::service::Service;
use crate::signals::{Request, Signals};
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

/// Runs the service until SIGTERM or SIGINT (Ctrl-C on Windows). A bad config is an
/// error before anything starts. SIGHUP reloads.
pub async fn run(config_path: &Path, backend: Backend) -> Result<(), DaemonError> {
    run_until(config_path, backend, std::future::pending()).await
}

/// [`run`], also stopping when `stop` resolves (the Windows service's stop request).
pub async fn run_until(
    config_path: &Path,
    backend: Backend,
    stop: impl Future<Output = ()>,
) -> Result<(), DaemonError> {
    let loaded = Config::read(config_path)?;
    check_registries_in_tunnel(&loaded.config, &backend, config_path).await?;
    // Handlers first: once the socket exists, supervisors and scripts take the service
    // for started, and a SIGHUP or SIGTERM arriving before them would kill it outright
    // (and leave the socket behind).
    let mut signals = Signals::install().map_err(DaemonError::Signals)?;
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

    tokio::pin!(stop);
    loop {
        let request = tokio::select! {
            request = signals.next() => request,
            _ = &mut stop => Request::Stop,
        };
        match request {
            Request::Stop => break,
            Request::Reload => match service.reload().await {
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
