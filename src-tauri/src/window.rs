//! The main window: created when asked for and destroyed when closed, so that a tray app
//! left running all day holds no web view (and its memory) while nobody looks.

use tauri::{AppHandle, Manager, WebviewWindowBuilder};

pub const MAIN: &str = "main";

/// Shows the window, creating it from tauri.conf.json when it does not exist.
pub fn open(app: &AppHandle) {
    if let Some(window) = app.get_webview_window(MAIN) {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
        return;
    }
    let Some(config) = app.config().app.windows.iter().find(|w| w.label == MAIN) else {
        tracing::error!("tauri.conf.json has no window labelled {MAIN:?}");
        return;
    };
    if let Err(e) = WebviewWindowBuilder::from_config(app, config).and_then(|b| b.build()) {
        tracing::error!("cannot open the Punchwire window: {e}");
    }
}

pub fn is_visible(app: &AppHandle) -> bool {
    app.get_webview_window(MAIN)
        .and_then(|w| w.is_visible().ok())
        .unwrap_or(false)
}
