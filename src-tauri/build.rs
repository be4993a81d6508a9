//! Tauri's build step, plus one guard: the window's UI (frontend/dist) is built by npm, not
//! cargo, so a fresh clone has none. Rather than let `tauri::generate_context!` panic and
//! break `cargo build --workspace`, such a build embeds a one-page UI that says how to build
//! the real one, and cargo prints a warning saying the same.

use std::path::{Path, PathBuf};

const HOW: &str = "run `npm install && npm run build` in frontend/ (or `npm run tauri -- build` \
                   there, which does it), then build again";

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let dist = manifest.join("../frontend/dist");
    // generate_context! embeds the UI only when this crate recompiles: make a new UI do so.
    println!("cargo:rerun-if-changed={}", dist.display());
    println!("cargo:rerun-if-changed=../icons");
    if !dist.join("index.html").is_file() {
        let placeholder = write_placeholder();
        println!(
            "cargo:warning=frontend/dist is missing, so this build's window only says how to build it: {HOW}"
        );
        // Merged into tauri.conf.json by tauri-build and by generate_context! alike.
        let config = serde_json_string(&placeholder);
        std::env::set_var("TAURI_CONFIG", &config);
        println!("cargo:rustc-env=TAURI_CONFIG={config}");
    }
    tauri_build::build()
}

fn write_placeholder() -> PathBuf {
    let dir =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo")).join("frontend-missing");
    std::fs::create_dir_all(&dir).expect("OUT_DIR is writable");
    let page = format!(
        "<!doctype html><meta charset=utf-8><title>Punchwire</title>\
         <body style=\"font:15px system-ui,sans-serif;padding:40px;max-width:640px\">\
         <h1>This build has no user interface</h1>\
         <p>The Punchwire tray app was compiled before its frontend was built. To fix it, {}.</p>\
         <p>The tray icon and its menu work without it.</p></body>",
        code_spans(HOW)
    );
    std::fs::write(dir.join("index.html"), page).expect("OUT_DIR is writable");
    dir
}

/// Backticked parts as <code>, the way the window shows commands.
fn code_spans(text: &str) -> String {
    text.split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("<code>{part}</code>")
            } else {
                part.to_owned()
            }
        })
        .collect()
}

/// `{"build":{"frontendDist":"<dir>"}}`, by hand: build scripts should stay light.
fn serde_json_string(dir: &Path) -> String {
    let escaped = dir
        .display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    format!("{{\"build\":{{\"frontendDist\":\"{escaped}\"}}}}")
}
