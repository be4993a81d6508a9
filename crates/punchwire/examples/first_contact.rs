//! First-contact benchmark: from both services starting, with no endpoint for each
//! other, to alice's first ping answered by bob over the direct tunnel.
//!
//! ```text
//! cargo build --release -p punchwire --bins --examples
//! sudo target/release/examples/first_contact [--runs 20]
//! ```
//!
//! Runs in the NAT lab (root; `PUNCHWIRE_LAB_WG=boringtun` for boringtun) with the real
//! `punchwire registry` and `punchwire service` binaries, found next to this example,
//! and the service's defaults: nothing is tuned. Each run builds a fresh lab, so both
//! WireGuard devices start with only the registry's endpoint, as on a laptop just
//! opened; the registry already has both NAT mappings. Then:
//! - t0: alice starts pinging bob (a packet every 50 ms, as waiting traffic would), and
//!   alice's service starts, then bob's (each counted once its control socket is up);
//! - the first answer, less t0, is the sample.
//!
//! Before first contact was fixed, every sample was 5 s on wireguard-go: a peer that had
//! tried a handshake without an endpoint waited REKEY_TIMEOUT (5 s) before its next.
//! Issue target: p50 ≤ 1 s, p99 ≤ 2 s on both implementations.

#[cfg(target_os = "linux")]
fn main() -> anyhow::Result<()> {
    bench::main()
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("first_contact: the NAT lab is Linux only");
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
    use punchwire_lab::{Host, Lab, ServiceOptions, WgImpl};

    const DEFAULT_RUNS: usize = 20;
    const SETUP_TIMEOUT: Duration = Duration::from_secs(60);
    /// A run without an answer by then is a failure, not a slow sample.
    const RUN_TIMEOUT: Duration = Duration::from_secs(60);
    const TARGET_P50: Duration = Duration::from_secs(1);
    const TARGET_P99: Duration = Duration::from_secs(2);

    struct Sample {
        /// Both services up (control sockets answering), from t0.
        services_up: Duration,
        first_ping: Duration,
    }

    pub fn main() -> Result<()> {
        require_root()?;
        let runs = runs_from_args("first_contact", DEFAULT_RUNS)?;
        let bin = punchwire_bin()?;
        let stop = stop_flag()?;
        let mut samples = Vec::with_capacity(runs);
        let mut wg = None;
        for run in 1..=runs {
            let (sample, used) =
                measure_run(&bin, &stop).with_context(|| format!("run {run} of {runs}"))?;
            wg = Some(used);
            print_run(run, &sample);
            samples.push(sample);
        }
        print_summary(wg.context("no run")?, &samples);
        Ok(())
    }

    /// One fresh lab, timed from its services starting to the first answered ping.
    fn measure_run(bin: &std::path::Path, stop: &AtomicBool) -> Result<(Sample, WgImpl)> {
        let lab = Lab::builder().build().context("building the NAT lab")?;
        let wg = lab.wg_impl();
        let result = lab.with_diagnostics_on_panic(|lab| -> Result<Sample> {
            lab.wait_registry_handshakes(SETUP_TIMEOUT)
                .context("alice and bob reaching the registry")?;
            let _registry = lab
                .start_registry(bin, &[])
                .context("starting punchwire registry")?;
            let mut services = Vec::new();
            for (host, peer) in [(Host::Alice, Host::Bob), (Host::Bob, Host::Alice)] {
                let endpoint = lab.endpoint_of(host, peer)?;
                ensure!(
                    endpoint.is_none(),
                    "{host} starts with an endpoint for {peer} ({endpoint:?}): nothing to measure"
                );
            }
            // alice's traffic is waiting from t0, as a just-opened laptop's apps are:
            // one ping process sends every 50 ms and exits at the first answer.
            let target = Host::Bob.tunnel_ip().to_string();
            let deadline = RUN_TIMEOUT.as_secs().to_string();
            let ping = [
                "ping", "-n", "-q", "-c", "1", "-i", "0.05", "-w", &deadline, &target,
            ];
            std::thread::scope(|scope| {
                let t0 = Instant::now();
                let pinger = scope.spawn(move || {
                    let answered = lab
                        .try_exec(Host::Alice, &ping)
                        .is_ok_and(|o| o.status.success());
                    (answered, t0.elapsed())
                });
                for host in [Host::Alice, Host::Bob] {
                    // Held until the run ends: dropping one stops that service.
                    let service = lab
                        .start_service(host, bin, &ServiceOptions::default())
                        .with_context(|| format!("starting {host}'s punchwire service"))?;
                    services.push(service);
                }
                let services_up = t0.elapsed();
                let (answered, first_ping) = pinger.join().expect("the pinger thread panicked");
                if stop.load(Ordering::SeqCst) {
                    bail!("interrupted while alice pinged bob");
                }
                ensure!(
                    answered,
                    "no ping from alice to bob was answered within {RUN_TIMEOUT:?}"
                );
                Ok(Sample {
                    services_up,
                    first_ping,
                })
            })
        });
        let sample = match result {
            Ok(sample) => sample,
            Err(e) => {
                eprintln!("{}", lab.diagnostics());
                return Err(e);
            }
        };
        // Dropping the lab tears it down; shutdown reports what could not be removed.
        lab.shutdown().context("tearing down the lab")?;
        Ok((sample, wg))
    }

    fn print_run(run: usize, sample: &Sample) {
        if run == 1 {
            println!("run  both services up  first ping answered");
        }
        println!(
            "{run:>3}  {:>16}  {:>19}",
            ms(sample.services_up),
            ms(sample.first_ping)
        );
    }

    fn print_summary(wg: WgImpl, samples: &[Sample]) {
        let pings: Vec<Duration> = samples.iter().map(|s| s.first_ping).collect();
        let (p50, p99) = (percentile(&pings, 50), percentile(&pings, 99));
        let max = pings.iter().copied().max().unwrap_or_default();
        let verdict = if p50 <= TARGET_P50 && p99 <= TARGET_P99 {
            "met"
        } else {
            "MISSED"
        };
        println!();
        println!(
            "first contact over {} runs, WireGuard: {wg}, the service's defaults",
            samples.len()
        );
        println!(
            "from services starting to the first answered ping: p50 {} p99 {} max {}   \
             target p50 ≤ {} p99 ≤ {}: {verdict}",
            ms(p50),
            ms(p99),
            ms(max),
            ms(TARGET_P50),
            ms(TARGET_P99)
        );
    }
}
