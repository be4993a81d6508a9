//! The service's soak (a benchmark that prints figures, not a test): peers whose NAT
//! mappings keep changing, for a long while, and whether every change reaches alice's
//! device while the service's memory stays flat.
//!
//! ```text
//! export CARGO_TARGET_DIR=...   # wherever you build
//! cargo build --release -p punchwire --bins --examples
//! sudo $CARGO_TARGET_DIR/release/examples/soak_service [--minutes 60] [--peers 20] [--every 3]
//! ```
//!
//! Runs in the NAT lab (root; `PUNCHWIRE_LAB_WG=boringtun` for boringtun) with the real
//! `punchwire registry` and alice's `punchwire service`, found next to this example. N
//! extra peers are put on the registry's device (with endpoints in 198.51.100.0/24) and on
//! alice's (same keys, no endpoint). Each peer's endpoint on the registry's device is
//! changed every `--every` seconds (`wg set … endpoint`: what a NAT remapping looks like
//! to the registry), the peers' changes spread evenly over that period. alice's device
//! is read every [`READ_EVERY`]; a change is seen when alice's device shows it, and
//! missed when the next change of the same peer comes before that.
//!
//! What bounds how soon a change can be seen: the registry reads its device every second,
//! and the service asks for the zone's SOA serial every `poll` (1 s, the default) and
//! resolves every peer when it moves; so a change takes up to ~2 s plus one pass, and
//! `--every` must stay above that for "no missed change" to mean something (the default
//! 3 s does). Printed every minute: changes made and seen, latency p50/p99/max, missed
//! changes, the service's RSS; at the end RSS after the warm-up minute vs at the end
//! (target within 5%) and missed changes (target 0).

#[cfg(target_os = "linux")]
fn main() -> anyhow::Result<()> {
    soak::main()
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("soak_service: the NAT lab is Linux only");
    std::process::exit(1);
}

#[cfg(target_os = "linux")]
mod support;

#[cfg(target_os = "linux")]
mod soak {
    use std::collections::HashMap;
    use std::io::Read;
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::thread;
    use std::time::{Duration, Instant};

    use anyhow::{bail, ensure, Context, Result};

    use crate::support::{punchwire_bin, require_root, stop_flag};
    use punchwire_lab::{wait_until_ok, Host, Lab, ServiceOptions};
    use punchwire_wg::PublicKey;

    const DEFAULT_MINUTES: u64 = 60;
    const DEFAULT_PEERS: usize = 20;
    const DEFAULT_EVERY: Duration = Duration::from_secs(3);
    /// How often alice's device is read: the latencies' resolution.
    const READ_EVERY: Duration = Duration::from_millis(50);
    const REPORT_EVERY: Duration = Duration::from_secs(60);
    /// The first minute (start-up, first lookups, allocator growth) is not the steady state
    /// whose RSS must stay flat.
    const WARM_UP: Duration = Duration::from_secs(60);
    /// After the last change: how long the unseen ones may still take.
    const DRAIN: Duration = Duration::from_secs(10);
    const SETUP_TIMEOUT: Duration = Duration::from_secs(60);
    const RSS_TARGET_PERCENT: f64 = 5.0;
    /// Peers per `wg set` request while setting up.
    const PEERS_PER_REQUEST: usize = 25;

    struct Options {
        minutes: u64,
        peers: usize,
        every: Duration,
    }

    /// One endpoint change on the registry's device.
    struct Change {
        peer: usize,
        endpoint: SocketAddr,
        made: Instant,
    }

    /// What happened to the changes, overall and since the last report.
    #[derive(Default)]
    struct Tally {
        made: u64,
        seen: u64,
        missed: u64,
        /// alice's device showed an endpoint that no change made: never expected.
        unexpected: u64,
        latencies: Vec<Duration>,
    }

    impl Tally {
        fn add(&mut self, other: &Tally) {
            self.made += other.made;
            self.seen += other.seen;
            self.missed += other.missed;
            self.unexpected += other.unexpected;
            self.latencies.extend_from_slice(&other.latencies);
        }
    }

    /// The changes in flight and what became of them.
    struct Tracker {
        changes: Vec<Change>,
        /// Per peer: its latest change, while not yet seen.
        pending: Vec<Option<usize>>,
        /// Every endpoint a change made: which peer's, and which change.
        made: HashMap<SocketAddr, usize>,
        /// Per peer: what alice's device showed at the last read.
        shown: Vec<Option<SocketAddr>>,
        minute: Tally,
        total: Tally,
    }

    impl Tracker {
        fn new(peers: usize) -> Self {
            Self {
                changes: Vec::new(),
                pending: vec![None; peers],
                made: HashMap::new(),
                shown: vec![None; peers],
                minute: Tally::default(),
                total: Tally::default(),
            }
        }

