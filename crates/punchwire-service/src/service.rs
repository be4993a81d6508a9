//! The running service: one discovery engine per configured interface, the registry
//! where enabled, and the answers to the control socket's commands.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime};

use punchwire_discovery::{AnswerSource, Config as EngineConfig, DnsSource, Engine};
use punchwire_registry::{Registry, RegistryConfig as RunConfig, RunningRegistry, SelfRecord};
use punchwire_wg::Backend;
use serde_json::{json, Value};
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;

use crate::config::{Config, ConfigError, InterfaceConfig, RegistryConfig};
use punchwire_control::config_file;
use crate::control::protocol::{Command, ErrorBody, ErrorCode};
use crate::control::server::ControlHandler;
use crate::notes::{event_json, Notes};
use crate::peer_names::PeerNames;
use crate::report::peer_status;
use punchwire_control::status::{InterfaceStatus, RegistryLink, RegistryModeStatus, ServiceStatus};

/// How many control events a slow subscriber may fall behind.
const EVENTS_CAPACITY: usize = 1024;

/// How often each registry's SOA is probed for the status (round trip, serial). The
/// engines poll on their own; this only feeds what users see.
const PROBE_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

pub struct Service {
    config_path: PathBuf,
    backend: Backend,
    events: broadcast::Sender<Value>,
    notes: Arc<Mutex<Notes>>,
    peer_names: PeerNames,
    state: tokio::sync::Mutex<State>,
}

struct State {
    config: Config,
    interfaces: BTreeMap<String, InterfaceTask>,
    registry: RegistryMode,
}

#[derive(Default)]
struct RegistryMode {
    running: Option<RunningRegistry>,
    /// Why the registry is not running although configured and enabled.
    error: Option<String>,
    /// Switched off at run time (`registry-disable`), whatever the file says.
    disabled: bool,
}

/// One interface's engine, run as a task that hands the engine back when stopped, so
/// that pausing keeps what it learned (registry health, peers held back).
struct InterfaceTask {
    config: InterfaceConfig,
    engine: Option<Engine<DnsSource>>,
    running: Option<(oneshot::Sender<()>, JoinHandle<Engine<DnsSource>>)>,
    helpers: Vec<JoinHandle<()>>,
}

impl Service {
    /// Starts everything `config` asks for. The config has been checked already; what
    /// can still fail here (a registry port in use) is reported in the status, not
    /// fatal, so that discovery runs even when the registry cannot.
    pub async fn start(config_path: &Path, config: Config, backend: Backend) -> Arc<Self> {
        let (events, _) = broadcast::channel(EVENTS_CAPACITY);
        let service = Arc::new(Self {
            config_path: config_path.to_owned(),
            backend,
            events,
            notes: Arc::default(),
            peer_names: PeerNames::default(),
            state: tokio::sync::Mutex::new(State {
                config: config.clone(),
                interfaces: BTreeMap::new(),
                registry: RegistryMode::default(),
            }),
        });
        let mut state = service.state.lock().await;
        service
            .apply_registry(&mut state, config.registry.as_ref())
            .await;
        for iface in &config.interfaces {
            match service.start_interface(iface.clone()) {
                Ok(task) => {
                    state.interfaces.insert(iface.name.clone(), task);
                }
                Err(e) => tracing::error!("{}: {e}", iface.name),
            }
        }
        drop(state);
        service
    }

    /// The configuration file this service reads on reload.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    fn notes(&self) -> MutexGuard<'_, Notes> {
        self.notes.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn emit(&self, event: Value) {
        let _ = self.events.send(event);
    }

    fn start_interface(&self, config: InterfaceConfig) -> Result<InterfaceTask, String> {
        let source = DnsSource::new(
            &config.zone,
            punchwire_discovery::lookup::DEFAULT_QUERY_TIMEOUT,
        )
        .map_err(|e| format!("zone {:?}: {e}", config.zone))?;
        let mut engine_config = EngineConfig::new(config.name.clone(), config.registries.clone());
        engine_config.interval = config.interval;
        engine_config.poll = config.poll;
        engine_config.fresh_handshake = config.handshake_threshold;
        let engine = Engine::new(self.backend.clone(), source.clone(), engine_config);

        let helpers = vec![
            self.forward_events(&config.name, engine.subscribe()),
            self.probe_registries(&config, source),
        ];
        let mut task = InterfaceTask {
            config,
            engine: Some(engine),
            running: None,
            helpers,
        };
        if !task.config.paused {
            task.resume();
        }
        Ok(task)
    }

