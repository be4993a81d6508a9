//! Desktop notifications for what a user cares about: a peer's endpoint changed, a peer
//! became direct, stopped being direct, or could not go direct. They come from the
//! service's typed events (`endpoint-changed`, `peer-health-changed`), which say what
//! changed and why in the service's words; a burst of them becomes one notification.

use std::future::Future;
use std::time::Duration;

use punchwire_control::events::ServiceEvent;
use punchwire_control::status::HealthState;
use tokio::sync::mpsc;

use crate::overall::display_name;

/// Changes closer together than this go into one notification.
pub const COALESCE: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerChange {
    EndpointChanged {
        peer: String,
        from: Option<String>,
        to: String,
    },
    BecameDirect {
        peer: String,
    },
    StoppedBeingDirect {
        peer: String,
        reason: String,
    },
    /// An endpoint was tried and no handshake followed.
    CouldNotGoDirect {
        peer: String,
        reason: String,
    },
    /// No direct path: the peer's traffic goes through the registry now.
    Relayed {
        peer: String,
        reason: String,
    },
}

impl PeerChange {
    /// The change an event tells, if it is one worth a notification.
    pub fn of(event: &ServiceEvent) -> Option<Self> {
        match event {
            ServiceEvent::EndpointChanged {
                peer,
                name,
                old,
                new,
                ..
            } => Some(PeerChange::EndpointChanged {
                peer: display_name(name.as_deref(), peer),
                from: old.map(|o| o.to_string()),
                to: new.to_string(),
            }),
            ServiceEvent::PeerHealthChanged {
                peer,
                name,
                from,
                to,
                text,
                ..
            } => {
                let peer = display_name(name.as_deref(), peer);
                let reason = text.clone();
                match (from, to) {
                    (f, HealthState::Direct) if *f != HealthState::Direct => {
                        Some(PeerChange::BecameDirect { peer })
                    }
                    (HealthState::Direct, _) => {
                        Some(PeerChange::StoppedBeingDirect { peer, reason })
                    }
                    (HealthState::Pending, HealthState::NotDirect) => {
                        Some(PeerChange::CouldNotGoDirect { peer, reason })
                    }
                    _ => None,
                }
            }
            // Told like a peer's endpoint change: the registry is a peer whose address moved.
            ServiceEvent::RegistryMoved(moved) => Some(PeerChange::EndpointChanged {
                peer: display_name(moved.name.as_deref(), &moved.peer),
                from: moved.old.map(|o| o.to_string()),
                to: moved.new.to_string(),
            }),
            ServiceEvent::RelayStarted(relay) => Some(PeerChange::Relayed {
                peer: display_name(relay.name.as_deref(), &relay.peer),
                reason: relay.because.clone(),
            }),
            // The health event that comes with it already says the peer is direct.
            ServiceEvent::RelayEnded(_)
            | ServiceEvent::RegistryNameUnresolved(_)
            | ServiceEvent::Other => None,
        }
    }

    pub fn line(&self) -> String {
        match self {
            PeerChange::EndpointChanged {
                peer,
                from: Some(from),
                to,
            } => format!("{peer}: endpoint {from} → {to}"),
            PeerChange::EndpointChanged {
                peer,
                from: None,
                to,
            } => format!("{peer}: endpoint set to {to}"),
            PeerChange::BecameDirect { peer } => format!("{peer} is direct"),
            PeerChange::StoppedBeingDirect { peer, reason } => {
                format!("{peer} is no longer direct: {reason}")
            }
            PeerChange::CouldNotGoDirect { peer, reason } => {
                format!("{peer} is not direct: {reason}")
            }
            PeerChange::Relayed { peer, reason } => {
                format!("{peer} is relayed via the registry: {reason}")
            }
        }
    }
}

