//! Punchwire's tray app: an unprivileged face for the service. It shows what the service
//! reports on its control socket and sends the user's toggles back; it never touches
//! WireGuard itself.

// No console window behind the tray app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;
mod error;
mod link;
mod notify;
mod overall;
mod service;
mod settings;
mod setup;
mod tray;
mod window;

use std::sync::Arc;

use tauri::{Manager, RunEvent};
use tokio::sync::Notify;

use crate::settings::SettingsStore;

/// Started at login by the XDG autostart entry: stay in the tray, open no window.
const HIDDEN_FLAG: &str = "--hidden";

pub struct AppState {
    pub settings: SettingsStore,
    /// Wakes the live link: re-read status now, or reconnect now.
    pub kick: Arc<Notify>,
    pub drawn: tray::Drawn,
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PUNCHWIRE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();

    if let Err(message) = check_display() {
        eprintln!("punchwire-tray: {message}");
        std::process::exit(2);
    }
    let hidden = std::env::args().any(|a| a == HIDDEN_FLAG);

    let app = tauri::Builder::default()
        // First, so that a second launch only shows the first one's window.
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            window::open(app)
        }))
        .plugin(tauri_plugin_clipboard_manager::init())
        .invoke_handler(tauri::generate_handler![
            commands::status,
            commands::pause,
            commands::resume,
            commands::registry_enable,
            commands::registry_disable,
            commands::get_config,
            commands::set_config,
            commands::enable_interface,
            commands::enable_registry,
            commands::recent_events,
            commands::app_settings,
            commands::set_app_settings,
        ])
        .setup(move |app| {
            let config_dir = app.path().app_config_dir()?;
            app.manage(AppState {
                settings: SettingsStore::open(config_dir.join("settings.json")),
                kick: Arc::new(Notify::new()),
                drawn: tray::Drawn::default(),
            });
            tray::create(app.handle())?;
            let handle = app.handle().clone();
            let notifier = notify::Notifier::spawn(move || {
                handle.state::<AppState>().settings.get().notifications
            });
            link::spawn(app.handle().clone(), notifier);
            if !hidden {
                window::open(app.handle());
            }
            Ok(())
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            eprintln!("punchwire-tray: cannot start: {e}");
            std::process::exit(1);
        }
    };
    app.run(|_app, event| {
        // Closing the window leaves the app in the tray; only Quit (an explicit exit
        // code) ends it.
        if let RunEvent::ExitRequested {
            code: None, api, ..
        } = event
        {
            api.prevent_exit();
        }
    });
}

/// GTK panics without a display; say what is missing instead.
#[cfg(target_os = "linux")]
fn check_display() -> Result<(), String> {
    let display = std::env::var_os("DISPLAY").filter(|d| !d.is_empty());
    let wayland = std::env::var_os("WAYLAND_DISPLAY").filter(|d| !d.is_empty());
    if display.is_none() && wayland.is_none() {
        return Err("no graphical session (neither DISPLAY nor WAYLAND_DISPLAY is set): the tray app needs a \
                    desktop. On a headless machine use `punchwire status` instead."
            .into());
    }
    gtk::init().map_err(|e| {
        format!(
            "cannot open the display (DISPLAY={}, WAYLAND_DISPLAY={}): {e}. Is the desktop session running, \
             and may this user use it?",
            display.as_deref().unwrap_or_default().to_string_lossy(),
            wayland.as_deref().unwrap_or_default().to_string_lossy(),
        )
    })
}

#[cfg(not(target_os = "linux"))]
fn check_display() -> Result<(), String> {
    Ok(())
}