        /// The endpoint a peer starts with: known, but not a change to follow.
        fn initial(&mut self, change: Change) {
            self.made.insert(change.endpoint, self.changes.len());
            self.changes.push(change);
        }

        fn made(&mut self, change: Change) {
            if self.pending[change.peer].take().is_some() {
                self.minute.missed += 1;
            }
            let index = self.changes.len();
            self.pending[change.peer] = Some(index);
            self.made.insert(change.endpoint, index);
            self.changes.push(change);
            self.minute.made += 1;
        }

        /// alice's device shows `endpoint` for `peer` at `at`.
        fn shown(&mut self, peer: usize, endpoint: SocketAddr, at: Instant) {
            if self.shown[peer].replace(endpoint) == Some(endpoint) {
                return;
            }
            match self.made.get(&endpoint) {
                Some(&index) if self.changes[index].peer == peer => {
                    if self.pending[peer] == Some(index) {
                        self.pending[peer] = None;
                        self.minute.seen += 1;
                        self.minute.latencies.push(at - self.changes[index].made);
                    }
                    // Otherwise seen before, or an older change already counted missed.
                }
                _ => self.minute.unexpected += 1,
            }
        }

        fn unseen(&self) -> usize {
            self.pending.iter().flatten().count()
        }

        /// Closes the current minute: its tally, added to the total.
        fn close_minute(&mut self) -> Tally {
            let minute = std::mem::take(&mut self.minute);
            self.total.add(&minute);
            minute
        }
    }

    pub fn main() -> Result<()> {
        require_root()?;
        let options = options_from_args()?;
        let bin = punchwire_bin()?;
        let stop = stop_flag()?;

        let lab = Lab::builder().build().context("building the NAT lab")?;
        let result = lab.with_diagnostics_on_panic(|lab| run(lab, &bin, &options, &stop));
        if let Err(e) = result {
            // On Ctrl-C the terminal stopped the lab's daemons too: nothing to diagnose.
            if stop.load(Ordering::SeqCst) {
                bail!("interrupted");
            }
            eprintln!("{}", lab.diagnostics());
            return Err(e);
        }
        lab.shutdown().context("tearing down the lab")
    }

    fn options_from_args() -> Result<Options> {
        let mut options = Options {
            minutes: DEFAULT_MINUTES,
            peers: DEFAULT_PEERS,
            every: DEFAULT_EVERY,
        };
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut args = args.iter();
        let usage = "usage: soak_service [--minutes 60] [--peers 20] [--every 3]";
        while let Some(flag) = args.next() {
            let value = args
                .next()
                .with_context(|| format!("{flag} needs a value\n{usage}"))?;
            let number: u64 = value
                .parse()
                .with_context(|| format!("{flag} {value}: not a whole number\n{usage}"))?;
            match flag.as_str() {
                "--minutes" => options.minutes = number,
                "--peers" => options.peers = number as usize,
                "--every" => options.every = Duration::from_secs(number),
                _ => bail!("unknown option {flag}\n{usage}"),
            }
        }
        ensure!(
            options.minutes >= 2,
            "--minutes must be at least 2 (one is warm-up)"
        );
        ensure!(
            (1..=250).contains(&options.peers),
            "--peers must be 1 to 250"
        );
        ensure!(
            options.every >= Duration::from_secs(1),
            "--every must be at least 1 s"
        );
        Ok(options)
    }

