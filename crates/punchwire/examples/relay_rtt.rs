//! Round trips over the tunnel, direct and relayed through the registry, against the
//! RTT of the path the packets take, with a fixed delay on the lab's internet.
//!
//! ```text
//! cargo build --release -p punchwire --bins --examples
//! sudo target/release/examples/relay_rtt [--runs 3]
//! ```
//!
//! Runs in the NAT lab (root; `PUNCHWIRE_LAB_WG=boringtun` for boringtun) with the real
//! `punchwire registry --relay` and `punchwire service` binaries (relay on), found next
//! to this example. Each run measures two cases, each in a fresh lab:
//! - direct: easy NATs; once alice's service says bob is direct and a ping gets
//!   through, alice → bob crosses the internet once each way: path RTT 2 × delay;
//! - relayed: both NATs symmetric, so no direct path can work; once alice's service
//!   says bob is relayed and a ping gets through, alice → registry → bob crosses it
//!   twice each way: path RTT 4 × delay.
//!
//! In each: pings from alice to bob's tunnel address without the delay (what the
//! userspace WireGuards and the relay cost by themselves), then with every packet the
//! internet forwards held for the delay (`Lab::delay_internet`, one way per crossing).
//! Issue target: direct p50 within 10% of the path's RTT.

#[cfg(target_os = "linux")]
fn main() -> anyhow::Result<()> {
    bench::main()
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("relay_rtt: the NAT lab is Linux only");
    std::process::exit(1);
}

#[cfg(target_os = "linux")]
#[path = "support/runs.rs"]
mod runs;
#[cfg(target_os = "linux")]
mod support;

#[cfg(target_os = "linux")]
mod bench {
    use std::path::Path;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    use anyhow::{bail, ensure, Context, Result};
    use punchwire_control::client::ControlClient;
    use punchwire_control::protocol::Command as ControlCommand;
    use punchwire_lab::{Host, Lab, NatBehaviour, ServiceOptions, WgImpl};

    use crate::runs::{ms, percentile, runs_from_args};
    use crate::support::{punchwire_bin, require_root, stop_flag};

    const DEFAULT_RUNS: usize = 3;
    /// Relay begins after 10 s of not direct; the rest is setup on a busy machine.
    const SETUP_TIMEOUT: Duration = Duration::from_secs(90);
    /// Each crossing of the lab's internet, one way.
    const ONE_WAY: Duration = Duration::from_millis(20);
    const PINGS: usize = 50;
    const BASELINE_PINGS: usize = 20;
    /// The issue's target: direct p50 within this fraction of the path's RTT.
    const TOLERANCE: f64 = 0.10;

    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Case {
        Direct,
        Relayed,
    }

    impl Case {
        /// The case's name, which is also the health state alice's service must show
        /// for bob.
        fn name(self) -> &'static str {
            match self {
                Case::Direct => "direct",
                Case::Relayed => "relayed",
            }
        }

        /// How often a packet crosses the internet on its way to bob and back.
        fn crossings(self) -> u32 {
            match self {
                Case::Direct => 2,
                Case::Relayed => 4,
            }
        }

