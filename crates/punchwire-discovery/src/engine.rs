//! The driver around the discovery core: the only code that does I/O. It reads the
//! device, asks the registries every question at once, writes the endpoints the core
//! decided, nudges the handshake, and tells the core's events; the core
//! ([`crate::core`]) makes every judgement. It only ever calls [`Backend::device`] and
//! [`Backend::set_endpoint`]: peers are never added or removed, and nothing but
//! endpoints is ever changed.

use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use punchwire_wg::{local_addresses, Backend, BackendError, LocalAddresses};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::config::Config;
use crate::core::{
    Core, Due, EndpointWrite, Moment, Pass, Question, Reply, SerialReply, WriteResults,
};
use crate::events::{Event, CHANNEL_CAPACITY};
use crate::lookup::AnswerSource;
use crate::network_watch::NetworkWatch;
use crate::nudge;
use crate::view::InterfaceView;

/// Keeps one device's peer endpoints current from the registries.
pub struct Engine<S: AnswerSource> {
    backend: Backend,
    source: Arc<S>,
    core: Core,
    events: broadcast::Sender<Event>,
    published: watch::Sender<InterfaceView>,
}

impl<S: AnswerSource> Engine<S> {
    pub fn new(backend: Backend, source: S, config: Config) -> Self {
        let (events, _) = broadcast::channel(CHANNEL_CAPACITY);
        let core = Core::new(config);
        let (published, _) = watch::channel(core.view().clone());
        Self {
            backend,
            source: Arc::new(source),
            core,
            events,
            published,
        }
    }

    /// Events from now on. Subscribe before running to miss none.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// The interface's view as of the latest pass (or health check), and each one after.
    pub fn view(&self) -> watch::Receiver<InterfaceView> {
        self.published.subscribe()
    }

    pub fn config(&self) -> &Config {
        self.core.config()
    }

    /// One pass at the current time.
    pub async fn pass(&mut self) -> Result<Pass, BackendError> {
        self.pass_at(SystemTime::now()).await
    }

    /// One pass, judging handshake ages as of `wall` (wall-clock time, as the device
    /// stamps handshakes). Fails only when the device cannot be read.
    pub async fn pass_at(&mut self, wall: SystemTime) -> Result<Pass, BackendError> {
        let device = self.backend.device(&self.config().iface).await?;
        let local = self.local_addresses();
        let plan = self.core.plan_pass(device, local, moment(wall));
        let replies = self.ask(plan.questions()).await;
        let decided = self
            .core
            .decide(plan, replies, moment(wall), rand::random());
        self.tell();
        let results = self.write(decided.writes()).await;
        let pass = self.core.conclude(decided, results, moment(wall));
        self.tell();
        self.publish();
        Ok(pass)
    }

    /// Reads the device and tells the health changes since the last look, without asking
    /// any registry.
    pub async fn check_health_at(&mut self, wall: SystemTime) -> Result<(), BackendError> {
        let device = self.backend.device(&self.config().iface).await?;
        self.core.check_health(&device, wall);
        self.tell();
        self.publish();
        Ok(())
    }

    /// Asks each available registry for its SOA serial; true when a serial differs from
    /// the last one seen (or is the first), or a registry came back.
    pub async fn serial_moved(&mut self) -> bool {
        let mut tasks = JoinSet::new();
        for registry in self.core.serial_questions(Instant::now().into_std()) {
            let source = Arc::clone(&self.source);
            tasks.spawn(async move {
                let asked = Instant::now();
                let serial = source.soa_serial(registry).await;
                let answer = serial
                    .map(|serial| (asked.elapsed(), serial))
                    .map_err(|e| e.to_string());
                SerialReply { registry, answer }
            });
        }
        let replies = joined(tasks, "an SOA poll").await;
        let moved = self
            .core
            .serials_answered(replies, moment(SystemTime::now()), rand::random());
        self.tell();
        // Only the readings, every poll: the peers' part changes only in a pass or a
        // check, which publish the whole view.
        let view = self.core.view();
        self.published
            .send_modify(|published| published.copy_registries_from(view));
        moved
    }