/// One notification for a burst: (summary, body).
pub fn summarize(changes: &[PeerChange]) -> Option<(String, String)> {
    let title = match changes {
        [] => return None,
        [PeerChange::BecameDirect { peer }] => format!("{peer} is direct"),
        [PeerChange::StoppedBeingDirect { peer, .. }] => format!("{peer} is no longer direct"),
        [PeerChange::CouldNotGoDirect { peer, .. }] => format!("{peer} is not direct"),
        [PeerChange::Relayed { peer, .. }] => format!("{peer} is relayed via the registry"),
        [PeerChange::EndpointChanged { peer, .. }] => format!("{peer}'s endpoint changed"),
        many => format!("Punchwire: {} changes", many.len()),
    };
    const MAX_LINES: usize = 6;
    let mut body: Vec<String> = changes
        .iter()
        .take(MAX_LINES)
        .map(PeerChange::line)
        .collect();
    if changes.len() > MAX_LINES {
        body.push(format!("…and {} more", changes.len() - MAX_LINES));
    }
    Some((title, body.join("\n")))
}

/// Collects changes and shows one notification per burst, when enabled.
#[derive(Clone)]
pub struct Notifier {
    tx: mpsc::UnboundedSender<PeerChange>,
}

impl Notifier {
    /// `enabled` is asked when a burst is over, so turning notifications off takes effect
    /// at once.
    pub fn spawn(enabled: impl Fn() -> bool + Send + 'static) -> Self {
        let (tx, rx) = mpsc::unbounded_channel::<PeerChange>();
        tauri::async_runtime::spawn(bursts(rx, COALESCE, enabled, show));
        Self { tx }
    }

    /// Takes in one service event; those worth telling join the current burst.
    pub fn event(&self, event: &ServiceEvent) {
        if let Some(change) = PeerChange::of(event) {
            // The receiver lives as long as the runtime; nothing to do if it is gone.
            let _ = self.tx.send(change);
        }
    }
}

/// Until `rx` closes: waits for a change, gathers every change that follows within
/// `window` of the first, and shows the burst as one notification if `enabled` says so.
pub async fn bursts<F: Future<Output = ()>>(
    mut rx: mpsc::UnboundedReceiver<PeerChange>,
    window: Duration,
    enabled: impl Fn() -> bool,
    show: impl Fn(String, String) -> F,
) {
    while let Some(first) = rx.recv().await {
        let mut burst = vec![first];
        let deadline = tokio::time::Instant::now() + window;
        while let Ok(Some(more)) = tokio::time::timeout_at(deadline, rx.recv()).await {
            burst.push(more);
        }
        if !enabled() {
            tracing::info!("notifications are off: {} change(s) not shown", burst.len());
            continue;
        }
        if let Some((title, body)) = summarize(&burst) {
            show(title, body).await;
        }
    }
}