    fn run(lab: &Lab, bin: &std::path::Path, options: &Options, stop: &AtomicBool) -> Result<()> {
        let keys = (0..options.peers)
            .map(|_| random_key())
            .collect::<Result<Vec<_>>>()?;
        let mut serial = 0u64;
        let mut tracker = Tracker::new(keys.len());
        for (peer, endpoint) in add_peers(lab, &keys, &mut serial)?.into_iter().enumerate() {
            tracker.initial(Change {
                peer,
                endpoint,
                made: Instant::now(),
            });
        }
        lab.wait_registry_handshakes(SETUP_TIMEOUT)
            .context("alice and bob reaching the registry")?;
        lab.start_registry(bin, &[])
            .context("starting punchwire registry")?;
        let service_options = ServiceOptions::default();
        let service = lab
            .start_service(Host::Alice, bin, &service_options)
            .context("starting alice's punchwire service")?;
        let pid = service.process.pid;
        check_is_punchwire(pid)?;
        let by_key: HashMap<PublicKey, usize> =
            keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
        wait_until_ok(
            SETUP_TIMEOUT,
            "alice's device with every peer's first endpoint",
            || Ok(alice_endpoints(lab, &by_key)?.len() == keys.len()),
        )
        .context("waiting for the service's first pass")?;

        println!(
            "{} peers, each peer's endpoint changed every {:?} on the registry's device \
             ({:.1} changes a second); registry refresh 1 s (default), service poll {:?}, \
             interval {:?}, handshake_threshold {:?}; alice's device read every {READ_EVERY:?}; \
             WireGuard: {}",
            options.peers,
            options.every,
            options.peers as f64 / options.every.as_secs_f64(),
            service_options.poll,
            service_options.interval,
            service_options.handshake_threshold,
            lab.wg_impl()
        );
        println!(
            "{:>4} | {:>7} {:>7} {:>6} {:>10} | {:>8} {:>8} {:>8} | {:>8} |",
            "min", "made", "seen", "missed", "unexpected", "p50", "p99", "max", "RSS KiB"
        );

        let step = options.every / keys.len() as u32;
        let start = Instant::now();
        let end = start + Duration::from_secs(options.minutes * 60);
        let mut next_change = start;
        let mut next_report = start + REPORT_EVERY;
        let mut turn = 0usize;
        let mut rss = Vec::new();
        loop {
            if stop.load(Ordering::SeqCst) {
                bail!("interrupted");
            }
            let now = Instant::now();
            if now >= next_report {
                let kb = rss_kb(pid)?;
                rss.push(kb);
                print_minute(rss.len(), &tracker.close_minute(), kb);
                next_report += REPORT_EVERY;
            }
            if now >= end {
                break;
            }
            if now >= next_change {
                let peer = turn % keys.len();
                let endpoint = new_endpoint(&mut serial);
                set_endpoint(lab, &keys[peer], endpoint)?;
                tracker.made(Change {
                    peer,
                    endpoint,
                    made: Instant::now(),
                });
                turn += 1;
                next_change += step;
            }
            read_alice(lab, &by_key, &mut tracker)?;
            let wake = next_change
                .min(next_report)
                .min(Instant::now() + READ_EVERY);
            thread::sleep(wake.saturating_duration_since(Instant::now()));
        }

        // The last changes get their time too.
        let drained = Instant::now() + DRAIN;
        while tracker.unseen() > 0 && Instant::now() < drained && !stop.load(Ordering::SeqCst) {
            read_alice(lab, &by_key, &mut tracker)?;
            thread::sleep(READ_EVERY);
        }
        let unseen = tracker.unseen() as u64;
        tracker.minute.missed += unseen;
        let last = tracker.close_minute();
        if last.made + last.seen + last.missed > 0 {
            println!(
                "(after the last report: {} made, {} seen, {} missed of which {unseen} never seen within {DRAIN:?} of the end)",
                last.made, last.seen, last.missed
            );
        }
        print_summary(&tracker.total, &rss);
        Ok(())
    }

    fn read_alice(
        lab: &Lab,
        by_key: &HashMap<PublicKey, usize>,
        tracker: &mut Tracker,
    ) -> Result<()> {
        let endpoints = alice_endpoints(lab, by_key)?;
        let at = Instant::now();
        for (peer, endpoint) in endpoints {
            tracker.shown(peer, endpoint, at);
        }
        Ok(())
    }

    fn print_minute(minute: usize, tally: &Tally, rss: u64) {
        let (p50, p99, max) = spread(&tally.latencies);
        println!(
            "{minute:>4} | {:>7} {:>7} {:>6} {:>10} | {:>8} {:>8} {:>8} | {rss:>8} |",
            tally.made,
            tally.seen,
            tally.missed,
            tally.unexpected,
            ms(p50),
            ms(p99),
            ms(max)
        );
    }

    fn print_summary(total: &Tally, rss: &[u64]) {
        let (p50, p99, max) = spread(&total.latencies);
        println!();
        println!(
            "changes: {} made, {} seen; latency p50 {}, p99 {}, max {}; {} endpoints shown that no change made",
            total.made,
            total.seen,
            ms(p50),
            ms(p99),
            ms(max),
            total.unexpected
        );
        println!(
            "missed changes: {} (target 0): {}",
            total.missed,
            verdict(total.missed == 0 && total.unexpected == 0)
        );
        let warm_minutes = (WARM_UP.as_secs() / REPORT_EVERY.as_secs()) as usize;
        if let (Some(first), Some(last)) = (rss.get(warm_minutes - 1), rss.last()) {
            let change = 100.0 * (*last as f64 - *first as f64) / *first as f64;
            println!(
                "service RSS: {first} KiB after the warm-up minute, {last} KiB at the end \
                 ({change:+.1}%; max {} KiB) (target within {RSS_TARGET_PERCENT}%): {}",
                rss.iter().max().unwrap_or(&0),
                verdict(change.abs() <= RSS_TARGET_PERCENT)
            );
        }
    }

