//! `punchwire demo`: the whole product on one Linux machine. A registry with a public
//! address and two peers behind two NATs, all in network namespaces with userspace
//! WireGuard; the real `punchwire registry` and `punchwire service` do the rest. Every
//! claim the narration makes is checked before it is printed.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use punchwire_lab::{wait_for, Host, Lab, NatBehaviour, ServiceOptions, WgImpl, ZONE};

use punchwire_control::defaults::DEFAULT_SOCKET;

mod first_run;
use punchwire_control::timing::Timing;

#[derive(clap::Args)]
pub struct Args {
    /// Userspace WireGuard to run in the lab: wireguard-go or boringtun. Default: the
    /// PUNCHWIRE_LAB_WG environment variable, else whichever is installed.
    #[arg(long)]
    wg: Option<String>,

    /// Exit once everything is proven instead of running until Ctrl-C (for CI).
    #[arg(long)]
    exit_when_done: bool,

    /// Where alice's control socket goes (for a tray app to watch). Default: the
    /// service's usual socket, unless a real service is there.
    #[arg(long)]
    socket: Option<PathBuf>,

    /// Start alice's service with nothing configured, as on a first run: it offers her
    /// interface, and the demo goes on once a client (the tray app) enables it.
    #[arg(long)]
    first_run: bool,

    /// Give up if a step takes longer than this.
    #[arg(long, value_name = "DURATION", default_value_t = Timing::from_secs(60))]
    step_timeout: Timing,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    tokio::task::spawn_blocking(move || demo(args))
        .await
        .context("the demo stopped abnormally")?
}

fn say(step: &str) {
    println!("==> {step}");
}

fn fact(line: &str) {
    println!("    {line}");
}

fn choose_wg(wanted: Option<&str>) -> anyhow::Result<WgImpl> {
    let found = |name: &str| which(name).is_some();
    let choice = match wanted {
        Some(name) => name.to_owned(),
        None => match std::env::var(punchwire_lab::WG_IMPL_ENV) {
            Ok(name) if !name.is_empty() => name,
            _ if found("wireguard-go") => "wireguard-go".into(),
            _ if found("boringtun-cli") => "boringtun".into(),
            _ => bail!(
                "no userspace WireGuard found: install wireguard-go (`sudo apt-get install \
                 wireguard-go wireguard-tools`) or boringtun (`cargo install boringtun-cli \
                 --locked`), or run `sudo scripts/install-deps`"
            ),
        },
    };
    match choice.as_str() {
        "wireguard-go" => Ok(WgImpl::WireguardGo),
        "boringtun" => Ok(WgImpl::Boringtun),
        other => bail!("--wg {other:?}: expected wireguard-go or boringtun"),
    }
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin")))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn demo(args: Args) -> anyhow::Result<ExitCode> {
    if !nix::unistd::Uid::effective().is_root() {
        bail!("the demo builds network namespaces and TUN devices: run it as root (sudo punchwire demo)");
    }
    for tool in ["ip", "iptables", "wg", "ping", "dig"] {
        if which(tool).is_none() && !PathBuf::from("/usr/sbin").join(tool).is_file() {
            bail!("`{tool}` is not installed: run `sudo scripts/install-deps` first");
        }
    }
    let wg = choose_wg(args.wg.as_deref())?;
    let bin = std::env::current_exe().context("cannot find the punchwire binary")?;
    let timeout = args.step_timeout.get();

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        ctrlc_handler(move || stop.store(true, Ordering::SeqCst))?;
    }

    say(&format!(
        "Building a simulated internet in network namespaces ({})",
        wg_name(wg)
    ));
    let started = Instant::now();
    let lab = Lab::builder()
        .wg_impl(wg)
        .nat_a(NatBehaviour::EndpointIndependent)
        .nat_b(NatBehaviour::EndpointIndependent)
        .build()
        .context("cannot build the lab")?;
    fact(&format!(
        "registry  {} (public)          tunnel {}",
        Host::Registry.public_ip(),
        Host::Registry.tunnel_ip()
    ));
    fact(&format!(
        "alice     {} behind NAT {}  tunnel {}",
        Host::Alice.lan_ip(),
        lab.nat_public_ip(Host::Alice),
        Host::Alice.tunnel_ip()
    ));
    fact(&format!(
        "bob       {} behind NAT {}  tunnel {}",
        Host::Bob.lan_ip(),
        lab.nat_public_ip(Host::Bob),
        Host::Bob.tunnel_ip()
    ));
    fact(&format!(
        "both NATs firewalled, endpoint-independent mapping; up in {:.1?}",
        started.elapsed()
    ));

    let alice_socket_path = args.socket.clone().unwrap_or_else(|| alice_socket(&lab));
    let outcome = lab.with_diagnostics_on_panic(|lab| {
        narrate(lab, &bin, timeout, &args, &stop, &alice_socket_path)
    });
    let result = match outcome {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("\n{}", lab.diagnostics());
            Err(e)
        }
    };
    say("Tearing the lab down");
    lab.shutdown().context("tearing the lab down")?;
    // The service was killed with the lab: its socket file would look like a crashed
    // service to the next `punchwire status`.
    let _ = std::fs::remove_file(alice_socket_path);
    fact("namespaces, daemons and sockets removed");
    result
}