pub async fn show(title: String, body: String) {
    // notify-rust blocks (D-Bus on Linux, WinRT toasts on Windows, the notification
    // center on macOS): keep it off the async workers.
    let shown = tauri::async_runtime::spawn_blocking(move || {
        let mut notification = notify_rust::Notification::new();
        notification
            .appname("Punchwire")
            // Peer names and reasons come from files and registries; some notification
            // servers render the body as markup.
            .summary(&punchwire_control::escape::display_safe(&title))
            .body(&punchwire_control::escape::markup_safe(&body))
            .icon("network-vpn")
            .timeout(notify_rust::Timeout::Milliseconds(6000));
        // Windows shows a toast under the app whose id it names: the installer's Start
        // menu shortcut carries Tauri's identifier.
        #[cfg(windows)]
        notification.app_id("org.punchwire.tray");
        notification.show().map(|_| ())
    })
    .await;
    match shown {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(
            "cannot show a desktop notification (is a notification daemon running?): {e}"
        ),
        Err(e) => tracing::warn!("notification task failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overall::tests::fixture;
    use std::sync::{Arc, Mutex};

    fn fixture_events() -> Vec<ServiceEvent> {
        serde_json::from_value(fixture()["events"].clone()).expect("the fixture's events are typed")
    }

    #[test]
    fn the_service_s_events_become_changes_in_its_words() {
        let changes: Vec<PeerChange> = fixture_events().iter().filter_map(PeerChange::of).collect();
        assert_eq!(
            changes,
            [
                PeerChange::EndpointChanged {
                    peer: "bob".into(),
                    from: Some("203.0.113.9:40000".into()),
                    to: "203.0.113.9:51820".into()
                },
                PeerChange::CouldNotGoDirect {
                    peer: "bob".into(),
                    reason: "no handshake followed endpoint 203.0.113.9:40000 (symmetric NAT on either side?)".into()
                },
                PeerChange::StoppedBeingDirect {
                    peer: "carol".into(),
                    reason: "latest handshake 150 s ago".into()
                },
                PeerChange::BecameDirect {
                    peer: "alice".into()
                },
                PeerChange::EndpointChanged {
                    peer: "registry".into(),
                    from: Some("192.0.2.10:51820".into()),
                    to: "192.0.2.20:51820".into()
                },
                PeerChange::Relayed {
                    peer: "bob".into(),
                    reason: "no handshake followed endpoint 203.0.113.9:40000 (symmetric NAT on either side?)".into()
                },
            ],
            "neither the decision event, a name that could not be resolved, nor a relay's end \
             (its health event tells it) is worth a notification"
        );
    }

    #[test]
    fn a_burst_reads_as_one_notification() {
        assert_eq!(summarize(&[]), None);
        let one = [PeerChange::BecameDirect {
            peer: "alice".into(),
        }];
        assert_eq!(
            summarize(&one).unwrap(),
            ("alice is direct".into(), "alice is direct".into())
        );
        let many: Vec<PeerChange> = (0..8)
            .map(|i| PeerChange::BecameDirect {
                peer: format!("p{i}"),
            })
            .collect();
        let (title, body) = summarize(&many).unwrap();
        assert_eq!(title, "Punchwire: 8 changes");
        assert_eq!(body.lines().count(), 7);
        assert!(body.ends_with("…and 2 more"), "{body}");
    }

    type Shown = Arc<Mutex<Vec<(String, String)>>>;

    /// Runs the burst loop over `batches`: each batch is sent at once, and the next one
    /// only after the previous one's notification was shown (or skipped).
    async fn run(batches: Vec<Vec<PeerChange>>, enabled: bool) -> Vec<(String, String)> {
        let shown: Shown = Arc::default();
        let (tx, rx) = mpsc::unbounded_channel();
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<()>();
        let record = {
            let shown = Arc::clone(&shown);
            move |title: String, body: String| {
                shown.lock().unwrap().push((title, body));
                let _ = done_tx.send(());
                async {}
            }
        };
        let looping = tokio::spawn(bursts(
            rx,
            Duration::from_millis(200),
            move || enabled,
            record,
        ));
        let count = batches.len();
        for (i, batch) in batches.into_iter().enumerate() {
            for change in batch {
                tx.send(change).unwrap();
            }
            if enabled && i + 1 < count {
                tokio::time::timeout(Duration::from_secs(10), done_rx.recv())
                    .await
                    .expect("the burst was shown");
            }
        }
        drop(tx);
        looping.await.unwrap();
        let shown = shown.lock().unwrap().clone();
        shown
    }

    #[tokio::test]
    async fn events_close_together_are_one_notification_and_later_ones_another() {
        let changes: Vec<PeerChange> = fixture_events().iter().filter_map(PeerChange::of).collect();
        let shown = run(vec![changes[..3].to_vec(), changes[3..].to_vec()], true).await;
        assert_eq!(shown.len(), 2, "{shown:?}");
        assert_eq!(shown[0].0, "Punchwire: 3 changes");
        assert_eq!(
            shown[0].1,
            "bob: endpoint 203.0.113.9:40000 → 203.0.113.9:51820\n\
             bob is not direct: no handshake followed endpoint 203.0.113.9:40000 (symmetric NAT on either side?)\n\
             carol is no longer direct: latest handshake 150 s ago"
        );
        assert_eq!(
            shown[1],
            (
                "Punchwire: 3 changes".into(),
                "alice is direct\nregistry: endpoint 192.0.2.10:51820 → 192.0.2.20:51820\n\
                 bob is relayed via the registry: no handshake followed endpoint \
                 203.0.113.9:40000 (symmetric NAT on either side?)"
                    .into()
            )
        );
    }

    #[tokio::test]
    async fn with_notifications_off_nothing_is_shown() {
        let changes: Vec<PeerChange> = fixture_events().iter().filter_map(PeerChange::of).collect();
        assert_eq!(run(vec![changes], false).await, []);
    }
}