    /// Copies an engine's events into the service's notes and onto the control socket.
    fn forward_events(
        &self,
        iface: &str,
        mut rx: broadcast::Receiver<punchwire_discovery::Event>,
    ) -> JoinHandle<()> {
        let iface = iface.to_owned();
        let notes = Arc::clone(&self.notes);
        let events = self.events.clone();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(event) => {
                        notes.lock().unwrap_or_else(|p| p.into_inner()).record(
                            &iface,
                            &event,
                            SystemTime::now(),
                        );
                        let _ = events.send(event_json(&iface, &event));
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(
                            "{iface}: {n} discovery events were not recorded (too many at once)"
                        );
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        })
    }

    /// Measures each registry's round trip and serial for the status.
    fn probe_registries(&self, config: &InterfaceConfig, source: DnsSource) -> JoinHandle<()> {
        let iface = config.name.clone();
        let registries = config.registries.clone();
        let notes = Arc::clone(&self.notes);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PROBE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                for &registry in &registries {
                    let started = Instant::now();
                    let result = source
                        .soa_serial(registry)
                        .await
                        .map(|serial| (started.elapsed().as_secs_f64() * 1000.0, serial))
                        .map_err(|e| e.to_string());
                    notes
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .probed(&iface, registry, result);
                }
            }
        })
    }

    /// Starts, restarts or stops the registry to match `wanted`.
    async fn apply_registry(&self, state: &mut State, wanted: Option<&RegistryConfig>) {
        if let Some(running) = state.registry.running.take() {
            running.shutdown().await;
        }
        state.registry.error = None;
        let Some(wanted) = wanted else {
            return;
        };
        if !wanted.enabled || state.registry.disabled {
            return;
        }
        let mut config = RunConfig::new(wanted.zone.clone(), wanted.device.clone());
        config.listen = wanted.listen.clone();
        config.allow = wanted.allow.clone();
        config.refresh = wanted.refresh;
        config.self_record = wanted.serve_self.then(|| SelfRecord {
            endpoint: wanted.self_endpoint,
            allowed: wanted.self_allowed.clone(),
        });
        match Registry::start(config, self.backend.clone()).await {
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
            }
        }
    }

    /// Re-reads the configuration file. A bad file changes nothing.
    pub async fn reload(&self) -> Result<(), ConfigError> {
        let new = Config::load(&self.config_path)?;
        let mut state = self.state.lock().await;
        self.apply(&mut state, new).await;
        drop(state);
        tracing::info!("configuration reloaded from {}", self.config_path.display());
        self.emit(json!({"type": "reloaded"}));
        Ok(())
    }

    /// The running configuration, in the file's keys, and the file it came from.
    pub async fn config(&self) -> Value {
        let state = self.state.lock().await;
        json!({
            "path": self.config_path,
            "config": serde_json::to_value(&state.config).expect("plain data"),
        })
    }

    /// Checks `config` (JSON in the file's keys), writes it to the configuration file
    /// and applies it. A bad configuration, or one that cannot be written, changes
    /// nothing: what runs always matches the file.
    pub async fn set_config(&self, config: Value) -> Result<(), SetConfigError> {
        let new = Config::from_json(&self.config_path, config)?;
        // Held across the write, so that two clients' writes and applies cannot cross.
        let mut state = self.state.lock().await;
        let text = format!(
            "# Written by the punchwire service (set-config from the control socket).\n\
             # The file as it was before is kept as {}.\n\n{}",
            config_file::backup_path(&self.config_path).display(),
            new.to_toml()
        );
        config_file::replace(&self.config_path, &text).map_err(|source| {
            SetConfigError::Write {
                path: self.config_path.clone(),
                source,
            }
        })?;
        self.apply(&mut state, new).await;
        drop(state);
        tracing::info!(
            "configuration set from the control socket and written to {}",
            self.config_path.display()
        );
        self.emit(json!({"type": "reloaded"}));
        Ok(())
    }

    /// Moves the running service to `new`: stops what left or changed, starts what is
    /// new or changed, leaves the rest running.
    async fn apply(&self, state: &mut State, new: Config) {
        if new.control != state.config.control {
            tracing::warn!("control socket settings changed: they take effect at the next restart");
        }
        // Interfaces: stop what left or changed, start what is new or changed.
        let wanted: BTreeMap<String, InterfaceConfig> = new
            .interfaces
            .iter()
            .map(|i| (i.name.clone(), i.clone()))
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
                self.notes().forget(&name);
            }
        }
        for (name, config) in wanted {
            if let std::collections::btree_map::Entry::Vacant(slot) = state.interfaces.entry(name) {
                match self.start_interface(config) {
                    Ok(task) => {
                        slot.insert(task);
                    }
                    Err(e) => tracing::error!("{}: {e}", slot.key()),
                }
            }
        }
        if new.registry != state.config.registry {
            self.apply_registry(state, new.registry.as_ref()).await;
        }
        state.config = new;
    }

    /// Pauses or resumes discovery on one interface or all.
    pub async fn set_paused(&self, interface: Option<&str>, paused: bool) -> Result<(), String> {
        let mut state = self.state.lock().await;
        if let Some(name) = interface {
            if !state.interfaces.contains_key(name) {
                return Err(format!("no configured interface named {name:?}"));
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

    pub async fn set_registry_enabled(&self, enabled: bool) -> Result<(), String> {
        let mut state = self.state.lock().await;
        let Some(config) = state.config.registry.clone() else {
            return Err("this machine is not configured as a registry: add a [registry] section to the config".into());
        };
        state.registry.disabled = !enabled;
        self.apply_registry(&mut state, Some(&config)).await;
        let error = state.registry.error.clone();
        drop(state);
        self.emit(json!({"type": if enabled { "registry-enabled" } else { "registry-disabled" }}));
        match error {
            Some(e) if enabled => Err(e),
            _ => Ok(()),
        }
    }

    /// Everything the service knows, read now.
    pub async fn status(&self) -> ServiceStatus {
        let state = self.state.lock().await;
        let now = SystemTime::now();
        let mut interfaces = Vec::new();
        for (name, task) in &state.interfaces {
            let (peers, error) = match self.backend.device(name).await {
                Ok(device) => {
                    let names = self.peer_names.get(&task.config.names_path());
                    let notes = self.notes();
                    let peers = device
                        .peers
                        .iter()
                        .map(|p| {
                            peer_status(
                                p,
                                names.get(&p.public_key).cloned(),
                                &notes.peer(name, &p.public_key),
                                &task.config.registries,
                                now,
                            )
                        })
                        .collect();
                    (peers, None)
                }
                Err(e) => (Vec::new(), Some(e.to_string())),
            };
            let notes = self.notes();
            let registries = task
                .config
                .registries
                .iter()
                .map(|&address| {
                    let link = notes.link(name, address);
                    RegistryLink {
                        address,
                        reachable: link.reachable,
                        rtt_ms: link.rtt_ms,
                        serial: link.serial,
                        last_sync_age_secs: link.last_answer.map(|t| t.elapsed().as_secs()),
                        error: link.error,
                    }
                })
                .collect();
            interfaces.push(InterfaceStatus {
                name: name.clone(),
                zone: task.config.zone.clone(),
                paused: task.running.is_none(),
                error,
                peers,
                registries,
            });
        }
        let registry = state.config.registry.as_ref().map(|config| {
            let stats = state.registry.running.as_ref().map(|r| r.stats());
            RegistryModeStatus {
                enabled: state.registry.running.is_some(),
                zone: config.zone.clone(),
                device: config.device.clone(),
                listen: state
                    .registry
                    .running
                    .as_ref()
                    .map(|r| r.local_addrs().to_vec())
                    .unwrap_or_default(),
                peers_served: stats.as_ref().map_or(0, |s| s.peers),
                queries: stats.as_ref().map_or(0, |s| s.queries),
                refusals: stats.as_ref().map_or(0, |s| s.refused),
                strangers_dropped: stats.as_ref().map_or(0, |s| s.strangers_dropped),
                rate_limited: stats.as_ref().map_or(0, |s| s.rate_limited),
                tcp_refused: stats.as_ref().map_or(0, |s| s.tcp_refused),
                error: state.registry.error.clone().or_else(|| {
                    stats
                        .filter(|s| !s.fresh)
                        .map(|_| format!("cannot read {}: answering SERVFAIL", config.device))
                }),
            }
        });
        ServiceStatus {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            config_path: self.config_path.display().to_string(),
            interfaces,
            registry,
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
    }
}

impl InterfaceTask {
    fn resume(&mut self) {
        if self.running.is_some() {
            return;
        }
        let Some(mut engine) = self.engine.take() else {
            return;
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            engine
                .run(async {
                    let _ = stopped.await;
                })
                .await;
            engine
        });
        self.running = Some((stop, handle));
    }

    async fn pause(&mut self) {
        let Some((stop, handle)) = self.running.take() else {
            return;
        };
        let _ = stop.send(());
        match handle.await {
            Ok(engine) => self.engine = Some(engine),
            Err(e) => tracing::error!("{}: discovery task ended abnormally: {e}", self.config.name),
        }
    }

    async fn stop(mut self) {
        self.pause().await;
        for helper in &self.helpers {
            helper.abort();
        }
    }
}

/// Why `set-config` changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum SetConfigError {
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl From<SetConfigError> for ErrorBody {
    fn from(e: SetConfigError) -> Self {
        match e {
            SetConfigError::Invalid(e) => ErrorBody {
                code: ErrorCode::InvalidConfig,
                message: e.detail(),
                key: e.key().map(str::to_owned),
            },
            write => ErrorBody::new(ErrorCode::Failed, write.to_string()),
        }
    }
}

impl ControlHandler for Service {
    async fn handle(&self, command: Command) -> Result<Value, ErrorBody> {
        let failed = |e: String| ErrorBody::new(ErrorCode::Failed, e);
        match command {
            Command::Status => Ok(serde_json::to_value(self.status().await).expect("plain data")),
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
                .map_err(|e| failed(e.to_string())),
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
            Command::SetConfig { config } => self
                .set_config(config)
                .await
                .map(|()| Value::Null)
                .map_err(ErrorBody::from),
            // Answered by the connection itself; here only for completeness.
            Command::Subscribe => Ok(Value::Null),
        }
    }

    fn events(&self) -> broadcast::Receiver<Value> {
        self.events.subscribe()
    }
}
