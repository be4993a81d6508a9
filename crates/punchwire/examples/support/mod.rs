//! What the lab benchmarks share: root, finding the binary they measure, and stopping
//! cleanly on Ctrl-C.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{ensure, Context, Result};

/// The `punchwire` binary of the same build: examples live in
/// target/<profile>/examples/, the binary in target/<profile>/.
pub fn punchwire_bin() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("finding this example's path")?;
    let bin = exe
        .parent()
        .and_then(|examples| examples.parent())
        .map(|profile| profile.join("punchwire"))
        .context("this example is not inside target/<profile>/examples/")?;
    ensure!(
        bin.is_file(),
        "{} is missing: run `cargo build --release -p punchwire` first",
        bin.display()
    );
    Ok(bin)
}

/// Ctrl-C and SIGTERM set a flag the wait loops check, so the run ends with an error
/// and the lab is torn down by its Drop instead of left behind.
pub fn stop_flag() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("installing the Ctrl-C handler")?;
    }
    Ok(stop)
}

/// The NAT lab makes namespaces, NAT rules and TUN devices: say so before anything fails
/// halfway.
pub fn require_root() -> Result<()> {
    ensure!(
        nix::unistd::Uid::effective().is_root(),
        "the NAT lab needs root (network namespaces, iptables, TUN): run this with sudo"
    );
    Ok(())
}