    /// Runs until `shutdown` completes: a pass whenever a registry's SOA serial moves,
    /// and at least every interval. A pass that cannot read the device is logged and
    /// retried at the next poll; nothing here gives up. The engine keeps what it learned
    /// (registry health, peers marked not direct), so it can be run again after a stop.
    pub async fn run(&mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut network = NetworkWatch::new();
        // A missing interface (`wg-quick down`) is ordinary: say so once, not every poll.
        let mut read_error: Option<String> = None;
        loop {
            let moved = self.serial_moved().await;
            let due = self.core.due(moved, moment(SystemTime::now()));
            self.tell();
            match due {
                Due::Pass => match self.pass().await {
                    Ok(pass) => {
                        tracing::debug!(peers = pass.outcomes.len(), "pass done");
                        if read_error.take().is_some() {
                            tracing::info!("{} can be read again", self.config().iface);
                        }
                    }
                    Err(e) => {
                        let message = e.to_string();
                        if read_error.as_deref() != Some(message.as_str()) {
                            tracing::warn!(
                                "cannot read {}: {message}; retrying every {:?}",
                                self.config().iface,
                                self.config().poll
                            );
                        }
                        read_error = Some(message);
                        self.core.device_unreadable(Instant::now().into_std());
                    }
                },
                Due::HealthCheck => {
                    if let Err(e) = self.check_health_at(SystemTime::now()).await {
                        tracing::debug!("cannot read {} to check health: {e}", self.config().iface);
                        self.core.health_unreadable();
                    }
                }
                Due::Nothing => {}
            }
            let wake = Instant::from_std(self.core.wake_at(Instant::now().into_std()));
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep_until(wake) => {}
                what = network.changed() => {
                    self.core.network_changed(what);
                    self.tell();
                    self.rebind().await;
                }
            }
        }
    }

    /// Lets the WireGuard implementation drop what it kept of the old network (a
    /// socket tied to an address that is gone would leave every peer, the registry's
    /// too, unreachable until it is). A failure is not fatal: the pass that follows
    /// reads the device and says what is wrong.
    async fn rebind(&self) {
        let iface = &self.config().iface;
        if let Err(e) = self.backend.rebind(iface).await {
            tracing::debug!(%iface, "could not rebind after the network changed: {e}");
        }
    }

    /// This machine's addresses, which no answer may set; none known when they cannot be
    /// read (then only the device's own tunnel ranges keep answers out of the tunnel).
    fn local_addresses(&self) -> LocalAddresses {
        let iface = &self.config().iface;
        local_addresses(iface).unwrap_or_else(|error| {
            tracing::warn!(%iface, %error, "cannot list this machine's addresses");
            LocalAddresses::default()
        })
    }

    /// Asks every question at once.
    async fn ask(&self, questions: &[Question]) -> Vec<Reply> {
        let mut tasks = JoinSet::new();
        for &question in questions {
            let source = Arc::clone(&self.source);
            tasks.spawn(async move {
                let (lookup, candidates) = if question.candidates {
                    tokio::join!(
                        source.lookup(question.registry, question.peer),
                        source.candidates(question.registry, question.peer)
                    )
                } else {
                    (
                        source.lookup(question.registry, question.peer).await,
                        Vec::new(),
                    )
                };
                Reply {
                    question,
                    lookup,
                    candidates,
                }
            });
        }
        joined(tasks, "a lookup").await
    }

    /// Sets each endpoint from the peer snapshot it was decided on, and nudges the
    /// handshake on each one set.
    async fn write(&self, writes: &[EndpointWrite]) -> WriteResults {
        let iface = &self.config().iface;
        let mut results = WriteResults::new();
        for write in writes {
            let result = self
                .backend
                .set_endpoint(iface, &write.peer, write.endpoint)
                .await;
            if result.is_ok() && self.config().nudge {
                if let Some(target) = nudge::target(&write.peer) {
                    nudge::send(iface, target).await;
                }
            }
            results.insert(write.peer.public_key, result.map_err(|e| e.to_string()));
        }
        results
    }

    /// Logs the core's events and sends them to the subscribers.
    fn tell(&mut self) {
        for event in self.core.take_events() {
            event.log();
            // No subscriber is not an error: the CLI may not listen.
            let _ = self.events.send(event);
        }
    }

    fn publish(&self) {
        self.published.send_replace(self.core.view().clone());
    }
}

/// Now on both clocks, the wall clock's reading given: the monotonic one is tokio's, so
/// that tests with paused time move it.
fn moment(wall: SystemTime) -> Moment {
    Moment {
        wall,
        mono: Instant::now().into_std(),
    }
}

