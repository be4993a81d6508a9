//! One module per subcommand; each parses its own flags and runs.

pub mod client;
pub mod control;
#[cfg(all(target_os = "linux", feature = "demo"))]
pub mod demo;
pub mod registry;
pub mod service;
pub mod show;

/// Why `punchwire demo` does not run here, and how to get a build where it does.
#[cfg(not(all(target_os = "linux", feature = "demo")))]
pub fn no_demo() -> anyhow::Error {
    if cfg!(target_os = "linux") {
        anyhow::anyhow!(
            "this build of punchwire has no demo (the NAT lab is left out of the binary that \
             ships); from a clone of the repository run `sudo scripts/demo`, or build it with \
             `cargo build -p punchwire --features demo`"
        )
    } else {
        anyhow::anyhow!(
            "the demo needs Linux (network namespaces): run `sudo scripts/demo` from a clone \
             of the repository on a Linux machine"
        )
    }
}

/// Logs go to stderr so that stdout stays clean for `--json` and for pipes.
pub fn init_logging(filter: &str) {
    init_logging_to(filter, std::io::stderr);
}

/// The Windows service has no console: its log goes to `%ProgramData%\Punchwire\punchwire.log`
/// (appended), or stays on stderr when that file cannot be opened.
#[cfg(windows)]
pub fn init_service_logging(filter: &str) {
    let dir = punchwire_control::defaults::program_data();
    let file = std::fs::create_dir_all(&dir).and_then(|()| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("punchwire.log"))
    });
    match file {
        Ok(file) => init_logging_to(filter, std::sync::Mutex::new(file)),
        Err(_) => init_logging(filter),
    }
}

fn init_logging_to<W>(filter: &str, writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    // netlink-packet-route warns about every attribute a newer kernel adds; that is
    // noise to a user reading `punchwire show`, not news.
    // hickory logs every query it serves at info: a registry's log would be all queries.
    let quiet = "netlink_packet_route=error,netlink_packet_core=error,hickory_server=warn";
    let filter = tracing_subscriber::EnvFilter::try_new(format!("{quiet},{filter}"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{quiet},info")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .init();
}
