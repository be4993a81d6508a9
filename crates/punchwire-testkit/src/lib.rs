//! What Punchwire's tests share that no product crate should carry. Without features it
//! depends on no Punchwire crate, so that every crate's tests can use it, the WireGuard
//! backends' own included; the feature `wg` adds [`wg`], test keys and peers, for the
//! crates built on punchwire-wg.
//!
//! [`can_run`] is the one gate for tests that need root or a tool: outside CI a missing
//! prerequisite skips the test loudly; on CI (`CI` set to anything but empty, `false` or
//! `0`) it fails, so that a broken runner cannot pass by skipping.

use std::io::Write;

#[cfg(feature = "wg")]
pub mod wg;

/// Whether the test named `test` can run here, `missing` being what it needs and this
/// machine lacks (checked by the caller, root aside: see [`missing_root`]).
pub fn can_run(test: &str, missing: Option<String>) -> bool {
    let Some(what) = missing else {
        return true;
    };
    if on_ci() {
        panic!("{test}: needs {what}, and CI is set: refusing to skip");
    }
    // Straight to the stderr handle: libtest captures `eprintln!` of passing tests,
    // and a skip nobody sees is a test that silently never runs.
    let _ = writeln!(
        std::io::stderr(),
        "\n!!! SKIPPED {test}: needs {what}; set CI=true to make that a failure !!!\n"
    );
    false
}

/// `Some(why root is needed)` when this process is not root.
pub fn missing_root(why: &str) -> Option<String> {
    (!is_root()).then(|| format!("root ({why})"))
}

/// Whether the tests run on CI, where nothing may be skipped.
pub fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Whether this process runs with effective uid 0, read from /proc (no unsafe libc).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_missing_runs() {
        assert!(can_run("t", None));
    }

    #[test]
    fn root_is_read_from_the_process_itself() {
        let uid = std::fs::read_to_string("/proc/self/status").map(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
                .unwrap_or(false)
        });
        if let Ok(root) = uid {
            assert_eq!(is_root(), root);
            assert_eq!(missing_root("x").is_none(), root);
        }
    }
}
