//! The tray icon and its menu, redrawn from a [`TrayView`] whenever what it shows changes.

use std::sync::Mutex;

use punchwire_control::protocol::Command;
use tauri::image::Image;
use tauri::menu::{Menu, MenuBuilder, MenuItemBuilder, SubmenuBuilder};
use tauri::tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager};
use tauri_plugin_clipboard_manager::ClipboardExt;

use crate::overall::{TrayState, TrayView};
use crate::{service, setup, window, AppState};

const TRAY_ID: &str = "punchwire";
const COPY_PREFIX: &str = "copy:";
const ENABLE_PREFIX: &str = "enable:";

/// The coloured icons; on macOS black templates the menu bar recolours (a coloured
/// icon there looks out of place and is unreadable on some backgrounds).
#[cfg(not(target_os = "macos"))]
fn icon(state: TrayState) -> Image<'static> {
    let bytes: &'static [u8] = match state {
        TrayState::AllDirect => include_bytes!("../../icons/tray-direct.png"),
        TrayState::SomeNotDirect => include_bytes!("../../icons/tray-some-not-direct.png"),
        TrayState::Paused => include_bytes!("../../icons/tray-paused.png"),
        TrayState::Unreachable => include_bytes!("../../icons/tray-unreachable.png"),
    };
    Image::from_bytes(bytes).expect("the tray icons are PNGs checked in with the source")
}

#[cfg(target_os = "macos")]
fn icon(state: TrayState) -> Image<'static> {
    let bytes: &'static [u8] = match state {
        TrayState::AllDirect => include_bytes!("../../icons/tray-direct-template.png"),
        TrayState::SomeNotDirect => {
            include_bytes!("../../icons/tray-some-not-direct-template.png")
        }
        TrayState::Paused => include_bytes!("../../icons/tray-paused-template.png"),
        TrayState::Unreachable => include_bytes!("../../icons/tray-unreachable-template.png"),
    };
    Image::from_bytes(bytes).expect("the tray icons are PNGs checked in with the source")
}

/// The last view drawn, so an unchanged status does not rebuild the menu.
#[derive(Default)]
pub struct Drawn(Mutex<Option<TrayView>>);

pub fn create(app: &AppHandle) -> tauri::Result<()> {
    let view = TrayView::unreachable("connecting to the service…");
    TrayIconBuilder::with_id(TRAY_ID)
        .icon(icon(view.state))
        .icon_as_template(cfg!(target_os = "macos"))
        .tooltip(&view.summary)
        .menu(&menu(app, &view)?)
        // Linux (AppIndicator) reports no clicks, only opens the menu, whose first item
        // opens the window; elsewhere a left click opens the window directly.
        .show_menu_on_left_click(cfg!(target_os = "linux"))
        .on_menu_event(|app, event| on_menu(app, event.id().as_ref()))
        .on_tray_icon_event(|tray, event| {
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                window::open(tray.app_handle());
            }
        })
        .build(app)?;
    *app.state::<AppState>()
        .drawn
        .0
        .lock()
        .expect("not poisoned") = Some(view);
    Ok(())
}

/// Redraws the tray when `view` differs from what it shows.
pub fn show(app: &AppHandle, view: TrayView) {
    let state = app.state::<AppState>();
    let mut drawn = state.drawn.0.lock().expect("not poisoned");
    if drawn.as_ref() == Some(&view) {
        return;
    }
    let Some(tray) = app.tray_by_id(TRAY_ID) else {
        return;
    };
    let redraw = || -> tauri::Result<()> {
        if drawn.as_ref().map(|d| d.state) != Some(view.state) {
            tray.set_icon(Some(icon(view.state)))?;
            #[cfg(target_os = "macos")]
            tray.set_icon_as_template(true)?;
        }
        tray.set_tooltip(Some(&view.summary))?;
        tray.set_menu(Some(menu(app, &view)?))?;
        Ok(())
    };
    match redraw() {
        Ok(()) => *drawn = Some(view),
        Err(e) => tracing::warn!("cannot update the tray icon: {e}"),
    }
}

fn menu(app: &AppHandle, view: &TrayView) -> tauri::Result<Menu<tauri::Wry>> {
    let reachable = view.state != TrayState::Unreachable;
    let summary = MenuItemBuilder::with_id("summary", &view.summary)
        .enabled(false)
        .build(app)?;
    let toggle = if view.running {
        MenuItemBuilder::with_id("pause", "Pause discovery")
    } else {
        MenuItemBuilder::with_id("resume", "Resume discovery")
    }
    .enabled(reachable)
    .build(app)?;
    let mut builder = MenuBuilder::new(app)
        .item(&summary)
        .separator()
        .text("open", "Open Punchwire")
        .item(&toggle);
    if !view.setup.is_empty() {
        builder = builder.separator();
    }
    for line in &view.setup {
        let item = match &line.enables {
            Some(name) => MenuItemBuilder::with_id(format!("{ENABLE_PREFIX}{name}"), &line.label),
            None => MenuItemBuilder::new(&line.label).enabled(false),
        };
        builder = builder.item(&item.build(app)?);
    }
    if !view.peers.is_empty() {
        builder = builder.separator();
    }
    for peer in &view.peers {
        let mut sub = SubmenuBuilder::new(app, &peer.label);
        for ip in &peer.tunnel_ips {
            sub = sub.text(format!("{COPY_PREFIX}{ip}"), format!("Copy tunnel IP {ip}"));
        }
        if peer.tunnel_ips.is_empty() {
            sub = sub.item(
                &MenuItemBuilder::new("no tunnel IP")
                    .enabled(false)
                    .build(app)?,
            );
        }
        builder = builder.item(&sub.build()?);
    }
    builder.separator().text("quit", "Quit Punchwire").build()
}

fn on_menu(app: &AppHandle, id: &str) {
    match id {
        "open" => window::open(app),
        "quit" => app.exit(0),
        "pause" => send(app, Command::Pause { interface: None }),
        "resume" => send(app, Command::Resume { interface: None }),
        _ => {
            if let Some(name) = id.strip_prefix(ENABLE_PREFIX) {
                enable_interface(app, name.to_owned());
            } else if let Some(ip) = id.strip_prefix(COPY_PREFIX) {
                if let Err(e) = app.clipboard().write_text(ip) {
                    tracing::warn!("cannot copy {ip} to the clipboard: {e}");
                }
            }
        }
    }
}

/// Sends a command from the menu; a refusal is worth a notification, since no window
/// may be open to show it.
fn send(app: &AppHandle, command: Command) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        match service::request(command).await {
            Ok(_) => app.state::<AppState>().kick.notify_one(),
            Err(e) => crate::notify::show("Punchwire could not do that".into(), e.message).await,
        }
    });
}

/// Configures an interface from the menu. Success shows in the menu itself (the item
/// goes, the peers come); a refusal is a notification, since no window may be open.
fn enable_interface(app: &AppHandle, name: String) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        match setup::enable_interface(&mut setup::ServiceConfig, &name).await {
            Ok(_) => app.state::<AppState>().kick.notify_one(),
            Err(e) => {
                tracing::warn!("cannot set up {name}: {e}");
                crate::notify::show(format!("Punchwire could not set up {name}"), e.message).await
            }
        }
    });
}
