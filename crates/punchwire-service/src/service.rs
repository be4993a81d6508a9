//! The running service: one discovery engine per configured interface, the registry
//! where enabled, and the answers to the control socket's commands.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use punchwire_registry::{Registry, RegistryConfig, RelayForwarding, RunningRegistry, SelfRecord};
use punchwire_wg::Backend;
use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::config::{Config, ConfigError, InterfaceConfig, Loaded, RegistryModeConfig};
use crate::control::protocol::{Command, ErrorBody, ErrorCode, Hello};
use crate::control::server::ControlHandler;
use crate::event_log::EventLog;
use crate::interface_task::{InterfaceTask, Shared};
use crate::scout::Scout;
use crate::tunnel_check::check_registries_in_tunnel;
use punchwire_control::defaults;

/// Why pausing, resuming or switching registry mode was refused.
#[derive(Debug, thiserror::Error)]
pub enum ToggleError {
    #[error("no configured interface named {name:?}")]
    NoSuchInterface { name: String },
    #[error(
        "this machine is not configured as a registry: add a [registry] section to the config"
    )]
    NotARegistry,
    /// Registry mode is on, but the registry did not start; `why` is what its start
    /// said, kept for the status too.
    #[error("{why}")]
    RegistryNotStarted { why: String },
}

pub struct Service {
    pub(crate) config_path: PathBuf,
    pub(crate) shared: Shared,
    pub(crate) scout: Arc<Scout>,
    pub(crate) state: tokio::sync::Mutex<State>,
}

pub(crate) struct State {
    pub(crate) config: Config,
    /// The revision of the file `config` was read from or written as: a `set-config`
    /// based on any other is refused.
    pub(crate) revision: String,
    pub(crate) interfaces: BTreeMap<String, InterfaceTask>,
    pub(crate) registry: RegistryMode,
}

#[derive(Default)]
pub(crate) struct RegistryMode {
    pub(crate) running: Option<RunningRegistry>,
    /// Why the registry is not running although configured and enabled.
    pub(crate) error: Option<String>,
    /// Switched off at run time (`registry-disable`), whatever the file says.
    disabled: bool,
    /// Forwarding between the device's peers while the registry relays.
    forwarding: Option<RelayForwarding>,
}

impl Service {
    /// Starts everything `config` asks for. The config has been checked already; what
    /// can still fail here (a registry port in use) is reported in the status, not
    /// fatal, so that discovery runs even when the registry cannot.
    pub async fn start(config_path: &Path, loaded: Loaded, backend: Backend) -> Arc<Self> {
        let Loaded { config, revision } = loaded;
        let shared = Shared {
            backend,
            log: Arc::default(),
            peer_names: Arc::default(),
            state_dir: config.state_dir(),
        };
        let service = Arc::new(Self {
            config_path: config_path.to_owned(),
            scout: Scout::new(shared.clone()),
            shared,
            state: tokio::sync::Mutex::new(State {
                config: config.clone(),
                revision,
                interfaces: BTreeMap::new(),
                registry: RegistryMode::default(),
            }),
        });
        let mut state = service.state.lock().await;
        service
            .apply_registry(&mut state, config.registry.as_ref())
            .await;
        for iface in &config.interfaces {
            let task = InterfaceTask::start(iface.clone(), service.shared.clone());
            state.interfaces.insert(iface.name.to_string(), task);
        }
        drop(state);
        service
    }

