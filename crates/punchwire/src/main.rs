//! `punchwire`: direct WireGuard tunnels between peers behind NAT.

mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use punchwire_control::error_line::one_line;

#[derive(Parser)]
#[command(
    name = "punchwire",
    version,
    about = "Direct WireGuard tunnels between peers behind NAT",
    long_about = "Direct WireGuard tunnels between peers behind NAT.\n\n\
        A registry peer with a public address publishes every peer's NAT-mapped endpoint as \
        DNS-SD records (the wgsd layout); each peer resolves the others over its tunnel and \
        sets their endpoints, and keepalives punch the hole."
)]
struct Cli {
    /// Log filter, e.g. `info`, `debug`, `punchwire_registry=trace`.
    #[arg(long, global = true, env = "PUNCHWIRE_LOG", default_value = "info")]
    log: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show WireGuard interfaces and their peers, like `wg show`.
    Show(cmd::show::Args),
    /// Serve this device's peers as DNS-SD records (the registry peer).
    Registry(cmd::registry::Args),
    /// Keep every peer's endpoint current from one or more registries.
    Client(cmd::client::Args),
    /// Run the service: discovery on every configured interface, and the registry
    /// where configured. Needs root or CAP_NET_ADMIN (Windows: Administrator or SYSTEM).
    Service(cmd::service::Args),
    /// The whole product on this Linux machine: a registry and two peers behind two
    /// NATs in network namespaces, their direct tunnel coming up. Needs root.
    #[cfg(all(target_os = "linux", feature = "demo"))]
    Demo(cmd::demo::Args),
    /// Kept out of `--help`: typed by someone following the README on a build without
    /// the demo, it says how to get one instead of clap's "unrecognized subcommand".
    #[cfg(not(all(target_os = "linux", feature = "demo")))]
    #[command(hide = true, disable_help_flag = true)]
    Demo {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        args: Vec<String>,
    },
    /// What the running service sees: interfaces, peers, registries.
    Status(cmd::control::StatusArgs),
    /// Follow the service's events (endpoint changes, peers going direct, ...).
    Events(cmd::control::EventsArgs),
    /// Stop changing endpoints until `punchwire resume`.
    Pause(cmd::control::ToggleArgs),
    /// Start changing endpoints again.
    Resume(cmd::control::ToggleArgs),
    /// Make the service re-read its configuration file.
    Reload(cmd::control::ReloadArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The Service Control Manager takes the main thread before any runtime exists.
    #[cfg(windows)]
    let command = match cli.command {
        Command::Service(args) if args.windows_service => {
            cmd::init_service_logging(&cli.log);
            return finish(cmd::service::run_windows_service(args));
        }
        other => {
            cmd::init_logging(&cli.log);
            other
        }
    };
    #[cfg(not(windows))]
    cmd::init_logging(&cli.log);
    #[cfg(not(windows))]
    let command = cli.command;
    finish(run(command))
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async {
        match command {
            Command::Show(args) => cmd::show::run(args).await,
            Command::Registry(args) => cmd::registry::run(args).await,
            Command::Client(args) => cmd::client::run(args).await,
            Command::Service(args) => cmd::service::run(args).await,
            #[cfg(all(target_os = "linux", feature = "demo"))]
            Command::Demo(args) => cmd::demo::run(args).await,
            #[cfg(not(all(target_os = "linux", feature = "demo")))]
            Command::Demo { .. } => Err(cmd::no_demo()),
            Command::Status(args) => cmd::control::status(args).await,
            Command::Events(args) => cmd::control::events(args).await,
            Command::Pause(args) => cmd::control::pause(args, true).await,
            Command::Resume(args) => cmd::control::pause(args, false).await,
            Command::Reload(args) => cmd::control::reload(args).await,
        }
    })
}

fn finish(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            // Errors quote the service, daemons and registries.
            eprintln!(
                "punchwire: {}",
                punchwire_control::escape::display_safe(&one_line(e.as_ref()))
            );
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_says_each_cause_once() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let refused_text = refused.to_string();
        let backend = punchwire_wg::BackendError::NotAnswering {
            iface: "wg0".into(),
            socket: "/var/run/wireguard/wg0.sock".into(),
            what: "cannot connect".into(),
            source: Some(refused),
        };
        let error = anyhow::Error::new(backend).context("reading wg0");
        let line = one_line(error.as_ref());
        assert!(
            line.starts_with("reading wg0: the WireGuard daemon"),
            "{line}"
        );
        assert!(
            line.ends_with(&format!("(cannot connect: {refused_text})")),
            "{line}"
        );
        assert_eq!(line.matches(&refused_text).count(), 1, "{line}");

        let plain = anyhow::anyhow!("cause").context("outer");
        assert_eq!(one_line(plain.as_ref()), "outer: cause");
    }

    #[cfg(all(target_os = "linux", not(feature = "demo")))]
    #[test]
    fn a_build_without_the_demo_says_how_to_get_one() {
        use clap::CommandFactory;

        let help = Cli::command().render_long_help().to_string();
        assert!(!help.contains("demo"), "{help}");
        // The demo's own flags too: the user gets the pointer, not a flag error.
        let cli =
            Cli::try_parse_from(["punchwire", "demo", "--exit-when-done", "--wg", "boringtun"])
                .unwrap_or_else(|e| panic!("{e}"));
        let error = run(cli.command).expect_err("there is no demo to run");
        let line = one_line(error.as_ref());
        assert!(
            line.contains("this build of punchwire has no demo"),
            "{line}"
        );
        assert!(line.contains("sudo scripts/demo"), "{line}");
        assert!(
            line.contains("cargo build -p punchwire --features demo"),
            "{line}"
        );
    }
}
