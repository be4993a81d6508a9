//! Registry-moves benchmark: a registry whose endpoint is a DNS name gets a new public
//! address and its record is changed; measured from the DNS change to alice and bob both
//! having the registry back (their devices point at the new address, a handshake
//! completed there, and the registry answers their SOA query through the tunnel).
//!
//! ```text
//! cargo build --release -p punchwire --bins --examples
//! sudo target/release/examples/registry_moves [--runs 5]
//! ```
//!
//! Runs in the NAT lab (root; `PUNCHWIRE_LAB_WG=boringtun` for boringtun) with the real
//! `punchwire registry` and `punchwire service` binaries, found next to this example,
//! and the service's defaults. Alice's and bob's wg-quick files name the registry
//! `home.example.net:<port>`, served by a real Knot DNS in the lab's internet (TTL 1 s)
//! that their namespaces' `resolv.conf` points at. Each run builds a fresh lab; once
//! alice and bob are direct, the registry host moves from 192.0.2.10 to 192.0.2.20 and
//! the record follows (t0 is when Knot answers the new address).
//!
//! Before the service re-resolved names, nothing changed the registry peer's endpoint
//! after wg-quick set it. Issue target: ≤ 30 s after the DNS change.

#[cfg(target_os = "linux")]
fn main() -> anyhow::Result<()> {
    bench::main()
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("registry_moves: the NAT lab is Linux only");
    std::process::exit(1);
}

#[cfg(target_os = "linux")]
#[path = "support/runs.rs"]
mod runs;
#[cfg(target_os = "linux")]
mod support;

#[cfg(target_os = "linux")]
mod bench {
    use std::net::Ipv4Addr;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant, SystemTime};

    use anyhow::{bail, Context, Result};

    use crate::runs::{ms, percentile, runs_from_args};
    use crate::support::{punchwire_bin, require_root, stop_flag};
    use punchwire_lab::{name_server_ip, wait_until, Host, Lab, ServiceOptions, WgImpl};

    const DEFAULT_RUNS: usize = 5;
    const SETUP_TIMEOUT: Duration = Duration::from_secs(60);
    /// A run without the registry back by then is a failure, not a slow sample.
    const RUN_TIMEOUT: Duration = Duration::from_secs(180);
    const TARGET: Duration = Duration::from_secs(30);
    const MOVED_TO: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 20);

    struct Sample {
        alice: Duration,
        bob: Duration,
    }

    pub fn main() -> Result<()> {
        require_root()?;
        let runs = runs_from_args("registry_moves", DEFAULT_RUNS)?;
        let bin = punchwire_bin()?;
        let stop = stop_flag()?;
        let mut samples = Vec::with_capacity(runs);
        let mut wg = None;
        for run in 1..=runs {
            let (sample, used) =
                measure_run(&bin, &stop).with_context(|| format!("run {run} of {runs}"))?;
            wg = Some(used);
            if run == 1 {
                println!("run  alice has it back  bob has it back");
            }
            println!("{run:>3}  {:>17}  {:>15}", ms(sample.alice), ms(sample.bob));
            samples.push(sample);
        }
        let both: Vec<Duration> = samples.iter().map(|s| s.alice.max(s.bob)).collect();
        let (p50, max) = (percentile(&both, 50), percentile(&both, 100));
        let verdict = if max <= TARGET { "met" } else { "MISSED" };
        println!();
        println!(
            "registry moves over {} runs, WireGuard: {}, the service's defaults",
            samples.len(),
            wg.context("no run")?
        );
        println!(
            "from the DNS change to both peers having the registry back: p50 {} max {}   \
             target ≤ {}: {verdict}",
            ms(p50),
            ms(max),
            ms(TARGET)
        );
        Ok(())
    }

    fn measure_run(bin: &std::path::Path, stop: &AtomicBool) -> Result<(Sample, WgImpl)> {
        let lab = Lab::builder().build().context("building the NAT lab")?;
        let wg = lab.wg_impl();
        let result = lab.with_diagnostics_on_panic(|lab| -> Result<Sample> {
            let mut dns = lab
                .start_name_server("example.net.", &[("home", Host::Registry.lan_ip())])
                .context("starting the lab's DNS")?;
            for host in [Host::Alice, Host::Bob] {
                lab.use_resolver(host, name_server_ip(host))?;
            }
            lab.wait_registry_handshakes(SETUP_TIMEOUT)
                .context("alice and bob reaching the registry")?;
            let _registry = lab
                .start_registry(bin, &[])
                .context("starting punchwire registry")?;
            let options = ServiceOptions {
                registry_endpoint_name: Some(format!(
                    "{}:{}",
                    dns.fqdn("home"),
                    lab.listen_port(Host::Registry)
                )),
                ..Default::default()
            };
            let _services = [Host::Alice, Host::Bob]
                .into_iter()
                .map(|host| {
                    lab.start_service(host, bin, &options)
                        .with_context(|| format!("starting {host}'s punchwire service"))
                })
                .collect::<Result<Vec<_>>>()?;
            let target = Host::Bob.tunnel_ip().to_string();
            wait_until(SETUP_TIMEOUT, "alice and bob direct", || {
                lab.try_exec(Host::Alice, &["ping", "-c", "1", "-W", "1", &target])
                    .is_ok_and(|o| o.status.success())
            })?;

            lab.move_registry(MOVED_TO)?;
            dns.set(lab, "home", MOVED_TO)?;
            let t0 = Instant::now();
            let since = SystemTime::now();
            let mut back = [None, None];
            while back.iter().any(Option::is_none) {
                if stop.load(Ordering::SeqCst) {
                    bail!("interrupted while waiting for the registry");
                }
                if t0.elapsed() > RUN_TIMEOUT {
                    bail!("the registry was not back within {RUN_TIMEOUT:?}: {back:?}");
                }
                for (i, host) in [Host::Alice, Host::Bob].into_iter().enumerate() {
                    if back[i].is_none() && lab.has_registry_since(host, since).unwrap_or(false) {
                        back[i] = Some(t0.elapsed());
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok(Sample {
                alice: back[0].unwrap_or_default(),
                bob: back[1].unwrap_or_default(),
            })
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
}