fn narrate(
    lab: &Lab,
    bin: &std::path::Path,
    timeout: Duration,
    args: &Args,
    stop: &AtomicBool,
    socket: &std::path::Path,
) -> anyhow::Result<()> {
    say("alice and bob open their tunnels to the registry (keepalive every 5 s)");
    lab.wait_registry_handshakes(timeout)?;
    let alice_seen = lab
        .endpoint_of(Host::Registry, Host::Alice)?
        .context("registry has no endpoint for alice")?;
    let bob_seen = lab
        .endpoint_of(Host::Registry, Host::Bob)?
        .context("registry has no endpoint for bob")?;
    fact(&format!(
        "the registry sees alice at {alice_seen} and bob at {bob_seen}: their NAT mappings"
    ));
    if alice_seen.ip() != IpAddr::V4(lab.nat_public_ip(Host::Alice))
        || bob_seen.ip() != IpAddr::V4(lab.nat_public_ip(Host::Bob))
    {
        bail!("the registry sees addresses that are not the NATs' public ones");
    }

    say(&format!(
        "Starting `punchwire registry` on the registry (zone {ZONE}, on its tunnel address only)"
    ));
    let _registry = lab.start_registry(bin, &[])?;
    let listing = lab.dig(
        Host::Alice,
        &[&format!("_wireguard._udp.{ZONE}"), "PTR", "+short"],
    )?;
    let count = listing.lines().filter(|l| !l.trim().is_empty()).count();
    fact(&format!(
        "alice asks over her tunnel: dig @10.99.0.1 _wireguard._udp.{ZONE} PTR -> {count} peers"
    ));
    if count != 2 {
        bail!("expected the registry to list alice and bob, got:\n{listing}");
    }

    say("Starting `punchwire service` on alice and on bob");
    let alice = lab.start_service(
        Host::Alice,
        bin,
        &ServiceOptions {
            socket: Some(socket.to_owned()),
            first_run: args.first_run,
            ..Default::default()
        },
    )?;
    let _bob = lab.start_service(Host::Bob, bin, &ServiceOptions::default())?;
    fact(&format!(
        "alice's control socket: {}",
        alice.socket.display()
    ));
    if args.first_run {
        first_run::wait_until_enabled(lab, &alice.socket, timeout, stop)?;
    }

    say("Discovery: each service asks the registry where the other peer is");
    let (alice_for_bob, took) = wait_for(timeout, "alice learns bob's endpoint", || {
        lab.endpoint_of(Host::Alice, Host::Bob)
    })?;
    fact(&format!(
        "alice set bob's endpoint to {alice_for_bob} ({:.1?})",
        took
    ));
    let (bob_for_alice, _) = wait_for(timeout, "bob learns alice's endpoint", || {
        lab.endpoint_of(Host::Bob, Host::Alice)
    })?;
    fact(&format!("bob set alice's endpoint to {bob_for_alice}"));
    if alice_for_bob != bob_seen || bob_for_alice != alice_seen {
        bail!(
            "the endpoints set ({alice_for_bob}, {bob_for_alice}) are not the NAT mappings the registry saw ({bob_seen}, {alice_seen})"
        );
    }

    say("Hole punching: keepalives from both sides open both NATs");
    let (_, took) = wait_for(
        timeout,
        "alice reaches bob through the direct tunnel",
        || {
            let out = lab.try_exec(Host::Alice, &["ping", "-c", "1", "-W", "1", "10.99.0.3"])?;
            // bob pings too, so that both NATs see outgoing traffic.
            let _ = lab.try_exec(Host::Bob, &["ping", "-c", "1", "-W", "1", "10.99.0.2"]);
            Ok(out.status.success().then_some(()))
        },
    )?;
    fact(&format!(
        "alice pings bob at 10.99.0.3: replies after {:.1?}",
        took
    ));

    say("Proof that traffic bypasses the registry");
    let before = registry_bytes(lab)?;
    let direct_before = lab.counters(Host::Alice, Host::Bob)?;
    let out = lab.try_exec(
        Host::Alice,
        &[
            "ping",
            "-c",
            "20",
            "-i",
            "0.05",
            "-s",
            "1000",
            "-W",
            "1",
            "-q",
            "10.99.0.3",
        ],
    )?;
    let after = registry_bytes(lab)?;
    let direct = lab.counters(Host::Alice, Host::Bob)?.since(direct_before);
    let summary = String::from_utf8_lossy(&out.stdout);
    let received = summary
        .lines()
        .find(|l| l.contains("received"))
        .unwrap_or("")
        .trim()
        .to_owned();
    fact(&format!("20 pings of 1000 bytes: {received}"));
    fact(&format!(
        "alice<->bob tunnel counters moved {} bytes",
        direct.total()
    ));
    fact(&format!(
        "the registry's counters for alice and bob moved {} bytes (keepalives only)",
        after - before
    ));
    fact(&format!(
        "alice's endpoint for bob is {alice_for_bob}: bob's NAT, not the registry ({})",
        lab.registry_endpoint()
    ));
    if !out.status.success() || direct.total() < 20_000 || after - before > 5_000 {
        bail!(
            "the direct path is not proven: {received}; direct {} B, registry {} B",
            direct.total(),
            after - before
        );
    }

    say("Punchwire's own view (`punchwire status`)");
    let status = std::process::Command::new(bin)
        .args(["status", "--socket"])
        .arg(&alice.socket)
        .output()
        .context("running punchwire status")?;
    let text = String::from_utf8_lossy(&status.stdout);
    for line in text.lines() {
        fact(line);
    }
    if !text.contains(": direct;") {
        bail!("punchwire status does not show bob as direct:\n{text}");
    }

    if args.exit_when_done {
        say("Demo complete: every claim above was checked");
        return Ok(());
    }
    say("Live. In another terminal try:");
    let flag = if alice.socket == std::path::Path::new(DEFAULT_SOCKET) {
        String::new()
    } else {
        format!(" --socket {}", alice.socket.display())
    };
    fact(&format!(
        "sudo punchwire status{flag}      # alice's service"
    ));
    fact(&format!(
        "sudo punchwire events{flag}      # follow its events"
    ));
    fact(&format!(
        "sudo ip netns exec {} ping 10.99.0.3",
        lab.namespace(Host::Alice)
    ));
    fact("Press Ctrl-C to stop.");
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

/// Alice's socket goes where `punchwire status` looks by default, unless a real
/// service already lives there.
/// The service's usual socket, or, when a real service holds it, one in the lab's state
/// directory: the service refuses a directory others can write, such as /tmp.
fn alice_socket(lab: &Lab) -> PathBuf {
    let default = PathBuf::from(DEFAULT_SOCKET);
    let taken = std::os::unix::net::UnixStream::connect(&default).is_ok();
    if taken {
        lab.state_dir().join("alice-control.sock")
    } else {
        default
    }
}

fn registry_bytes(lab: &Lab) -> anyhow::Result<u64> {
    Ok(lab.counters(Host::Registry, Host::Alice)?.total()
        + lab.counters(Host::Registry, Host::Bob)?.total())
}

fn wg_name(wg: WgImpl) -> &'static str {
    match wg {
        WgImpl::WireguardGo => "wireguard-go",
        WgImpl::Boringtun => "boringtun",
    }
}

/// Ctrl-C and SIGTERM end the demo's wait; the lab is torn down on the way out.
fn ctrlc_handler(on_stop: impl Fn() + Send + 'static) -> anyhow::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .context("cannot install the Ctrl-C handler")?;
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            on_stop();
        }
    });
    Ok(())
}