    /// The configuration file this service reads on reload.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    pub(crate) fn emit(&self, event: Value) {
        self.shared.log.publish(event);
    }

    fn log(&self) -> &EventLog {
        &self.shared.log
    }

    /// Starts, restarts or stops the registry to match `wanted`.
    async fn apply_registry(&self, state: &mut State, wanted: Option<&RegistryModeConfig>) {
        if let Some(running) = state.registry.running.take() {
            running.shutdown().await;
        }
        if let Some(forwarding) = state.registry.forwarding.take() {
            if let Err(e) = forwarding.disable() {
                tracing::error!("registry: cannot undo relay forwarding: {e}");
            }
        }
        state.registry.error = None;
        let Some(wanted) = wanted else {
            return;
        };
        if !wanted.enabled || state.registry.disabled {
            return;
        }
        let mut config = RegistryConfig::new(wanted.zone.clone(), wanted.device.to_string());
        config.listen = wanted.listen.clone();
        config.allow = wanted.allow.clone();
        config.refresh = wanted.refresh.get();
        config.self_record = wanted.serve_self.then(|| SelfRecord {
            endpoint: wanted.self_endpoint,
            allowed: wanted.self_allowed.clone(),
        });
        if wanted.relay {
            match RelayForwarding::enable(wanted.device.as_str()) {
                Ok(forwarding) => state.registry.forwarding = Some(forwarding),
                Err(e) => {
                    tracing::error!("registry: {e}");
                    state.registry.error = Some(format!("relay: {e}"));
                    return;
                }
            }
        }
        match Registry::start(config, self.shared.backend.clone()).await {
            Ok(running) => {
                tracing::info!(
                    "registry serving {} on {:?}",
                    running.zone(),
                    running.local_addrs()
                );
                state.registry.running = Some(running);
            }
            Err(e) => {
                tracing::error!("registry: {e}");
                state.registry.error = Some(e.to_string());
                // Dropped: no forwarding without the registry that asked for it.
                state.registry.forwarding = None;
            }
        }
    }

    /// Re-reads the configuration file. A bad file changes nothing.
    pub async fn reload(&self) -> Result<(), ConfigError> {
        let Loaded { config, revision } = Config::read(&self.config_path)?;
        check_registries_in_tunnel(&config, &self.shared.backend, &self.config_path).await?;
        let mut state = self.state.lock().await;
        self.apply(&mut state, config).await;
        state.revision = revision;
        drop(state);
        tracing::info!("configuration reloaded from {}", self.config_path.display());
        self.emit(json!({"type": "reloaded"}));
        Ok(())
    }

    /// The running configuration, in the file's keys; the file it came from and its
    /// revision (to hand back with `set-config`); the defaults of the keys left out.
    pub async fn config(&self) -> Value {
        let state = self.state.lock().await;
        json!({
            "path": self.config_path,
            "config": serde_json::to_value(&state.config).expect("plain data"),
            "revision": state.revision,
            "defaults": {
                "interval": defaults::DEFAULT_INTERVAL,
                "poll": defaults::DEFAULT_POLL,
                "handshake_threshold": defaults::DEFAULT_HANDSHAKE_THRESHOLD,
            },
        })
    }

    /// Moves the running service to `new`: stops what left or changed, starts what is
    /// new or changed, leaves the rest running.
    pub(crate) async fn apply(&self, state: &mut State, new: Config) {
        if new.control != state.config.control {
            tracing::warn!("control socket settings changed: they take effect at the next restart");
        }
        // Interfaces: stop what left or changed, start what is new or changed.
        let wanted: BTreeMap<String, InterfaceConfig> = new
            .interfaces
            .iter()
            .map(|i| (i.name.to_string(), i.clone()))
            .collect();
        let current: Vec<String> = state.interfaces.keys().cloned().collect();
        for name in current {
            let unchanged = matches!(
                (wanted.get(&name), state.interfaces.get(&name)),
                (Some(w), Some(t)) if *w == t.config
            );
            if !unchanged {
                if let Some(task) = state.interfaces.remove(&name) {
                    task.stop().await;
                }
            }
        }
        for (name, config) in wanted {
            if let std::collections::btree_map::Entry::Vacant(slot) = state.interfaces.entry(name) {
                slot.insert(InterfaceTask::start(config, self.shared.clone()));
            }
        }
        if new.registry != state.config.registry {
            self.apply_registry(state, new.registry.as_ref()).await;
        }
        state.config = new;
    }

    /// Pauses or resumes discovery on one interface or all.
    pub async fn set_paused(
        &self,
        interface: Option<&str>,
        paused: bool,
    ) -> Result<(), ToggleError> {
        let mut state = self.state.lock().await;
        if let Some(name) = interface {
            if !state.interfaces.contains_key(name) {
                return Err(ToggleError::NoSuchInterface {
                    name: name.to_owned(),
                });
            }
        }
        for (name, task) in state.interfaces.iter_mut() {
            if interface.is_some_and(|i| i != name) {
                continue;
            }
            if paused {
                task.pause().await;
            } else {
                task.resume();
            }
            self.emit(json!({
                "type": if paused { "paused" } else { "resumed" },
                "iface": name,
            }));
        }
        Ok(())
    }

    pub async fn set_registry_enabled(&self, enabled: bool) -> Result<(), ToggleError> {
        let mut state = self.state.lock().await;
        let Some(config) = state.config.registry.clone() else {
            return Err(ToggleError::NotARegistry);
        };
        state.registry.disabled = !enabled;
        self.apply_registry(&mut state, Some(&config)).await;
        let error = state.registry.error.clone();
        drop(state);
        self.emit(json!({"type": if enabled { "registry-enabled" } else { "registry-disabled" }}));
        match error {
            Some(why) if enabled => Err(ToggleError::RegistryNotStarted { why }),
            _ => Ok(()),
        }
    }

    /// Stops every engine and the registry. Endpoints stay as they are: stopping the
    /// service must never cut a tunnel.
    pub async fn shutdown(&self) {
        let mut state = self.state.lock().await;
        for (_, task) in std::mem::take(&mut state.interfaces) {
            task.stop().await;
        }
        if let Some(running) = state.registry.running.take() {
            running.shutdown().await;
        }
        if let Some(forwarding) = state.registry.forwarding.take() {
            if let Err(e) = forwarding.disable() {
                tracing::error!("registry: cannot undo relay forwarding: {e}");
            }
        }
    }
}