    fn verdict(met: bool) -> &'static str {
        if met {
            "met"
        } else {
            "MISSED"
        }
    }

    /// Nearest-rank p50 and p99, and the maximum.
    fn spread(values: &[Duration]) -> (Duration, Duration, Duration) {
        let mut sorted = values.to_vec();
        sorted.sort();
        let rank = |p: usize| {
            let r = (p * sorted.len()).div_ceil(100).max(1);
            sorted.get(r - 1).copied().unwrap_or_default()
        };
        (
            rank(50),
            rank(99),
            sorted.last().copied().unwrap_or_default(),
        )
    }

    fn ms(d: Duration) -> String {
        format!("{} ms", d.as_millis())
    }

    /// A fresh endpoint in 198.51.100.0/24 (clear of the lab's NAT at .10), never the
    /// same twice in a run.
    fn new_endpoint(serial: &mut u64) -> SocketAddr {
        *serial += 1;
        let host = 20 + (*serial % 230) as u8;
        let port = 10_000 + (*serial / 230 % 50_000) as u16;
        SocketAddr::from(([198, 51, 100, host], port))
    }

    fn set_endpoint(lab: &Lab, key: &PublicKey, endpoint: SocketAddr) -> Result<()> {
        let iface = lab.host(Host::Registry).iface.clone();
        lab.exec(
            Host::Registry,
            &[
                "wg",
                "set",
                &iface,
                "peer",
                &key.to_base64(),
                "endpoint",
                &endpoint.to_string(),
            ],
        )
        .context("changing an endpoint on the registry's device")?;
        Ok(())
    }

    /// The peers on the registry's device with a first endpoint, and on alice's with none
    /// (finding it is the service's job). Returns the first endpoints.
    fn add_peers(lab: &Lab, keys: &[PublicKey], serial: &mut u64) -> Result<Vec<SocketAddr>> {
        let first: Vec<SocketAddr> = keys.iter().map(|_| new_endpoint(serial)).collect();
        let peers: Vec<(String, String, String)> = keys
            .iter()
            .zip(&first)
            .enumerate()
            .map(|(i, (key, endpoint))| {
                (
                    key.to_base64(),
                    format!("10.100.0.{}/32", i + 1),
                    endpoint.to_string(),
                )
            })
            .collect();
        for host in [Host::Registry, Host::Alice] {
            let iface = lab.host(host).iface.clone();
            for chunk in peers.chunks(PEERS_PER_REQUEST) {
                let mut args = vec!["wg", "set", iface.as_str()];
                for (key, allowed, endpoint) in chunk {
                    args.extend(["peer", key.as_str(), "allowed-ips", allowed.as_str()]);
                    if host == Host::Registry {
                        args.extend(["endpoint", endpoint.as_str()]);
                    }
                }
                lab.exec(host, &args)
                    .with_context(|| format!("adding peers to {host}'s device"))?;
            }
        }
        Ok(first)
    }

    /// The endpoints alice's device has for the soak's peers.
    fn alice_endpoints(
        lab: &Lab,
        by_key: &HashMap<PublicKey, usize>,
    ) -> punchwire_lab::Result<Vec<(usize, SocketAddr)>> {
        let iface = lab.host(Host::Alice).iface.clone();
        let text = lab.exec(Host::Alice, &["wg", "show", &iface, "endpoints"])?;
        Ok(text
            .lines()
            .filter_map(|line| {
                let (key, endpoint) = line.split_once('\t')?;
                let peer = *by_key.get(&key.parse::<PublicKey>().ok()?)?;
                Some((peer, endpoint.trim().parse().ok()?))
            })
            .collect())
    }

    fn random_key() -> Result<PublicKey> {
        let mut bytes = [0u8; 32];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut bytes))
            .context("reading /dev/urandom")?;
        Ok(PublicKey::from_bytes(bytes))
    }

    /// `ip netns exec` execs the program, so the spawned PID is the service itself;
    /// make sure, since measuring a wrapper would be meaningless.
    fn check_is_punchwire(pid: u32) -> Result<()> {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .with_context(|| format!("reading /proc/{pid}/comm"))?;
        ensure!(
            comm.trim() == "punchwire",
            "PID {pid} is {:?}, not the punchwire service",
            comm.trim()
        );
        Ok(())
    }

    fn rss_kb(pid: u32) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("reading /proc/{pid}/status (has the service exited?)"))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("no VmRSS in /proc/{pid}/status"))
    }
}