/// Every task's result; one that panicked is logged and left out.
async fn joined<T: 'static>(mut tasks: JoinSet<T>, what: &str) -> Vec<T> {
    let mut results = Vec::with_capacity(tasks.len());
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(result) => results.push(result),
            Err(e) => tracing::error!("{what} failed: {e}"),
        }
    }
    results
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use super::*;
    use crate::config::DEFAULT_POLL;
    use crate::fixtures::{addr, device, key, registry, IFACE};
    use crate::memory::MemorySource;
    use crate::policy::Reason;
    use punchwire_wg::{Endpoint, MemoryBackend, Peer};

    fn setup(registries: &[SocketAddr]) -> (MemoryBackend, MemorySource, Engine<MemorySource>) {
        let memory = MemoryBackend::new();
        memory.put_device(device());
        let source = MemorySource::new();
        let engine = Engine::new(
            Backend::new(memory.clone()),
            source.clone(),
            config(registries),
        );
        (memory, source, engine)
    }

    /// Without nudges: these devices are in memory, and a machine running the tests may
    /// have a real `wg0` that must not see test traffic.
    fn config(registries: &[SocketAddr]) -> Config {
        Config {
            nudge: false,
            ..Config::new(IFACE, registries.to_vec())
        }
    }

    fn drain(rx: &mut broadcast::Receiver<Event>) -> Vec<Event> {
        std::iter::from_fn(|| rx.try_recv().ok()).collect()
    }

    fn reasons(pass: &Pass) -> Vec<String> {
        pass.outcomes
            .iter()
            .map(|o| o.decision.reason.to_string())
            .collect()
    }

    fn endpoint_of(memory: &MemoryBackend, n: u8) -> Option<SocketAddr> {
        let backend = memory.clone();
        use punchwire_wg::WireGuard;
        backend
            .device(IFACE)
            .unwrap()
            .peer(&key(n))
            .unwrap()
            .endpoint
    }

    /// Each write is given the peer as the pass read it, so setting every endpoint
    /// costs the one read the pass starts with, not one more per write.
    #[tokio::test]
    async fn a_pass_that_sets_every_endpoint_reads_the_device_once() {
        let (memory, source, mut engine) = setup(&[registry(1)]);
        source.publish(registry(1), key(2), addr("198.51.100.2:40002"));
        source.publish(registry(1), key(3), addr("198.51.100.3:40003"));

        let pass = engine.pass().await.unwrap();

        assert_eq!(reasons(&pass), ["registry-peer", "set", "set"]);
        assert_eq!(memory.endpoint_writes().len(), 2);
        assert_eq!(memory.device_reads(), 1);
    }

    #[tokio::test]
    async fn a_pass_sets_published_endpoints_and_touches_nothing_else() {
        let (memory, source, mut engine) = setup(&[registry(1)]);
        let mut rx = engine.subscribe();
        source.publish(registry(1), key(1), addr("198.51.100.1:1"));
        source.publish(registry(1), key(2), addr("198.51.100.2:40002"));

        let pass = engine.pass().await.unwrap();

        assert_eq!(reasons(&pass), ["registry-peer", "set", "no-record"]);
        assert!(pass.all_settled());
        // The registry peer is not even asked about; this device's own key is.
        let own = device().public_key.unwrap();
        assert_eq!(
            source.lookups(),
            [
                (registry(1), key(2)),
                (registry(1), key(3)),
                (registry(1), own)
            ]
        );
        let mut expected = device();
        expected.peers[1].endpoint = Some(addr("198.51.100.2:40002"));
        use punchwire_wg::WireGuard;
        assert_eq!(memory.device(IFACE).unwrap(), expected);
        let events = drain(&mut rx);
        assert!(events.contains(&Event::RegistryReachable {
            registry: registry(1)
        }));
        assert!(events.contains(&Event::EndpointChanged {
            iface: IFACE.into(),
            peer: key(2),
            old: None,
            new: "198.51.100.2:40002".parse().unwrap(),
            registry: registry(1),
        }));
        let decisions = events
            .iter()
            .filter(|e| matches!(e, Event::Decision { .. }))
            .count();
        assert_eq!(decisions, 3);

        // Nothing moved: the next pass changes nothing.
        let pass = engine.pass().await.unwrap();
        assert_eq!(reasons(&pass), ["registry-peer", "unchanged", "no-record"]);
        assert_eq!(memory.endpoint_writes().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unreachable_registry_clears_nothing_and_is_retried_after_a_pause() {
        let (memory, source, mut engine) = setup(&[registry(1)]);
        let mut rx = engine.subscribe();
        memory.update_peer(IFACE, &key(2), |p| {
            p.endpoint = Some(addr("198.51.100.2:1111"));
        });
        source.publish(registry(1), key(2), addr("198.51.100.2:40002"));
        source.take_down(registry(1));

        let pass = engine.pass().await.unwrap();
        assert_eq!(
            reasons(&pass),
            [
                "registry-peer",
                "registry-unreachable",
                "registry-unreachable"
            ]
        );
        assert!(!pass.all_settled());
        assert_eq!(endpoint_of(&memory, 2), Some(addr("198.51.100.2:1111")));
        assert!(drain(&mut rx).iter().any(|e| matches!(
            e,
            Event::RegistryUnreachable { registry: r, .. } if *r == registry(1)
        )));

        // While it backs off, it is not asked, and peers keep their endpoints.
        let asked = source.lookups().len();
        let pass = engine.pass().await.unwrap();
        assert_eq!(source.lookups().len(), asked);
        assert_eq!(
            pass.outcomes[1].decision.reason,
            Reason::RegistryUnreachable
        );
        assert_eq!(endpoint_of(&memory, 2), Some(addr("198.51.100.2:1111")));

        // It comes back: asked again after the pause, without a restart.
        source.bring_up(registry(1));
        tokio::time::advance(crate::health::BACKOFF_FIRST).await;
        let pass = engine.pass().await.unwrap();
        assert_eq!(reasons(&pass), ["registry-peer", "set", "no-record"]);
        assert_eq!(endpoint_of(&memory, 2), Some(addr("198.51.100.2:40002")));
        assert!(drain(&mut rx).contains(&Event::RegistryReachable {
            registry: registry(1)
        }));
    }

    /// What the status shows of each registry comes from the engine's own SOA poll:
    /// nobody asks the registries a second time to fill it.
    #[tokio::test]
    async fn the_published_view_holds_what_the_soa_poll_saw_of_each_registry() {
        let (_memory, source, mut engine) = setup(&[registry(1), registry(9)]);
        let view = engine.view();
        assert_eq!(view.borrow().registry(registry(1)).reachable, None);
        source.take_down(registry(9));

        engine.serial_moved().await;

        let up = view.borrow().registry(registry(1));
        assert_eq!(up.reachable, Some(true));
        assert!(up.serial.is_some() && up.rtt.is_some() && up.last_answer.is_some());
        assert_eq!(up.error, None);
        let down = view.borrow().registry(registry(9));
        assert_eq!(down.reachable, Some(false));
        assert!(down.error.is_some() && down.rtt.is_none(), "{down:?}");
    }

    /// A device that can be read but refuses every write.
    struct ReadOnly(MemoryBackend);

    impl punchwire_wg::WireGuard for ReadOnly {
        fn kind(&self) -> &'static str {
            "read-only"
        }
        fn interfaces(&self) -> Result<Vec<String>, BackendError> {
            self.0.interfaces()
        }
        fn device(&self, iface: &str) -> Result<punchwire_wg::Device, BackendError> {
            self.0.device(iface)
        }
        fn set_endpoint(&self, iface: &str, _: &Peer, _: Endpoint) -> Result<(), BackendError> {
            Err(BackendError::PermissionDenied {
                iface: iface.to_owned(),
            })
        }
        fn rebind(&self, iface: &str) -> Result<(), BackendError> {
            Err(BackendError::PermissionDenied {
                iface: iface.to_owned(),
            })
        }
        fn set_allowed_ips(
            &self,
            iface: &str,
            _: &[(punchwire_wg::PublicKey, Vec<ipnet::IpNet>)],
        ) -> Result<(), BackendError> {
            Err(BackendError::PermissionDenied {
                iface: iface.to_owned(),
            })
        }
    }

    #[tokio::test]
    async fn a_failed_write_is_reported_not_hidden() {
        let (memory, source, _) = setup(&[registry(1)]);
        let mut engine = Engine::new(
            Backend::new(ReadOnly(memory.clone())),
            source.clone(),
            config(&[registry(1)]),
        );
        source.publish(registry(1), key(2), addr("198.51.100.2:40002"));

        let pass = engine.pass().await.unwrap();

        assert!(!pass.all_settled());
        let outcome = &pass.outcomes[1];
        assert_eq!(outcome.decision.reason, Reason::Set);
        let error = outcome.error.as_deref().unwrap();
        assert!(error.contains("permission denied on wg0"), "{error}");
        assert_eq!(outcome.endpoint, None);
    }

    #[tokio::test(start_paused = true)]
    async fn running_follows_the_serial_and_stops_on_request() {
        let (memory, source, mut engine) = setup(&[registry(1)]);
        let mut rx = engine.subscribe();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(async move {
            engine
                .run(async {
                    let _ = stopped.await;
                })
                .await
        });

        // A record appears after the first pass: picked up at the next poll, long
        // before the full interval.
        let started = Instant::now();
        wait_for(
            &mut rx,
            |e| matches!(e, Event::Decision { peer, .. } if *peer == key(3)),
        )
        .await;
        source.publish(registry(1), key(3), addr("198.51.100.3:40003"));
        wait_for(
            &mut rx,
            |e| matches!(e, Event::EndpointChanged { peer, .. } if *peer == key(3)),
        )
        .await;
        assert!(Instant::now() - started <= DEFAULT_POLL * 2);
        assert_eq!(endpoint_of(&memory, 3), Some(addr("198.51.100.3:40003")));

        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), running)
            .await
            .expect("the engine stops when asked")
            .unwrap();
    }

    async fn wait_for(rx: &mut broadcast::Receiver<Event>, want: impl Fn(&Event) -> bool) {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let event = rx.recv().await.expect("the engine is running");
                if want(&event) {
                    return;
                }
            }
        })
        .await
        .expect("the event came within 10 s")
    }
}