impl ControlHandler for Service {
    async fn handle(&self, command: Command) -> Result<Value, ErrorBody> {
        let failed = |e: ToggleError| ErrorBody::new(ErrorCode::Failed, e.to_string());
        match command {
            Command::Status => Ok(serde_json::to_value(self.status().await).expect("plain data")),
            Command::Hello => {
                let hello = Hello::from_service(env!("CARGO_PKG_VERSION"));
                Ok(serde_json::to_value(hello).expect("plain data"))
            }
            Command::Pause { interface } => self
                .set_paused(interface.as_deref(), true)
                .await
                .map(|()| Value::Null)
                .map_err(failed),
            Command::Resume { interface } => self
                .set_paused(interface.as_deref(), false)
                .await
                .map(|()| Value::Null)
                .map_err(failed),
            Command::Reload => self
                .reload()
                .await
                .map(|()| Value::Null)
                .map_err(|e| ErrorBody::new(ErrorCode::Failed, e.to_string())),
            Command::RegistryEnable => self
                .set_registry_enabled(true)
                .await
                .map(|()| Value::Null)
                .map_err(failed),
            Command::RegistryDisable => self
                .set_registry_enabled(false)
                .await
                .map(|()| Value::Null)
                .map_err(failed),
            Command::GetConfig => Ok(self.config().await),
            Command::SetConfig { config, revision } => self
                .set_config(config, &revision)
                .await
                .map(|revision| json!({ "revision": revision }))
                .map_err(ErrorBody::from),
            Command::RecentEvents => Ok(json!({ "events": self.log().recent() })),
            // Answered by the connection itself; here only for completeness.
            Command::Subscribe => Ok(Value::Null),
        }
    }

    fn events(&self) -> broadcast::Receiver<Value> {
        self.log().subscribe()
    }
}
