//! Desktop notifications for what a user cares about: a peer's endpoint changed, a peer
//! became direct, a peer stopped being direct. Changes are found by comparing two status
//! documents (pure, tested), and a burst of them becomes one notification.

use std::collections::HashMap;
use std::time::Duration;

use punchwire_control::status::{HealthState, PeerStatus, ServiceStatus};
use tokio::sync::mpsc;

use crate::overall::peer_name;

/// Changes closer together than this go into one notification.
pub const COALESCE: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
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
        reason: Option<String>,
    },
}

impl Change {
    pub fn line(&self) -> String {
        match self {
            Change::EndpointChanged {
                peer,
                from: Some(from),
                to,
            } => format!("{peer}: endpoint {from} → {to}"),
            Change::EndpointChanged {
                peer,
                from: None,
                to,
            } => format!("{peer}: endpoint set to {to}"),
            Change::BecameDirect { peer } => format!("{peer} is direct"),
            Change::StoppedBeingDirect {
                peer,
                reason: Some(reason),
            } => format!("{peer} is no longer direct: {reason}"),
            Change::StoppedBeingDirect { peer, reason: None } => {
                format!("{peer} is no longer direct")
            }
        }
    }
}

/// What changed from `before` to `after`, peer by peer (matched by key).
pub fn changes(before: &ServiceStatus, after: &ServiceStatus) -> Vec<Change> {
    let old: HashMap<_, &PeerStatus> = before
        .interfaces
        .iter()
        .flat_map(|i| {
            i.peers
                .iter()
                .map(move |p| ((i.name.as_str(), p.public_key.as_str()), p))
        })
        .collect();
    let mut out = Vec::new();
    for iface in &after.interfaces {
        for new in &iface.peers {
            let Some(old) = old.get(&(iface.name.as_str(), new.public_key.as_str())) else {
                continue;
            };
            if new.health.state == HealthState::Registry {
                continue;
            }
            let peer = peer_name(new);
            if let Some(to) = new.endpoint.filter(|to| Some(*to) != old.endpoint) {
                out.push(Change::EndpointChanged {
                    peer: peer.clone(),
                    from: old.endpoint.map(|e| e.to_string()),
                    to: to.to_string(),
                });
            }
            let was = old.health.state == HealthState::Direct;
            let is = new.health.state == HealthState::Direct;
            if is && !was {
                out.push(Change::BecameDirect { peer });
            } else if was && !is {
                out.push(Change::StoppedBeingDirect {
                    peer,
                    reason: new.health.reason.clone(),
                });
            }
        }
    }
    out
}

/// One notification for a burst: (summary, body).
pub fn summarize(changes: &[Change]) -> Option<(String, String)> {
    let title = match changes {
        [] => return None,
        [Change::BecameDirect { peer }] => format!("{peer} is direct"),
        [Change::StoppedBeingDirect { peer, .. }] => format!("{peer} is no longer direct"),
        [Change::EndpointChanged { peer, .. }] => format!("{peer}'s endpoint changed"),
        many => format!("Punchwire: {} changes", many.len()),
    };
    const MAX_LINES: usize = 6;
    let mut body: Vec<String> = changes.iter().take(MAX_LINES).map(Change::line).collect();
    if changes.len() > MAX_LINES {
        body.push(format!("…and {} more", changes.len() - MAX_LINES));
    }
    Some((title, body.join("\n")))
}

/// Collects changes and shows one notification per burst, when enabled.
#[derive(Clone)]
pub struct Notifier {
    tx: mpsc::UnboundedSender<Vec<Change>>,
}

impl Notifier {
    /// `enabled` is asked when a burst is over, so turning notifications off takes effect
    /// at once.
    pub fn spawn(enabled: impl Fn() -> bool + Send + 'static) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<Change>>();
        tauri::async_runtime::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut burst = first;
                let deadline = tokio::time::Instant::now() + COALESCE;
                while let Ok(Some(more)) = tokio::time::timeout_at(deadline, rx.recv()).await {
                    burst.extend(more);
                }
                if !enabled() {
                    tracing::info!("notifications are off: {} change(s) not shown", burst.len());
                    continue;
                }
                if let Some((title, body)) = summarize(&burst) {
                    show(title, body).await;
                }
            }
        });
        Self { tx }
    }

    pub fn push(&self, changes: Vec<Change>) {
        if !changes.is_empty() {
            // The receiver lives as long as the runtime; nothing to do if it is gone.
            let _ = self.tx.send(changes);
        }
    }
}

pub async fn show(title: String, body: String) {
    // notify-rust talks D-Bus synchronously: keep it off the async workers.
    let shown = tauri::async_runtime::spawn_blocking(move || {
        notify_rust::Notification::new()
            .appname("Punchwire")
            // Peer names and reasons come from files and registries; some notification
            // servers render the body as markup.
            .summary(&punchwire_control::escape::display_safe(&title))
            .body(&punchwire_control::escape::markup_safe(&body))
            .icon("network-vpn")
            .timeout(notify_rust::Timeout::Milliseconds(6000))
            .show()
            .map(|_| ())
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
    use crate::overall::tests::{peer, status};
    use serde_json::json;

    #[test]
    fn endpoint_and_direct_changes_are_found_per_peer() {
        let before = status(
            json!([
                peer("alice", 2, "pending", "198.51.100.7:4000"),
                peer("bob", 3, "direct", "203.0.113.9:1")
            ]),
            false,
        );
        let mut bob = peer("bob", 3, "not-direct", "203.0.113.9:1");
        bob["health"]["reason"] = json!("symmetric NAT");
        let after = status(
            json!([peer("alice", 2, "direct", "198.51.100.7:5000"), bob]),
            false,
        );
        assert_eq!(
            changes(&before, &after),
            [
                Change::EndpointChanged {
                    peer: "alice".into(),
                    from: Some("198.51.100.7:4000".into()),
                    to: "198.51.100.7:5000".into()
                },
                Change::BecameDirect {
                    peer: "alice".into()
                },
                Change::StoppedBeingDirect {
                    peer: "bob".into(),
                    reason: Some("symmetric NAT".into())
                },
            ]
        );
        assert_eq!(changes(&after, &after), []);
    }

    #[test]
    fn a_burst_reads_as_one_notification() {
        assert_eq!(summarize(&[]), None);
        let one = [Change::BecameDirect {
            peer: "alice".into(),
        }];
        assert_eq!(
            summarize(&one).unwrap(),
            ("alice is direct".into(), "alice is direct".into())
        );
        let many: Vec<Change> = (0..8)
            .map(|i| Change::BecameDirect {
                peer: format!("p{i}"),
            })
            .collect();
        let (title, body) = summarize(&many).unwrap();
        assert_eq!(title, "Punchwire: 8 changes");
        assert_eq!(body.lines().count(), 7);
        assert!(body.ends_with("…and 2 more"), "{body}");
    }
}
