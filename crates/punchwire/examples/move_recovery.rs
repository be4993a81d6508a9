//! Recovery after a move: alice's NAT gives her a new public port mid-session; the
//! sample is the time from the move to alice's first ping answered by bob over the
//! direct tunnel again.
//!
//! ```text
//! cargo build --release -p punchwire --bins --examples
//! sudo target/release/examples/move_recovery [--runs 20]
//! ```
//!
//! Runs in the NAT lab (root; `PUNCHWIRE_LAB_WG=boringtun` for boringtun) with the real
//! `punchwire registry` and `punchwire service` binaries, found next to this example,
//! and the service's defaults. Each run builds a fresh lab, starts the registry and
//! both services, and waits until alice's ping reaches bob directly. Then:
//! - t0: alice's NAT maps everything to a new public port and forgets its old mappings
//!   (bob's packets to her old mapping are dropped from then on), and alice starts
//!   pinging bob, a packet every 50 ms;
//! - the first answer, less t0, is the sample.
//!
//! alice's own address does not change, so nothing on her machine sees the move: bob
//! has to learn her new mapping from the registry, which learns it from alice's next
//! packet through the tunnel. Issue target: p50 ≤ 3 s.

#[cfg(target_os = "linux")]
fn main() -> anyhow::Result<()> {
    bench::main()
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("move_recovery: the NAT lab is Linux only");
    std::process::exit(1);
}

#[cfg(target_os = "linux")]
#[path = "support/runs.rs"]
mod runs;
#[cfg(target_os = "linux")]
mod support;

#[cfg(target_os = "linux")]
mod bench {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    use anyhow::{bail, ensure, Context, Result};

    use crate::runs::{ms, percentile, runs_from_args};
    use crate::support::{punchwire_bin, require_root, stop_flag};
    use punchwire_lab::{Host, Lab, Nat, ServiceOptions, WgImpl};

    const DEFAULT_RUNS: usize = 20;
    const SETUP_TIMEOUT: Duration = Duration::from_secs(60);
    /// Long enough to see the old behaviour (a dead path kept while its handshake is
    /// fresh, 150 s) end; a run without an answer by then is a failure.
    const RUN_TIMEOUT: Duration = Duration::from_secs(240);
    const TARGET_P50: Duration = Duration::from_secs(3);
    /// The port alice's NAT maps everything to after the move; the lab's mappings keep
    /// the WireGuard port (51820 and up) before it.
    const MOVED_PORT: u16 = 45000;

    pub fn main() -> Result<()> {
        require_root()?;
        let runs = runs_from_args("move_recovery", DEFAULT_RUNS)?;
        let bin = punchwire_bin()?;
        let stop = stop_flag()?;
        let mut samples = Vec::with_capacity(runs);
        let mut wg = None;
        println!("run  direct again after the move");
        for run in 1..=runs {
            let (sample, used) =
                measure_run(&bin, &stop).with_context(|| format!("run {run} of {runs}"))?;
            wg = Some(used);
            println!("{run:>3}  {:>27}", ms(sample));
            samples.push(sample);
        }
        print_summary(wg.context("no run")?, &samples);
        Ok(())
    }

    fn measure_run(bin: &std::path::Path, stop: &AtomicBool) -> Result<(Duration, WgImpl)> {
        let lab = Lab::builder().build().context("building the NAT lab")?;
        let wg = lab.wg_impl();
        let result = lab.with_diagnostics_on_panic(|lab| -> Result<Duration> {
            lab.wait_registry_handshakes(SETUP_TIMEOUT)
                .context("alice and bob reaching the registry")?;
            let _registry = lab
                .start_registry(bin, &[])
                .context("starting punchwire registry")?;
            let _services = [Host::Alice, Host::Bob]
                .into_iter()
                .map(|host| {
                    lab.start_service(host, bin, &ServiceOptions::default())
                        .with_context(|| format!("starting {host}'s punchwire service"))
                })
                .collect::<Result<Vec<_>>>()?;
            ensure!(
                ping(lab, SETUP_TIMEOUT)?,
                "alice never reached bob directly before the move"
            );
            let nat = Host::Alice.nat().context("alice is behind a NAT")?;
            let t0 = Instant::now();
            lab.move_nat_port(nat, MOVED_PORT)
                .context("giving alice's NAT a new public port")?;
            let answered = ping(lab, RUN_TIMEOUT)?;
            let sample = t0.elapsed();
            if stop.load(Ordering::SeqCst) {
                bail!("interrupted while alice pinged bob");
            }
            ensure!(
                answered,
                "no ping from alice to bob was answered within {RUN_TIMEOUT:?} of the move"
            );
            check_moved(lab, nat)?;
            Ok(sample)
        });
        let sample = match result {
            Ok(sample) => sample,
            Err(e) => {
                eprintln!("{}", lab.diagnostics());
                return Err(e);
            }
        };
        lab.shutdown().context("tearing down the lab")?;
        Ok((sample, wg))
    }

    /// Whether one of alice's pings, a packet every 50 ms, is answered by bob within
    /// `deadline`: in rounds of at most 60 s, as the lab bounds every command it runs.
    fn ping(lab: &Lab, deadline: Duration) -> Result<bool> {
        const ROUND: Duration = Duration::from_secs(60);
        let target = Host::Bob.tunnel_ip().to_string();
        let start = Instant::now();
        while let Some(left) = deadline.checked_sub(start.elapsed()) {
            let round = left.min(ROUND).as_secs().max(1).to_string();
            let args = [
                "ping", "-n", "-q", "-c", "1", "-i", "0.05", "-w", &round, &target,
            ];
            if lab.try_exec(Host::Alice, &args)?.status.success() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The sample counts only if bob reaches alice at her new mapping: the move happened.
    fn check_moved(lab: &Lab, nat: Nat) -> Result<()> {
        let endpoint = lab.endpoint_of(Host::Bob, Host::Alice)?;
        let moved = std::net::SocketAddr::from((nat.public_ip(), MOVED_PORT));
        ensure!(
            endpoint == Some(moved),
            "bob's endpoint for alice is {endpoint:?}, not her new mapping {moved}"
        );
        Ok(())
    }

    fn print_summary(wg: WgImpl, samples: &[Duration]) {
        let (p50, p99) = (percentile(samples, 50), percentile(samples, 99));
        let max = samples.iter().copied().max().unwrap_or_default();
        let verdict = if p50 <= TARGET_P50 { "met" } else { "MISSED" };
        println!();
        println!(
            "recovery after a move over {} runs, WireGuard: {wg}, the service's defaults",
            samples.len()
        );
        println!(
            "from alice's NAT moving to the first answered ping: p50 {} p99 {} max {}   \
             target p50 ≤ {}: {verdict}",
            ms(p50),
            ms(p99),
            ms(max),
            ms(TARGET_P50)
        );
    }
}
