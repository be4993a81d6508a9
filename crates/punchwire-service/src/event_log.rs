//! The service's events: sent to every subscriber as they happen, and the latest
//! [`RECENT_EVENTS`] kept, so that a window opened later shows what happened before it.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use punchwire_control::protocol::RECENT_EVENTS;
use serde_json::Value;
use tokio::sync::broadcast;

/// How many events a slow subscriber may fall behind.
const SUBSCRIBER_BACKLOG: usize = 1024;

pub struct EventLog {
    live: broadcast::Sender<Value>,
    recent: Mutex<VecDeque<Value>>,
}

impl Default for EventLog {
    fn default() -> Self {
        Self {
            live: broadcast::channel(SUBSCRIBER_BACKLOG).0,
            recent: Mutex::new(VecDeque::with_capacity(RECENT_EVENTS)),
        }
    }
}

impl EventLog {
    /// Stamps `event` with the time (`at`, milliseconds since the Unix epoch), keeps it
    /// among the recent ones and sends it to every subscriber.
    pub fn publish(&self, mut event: Value) {
        if let Value::Object(fields) = &mut event {
            fields.insert("at".to_owned(), now_ms().into());
        }
        {
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            if recent.len() == RECENT_EVENTS {
                recent.pop_front();
            }
            recent.push_back(event.clone());
        }
        // No subscriber is not an error: nobody is watching.
        let _ = self.live.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Value> {
        self.live.subscribe()
    }

    /// The kept events, oldest first.
    pub fn recent(&self) -> Vec<Value> {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.iter().cloned().collect()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_latest_events_are_kept_oldest_first_and_stamped() {
        let log = EventLog::default();
        let mut live = log.subscribe();
        for n in 0..RECENT_EVENTS + 5 {
            log.publish(json!({"type": "reloaded", "n": n}));
        }
        let recent = log.recent();
        assert_eq!(recent.len(), RECENT_EVENTS);
        assert_eq!(recent[0]["n"], 5);
        assert_eq!(recent[RECENT_EVENTS - 1]["n"], RECENT_EVENTS + 4);
        assert!(recent[0]["at"].as_u64().unwrap() > 1_600_000_000_000);
        // Subscribers get every event, stamped the same way.
        let first = live.try_recv().unwrap();
        assert_eq!(first["n"], 0);
        assert!(first["at"].is_u64(), "{first}");
    }
}