        fn nats(self) -> NatBehaviour {
            match self {
                Case::Direct => NatBehaviour::default(),
                Case::Relayed => NatBehaviour::Symmetric,
            }
        }
    }

    /// One case's round trips, pooled over the runs.
    #[derive(Default)]
    struct Samples {
        baseline: Vec<Duration>,
        delayed: Vec<Duration>,
        sent: usize,
    }

    pub fn main() -> Result<()> {
        require_root()?;
        let runs = runs_from_args("relay_rtt", DEFAULT_RUNS)?;
        let bin = punchwire_bin()?;
        let stop = stop_flag()?;
        let cases = [Case::Direct, Case::Relayed];
        let mut samples: [Samples; 2] = Default::default();
        let mut wg = None;
        println!("run  case     no delay p50  with delay p50  answered");
        for run in 1..=runs {
            for (case, pooled) in cases.iter().zip(&mut samples) {
                let (one, used) = measure(*case, &bin, &stop)
                    .with_context(|| format!("run {run} of {runs}, {}", case.name()))?;
                wg = Some(used);
                println!(
                    "{run:>3}  {:<8} {:>12}  {:>14}  {:>4}/{}",
                    case.name(),
                    rtt(percentile(&one.baseline, 50)),
                    rtt(percentile(&one.delayed, 50)),
                    one.delayed.len(),
                    one.sent
                );
                pooled.baseline.extend(one.baseline);
                pooled.delayed.extend(one.delayed);
                pooled.sent += one.sent;
            }
        }
        print_summary(wg.context("no run")?, &samples);
        Ok(())
    }

    fn measure(case: Case, bin: &Path, stop: &AtomicBool) -> Result<(Samples, WgImpl)> {
        let lab = Lab::builder()
            .nat_a(case.nats())
            .nat_b(case.nats())
            .build()
            .context("building the NAT lab")?;
        let wg = lab.wg_impl();
        let result = lab.with_diagnostics_on_panic(|lab| -> Result<Samples> {
            lab.wait_registry_handshakes(SETUP_TIMEOUT)
                .context("alice and bob reaching the registry")?;
            let _registry = lab
                .start_relaying_registry(bin)
                .context("starting punchwire registry --relay")?;
            let options = ServiceOptions {
                relay: true,
                ..Default::default()
            };
            let services = [Host::Alice, Host::Bob]
                .into_iter()
                .map(|host| {
                    lab.start_service(host, bin, &options)
                        .with_context(|| format!("starting {host}'s punchwire service"))
                })
                .collect::<Result<Vec<_>>>()?;
            wait_ready(lab, case, &services[0].socket, stop)?;
            let baseline = ping(lab, BASELINE_PINGS)?;
            let delay = lab
                .delay_internet(ONE_WAY)
                .context("delaying the internet")?;
            let delayed = ping(lab, PINGS)?;
            delay.finish().context("ending the delay")?;
            // The pings measured the path the case names only if it was still taken.
            let state = bob_state(lab, &services[0].socket)?;
            ensure!(
                state == case.name(),
                "alice's service says bob is {state} after the pings"
            );
            Ok(Samples {
                baseline,
                delayed,
                sent: PINGS,
            })
        });
        let samples = match result {
            Ok(samples) => samples,
            Err(e) => {
                eprintln!("{}", lab.diagnostics());
                return Err(e);
            }
        };
        lab.shutdown().context("tearing down the lab")?;
        Ok((samples, wg))
    }

    /// Until alice's service shows bob in the case's state and alice's ping reaches him
    /// (bob pings too: each side's NAT or relay must see its own side send).
    fn wait_ready(lab: &Lab, case: Case, alice: &Path, stop: &AtomicBool) -> Result<()> {
        let start = Instant::now();
        let target = Host::Bob.tunnel_ip().to_string();
        let back = Host::Alice.tunnel_ip().to_string();
        loop {
            if stop.load(Ordering::SeqCst) {
                bail!("interrupted while waiting for alice to reach bob");
            }
            let state = bob_state(lab, alice).unwrap_or_default();
            let answered = |from: Host, to: &str| -> Result<bool> {
                let args = ["ping", "-n", "-q", "-c", "1", "-W", "1", to];
                Ok(lab.try_exec(from, &args)?.status.success())
            };
            let _ = answered(Host::Bob, &back)?;
            if state == case.name() && answered(Host::Alice, &target)? {
                return Ok(());
            }
            ensure!(
                start.elapsed() < SETUP_TIMEOUT,
                "alice never reached bob {} within {SETUP_TIMEOUT:?} (bob is {state:?})",
                case.name()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Bob's health state in alice's status, as the service's clients see it.
    fn bob_state(lab: &Lab, alice: &Path) -> Result<String> {
        let status = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(async {
                let mut client = ControlClient::connect(alice).await?;
                client.request(ControlCommand::Status).await
            })
            .context("asking alice's service for its status")?;
        // By key: while bob is relayed, the registry peer holds his tunnel address too.
        let bob = lab.host(Host::Bob).public_key.to_base64();
        let peers = status["interfaces"][0]["peers"]
            .as_array()
            .context("no peers in alice's status")?;
        let peer = peers
            .iter()
            .find(|p| p["public_key"] == bob.as_str())
            .context("bob is not in alice's status")?;
        peer["health"]["state"]
            .as_str()
            .map(str::to_owned)
            .context("bob has no health state")
    }

    /// `count` pings from alice to bob's tunnel address, 100 ms apart; the round trip
    /// of each answered one.
    fn ping(lab: &Lab, count: usize) -> Result<Vec<Duration>> {
        let target = Host::Bob.tunnel_ip().to_string();
        let count = count.to_string();
        let args = ["ping", "-n", "-c", &count, "-i", "0.1", "-W", "2", &target];
        let out = lab.try_exec(Host::Alice, &args)?;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| line.split("time=").nth(1))
            .map(|time| {
                let ms: f64 = time
                    .trim_end_matches(" ms")
                    .parse()
                    .with_context(|| format!("ping's time={time}"))?;
                Ok(Duration::from_secs_f64(ms / 1000.0))
            })
            .collect()
    }

    fn rtt(d: Duration) -> String {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    }

    fn print_summary(wg: WgImpl, samples: &[Samples; 2]) {
        println!();
        println!(
            "round trips alice → bob over the tunnel, WireGuard: {wg}, {} one way per \
             crossing of the internet, runs: {}",
            ms(ONE_WAY),
            samples[0].sent / PINGS
        );
        println!(
            "case         path  no delay p50       p50       p90       min       max  p50 over path  answered"
        );
        let mut p50s = [Duration::ZERO; 2];
        for ((case, s), p50) in [Case::Direct, Case::Relayed]
            .into_iter()
            .zip(samples)
            .zip(&mut p50s)
        {
            let path = ONE_WAY * case.crossings();
            *p50 = percentile(&s.delayed, 50);
            let min = s.delayed.iter().copied().min().unwrap_or_default();
            let max = s.delayed.iter().copied().max().unwrap_or_default();
            let over = p50.as_secs_f64() / path.as_secs_f64() - 1.0;
            println!(
                "{:<8} {:>8}  {:>12}  {:>8}  {:>8}  {:>8}  {:>8}  {:>+12.1}%  {}/{}",
                case.name(),
                rtt(path),
                rtt(percentile(&s.baseline, 50)),
                rtt(*p50),
                rtt(percentile(&s.delayed, 90)),
                rtt(min),
                rtt(max),
                over * 100.0,
                s.delayed.len(),
                s.sent
            );
        }
        let path = ONE_WAY * Case::Direct.crossings();
        let off = (p50s[0].as_secs_f64() / path.as_secs_f64() - 1.0).abs();
        let verdict = if off <= TOLERANCE { "met" } else { "MISSED" };
        println!(
            "direct p50 {} against a path RTT of {}: target within {:.0}%: {verdict}",
            rtt(p50s[0]),
            rtt(path),
            TOLERANCE * 100.0
        );
        println!(
            "relayed over direct: p50 +{} (the second crossing of the internet is +{}), ×{:.2}",
            rtt(p50s[1].saturating_sub(p50s[0])),
            rtt(ONE_WAY * 2),
            p50s[1].as_secs_f64() / p50s[0].as_secs_f64()
        );
    }
}
