//! One module per subcommand; each parses its own flags and runs.

pub mod client;
pub mod registry;
pub mod show;

/// Logs go to stderr so that stdout stays clean for `--json` and for pipes.
pub fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
