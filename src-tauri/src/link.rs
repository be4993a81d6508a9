//! The app's live link to the service: one subscribed connection for events and one for
//! status reads. A burst of events becomes one status read; when the service goes away
//! the window and tray are told and the link retries with backoff. Events also feed the
//! notifications.

use std::time::Duration;

use punchwire_control::client::{ClientError, ControlClient};
use punchwire_control::events::ServiceEvent;
use punchwire_control::protocol::{Command, ErrorCode};
use punchwire_control::status::ServiceStatus;
use serde_json::{json, Value};
use tauri::{AppHandle, Emitter, Manager};
use tokio::time::{sleep, sleep_until, Instant, MissedTickBehavior};

use crate::error::AppError;
use crate::notify::Notifier;
use crate::overall::TrayView;
use crate::{service, tray, window, AppState};

pub const EVENT_STATUS: &str = "punchwire://status";
pub const EVENT_SERVICE: &str = "punchwire://event";
pub const EVENT_CONNECTION: &str = "punchwire://connection";

/// Events this close together are one burst: one status read after it.
const BURST: Duration = Duration::from_millis(250);
/// At most one status read per this long, however busy the event stream.
const MIN_GAP: Duration = Duration::from_secs(1);
/// Handshake ages and byte counters move without events: while the window is open it
/// re-reads this often. With the window closed, only events cause reads.
const VISIBLE_REFRESH: Duration = Duration::from_secs(5);
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(15);

pub fn spawn(app: AppHandle, notifier: Notifier) {
    tauri::async_runtime::spawn(run(app, notifier));
}

async fn run(app: AppHandle, notifier: Notifier) {
    let mut link = Link { app, notifier };
    let mut backoff = BACKOFF_MIN;
    let mut last_error: Option<AppError> = None;
    loop {
        let error = link.session(&mut backoff).await;
        if last_error.as_ref() != Some(&error) {
            tracing::info!("service link down: {error}");
            let _ = link
                .app
                .emit(EVENT_CONNECTION, json!({"state": "down", "error": &error}));
            tray::show(&link.app, TrayView::unreachable(short_reason(&error)));
            last_error = Some(error);
        }
        let kick = link.app.state::<AppState>().kick.clone();
        tokio::select! {
            _ = sleep(backoff) => {}
            // A user action that reached the service means it is back: retry at once.
            _ = kick.notified() => {}
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

fn short_reason(e: &AppError) -> &'static str {
    match e.kind {
        crate::error::ErrorKind::NotRunning => "service not running",
        crate::error::ErrorKind::PermissionDenied => "not in the punchwire group",
        _ => "service unreachable",
    }
}

struct Link {
    app: AppHandle,
    /// Told every event: the service's health changes are its notifications.
    notifier: Notifier,
}

impl Link {
    /// Runs one connected session; returns why it ended.
    async fn session(&mut self, backoff: &mut Duration) -> AppError {
        match self.connected(backoff).await {
            Ok(never) => match never {},
            Err(e) => e,
        }
    }

    async fn connected(
        &mut self,
        backoff: &mut Duration,
    ) -> Result<std::convert::Infallible, AppError> {
        let path = service::socket_path();
        let mut events = ControlClient::connect(&path).await?;
        events.subscribe().await?;
        let mut reader = ControlClient::connect(&path).await?;
        *backoff = BACKOFF_MIN;
        tracing::info!("connected to the service at {}", path.display());
        let _ = self.app.emit(EVENT_CONNECTION, json!({"state": "up"}));
        self.read(&mut reader).await?;
        let mut last_read = Instant::now();

        let kick = self.app.state::<AppState>().kick.clone();
        let mut due: Option<Instant> = None;
        let mut tick = tokio::time::interval(VISIBLE_REFRESH);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let read_now = tokio::select! {
                event = events.next_event() => match event {
                    Ok(event) => {
                        match serde_json::from_value::<ServiceEvent>(event.clone()) {
                            Ok(typed) => self.notifier.event(&typed),
                            Err(e) => tracing::warn!("an event of a known type has an unexpected shape ({e}): {event}"),
                        }
                        let _ = self.app.emit(EVENT_SERVICE, &event);
                        due.get_or_insert_with(|| (Instant::now() + BURST).max(last_read + MIN_GAP));
                        false
                    }
                    // Missed events: what they said is in the status, so read it now
                    // and keep following.
                    Err(ClientError::Refused { code: ErrorCode::Lagged, message, .. }) => {
                        tracing::warn!("missed service events ({message}); re-reading the status");
                        true
                    }
                    Err(e) => return Err(e.into()),
                },
                _ = sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => true,
                _ = tick.tick() => window::is_visible(&self.app),
                _ = kick.notified() => true,
            };
            if read_now {
                due = None;
                self.read(&mut reader).await?;
                last_read = Instant::now();
            }
        }
    }

    async fn read(&mut self, reader: &mut ControlClient) -> Result<(), AppError> {
        let value = reader.request(Command::Status).await?;
        self.publish(value);
        Ok(())
    }

    fn publish(&mut self, value: Value) {
        let _ = self.app.emit(EVENT_STATUS, &value);
        match serde_json::from_value::<ServiceStatus>(value) {
            Ok(status) => tray::show(&self.app, TrayView::of(&status)),
            Err(e) => tracing::warn!("the service's status does not have the expected shape ({e}); the tray shows the last one it understood"),
        }
    }
}
