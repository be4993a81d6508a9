//! Footprint benchmark: resident memory and idle CPU of `punchwire service` on a device
//! with 100 peers beyond the lab's own.
//!
//! ```text
//! export CARGO_TARGET_DIR=...   # wherever you build
//! cargo build --release -p punchwire --examples
//! sudo $CARGO_TARGET_DIR/release/examples/footprint [--window SECS]
//! ```
//!
//! Runs in the NAT lab (root; `PUNCHWIRE_LAB_WG=boringtun` for boringtun): adds 100
//! peers with random keys and no endpoint to alice's device, starts `punchwire
//! registry` and alice's `punchwire service` (default poll 1 s, interval 30 s), lets it
//! settle, then samples the service's VmRSS and utime+stime over a window (default 60 s,
//! `--window SECS` or `PUNCHWIRE_FOOTPRINT_WINDOW`).
//!
//! Issue target: RSS < 20 MB, idle CPU < 0.5 %.

#[cfg(target_os = "linux")]
fn main() -> anyhow::Result<()> {
    bench::main()
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("footprint: the NAT lab is Linux only");
    std::process::exit(1);
}

#[cfg(target_os = "linux")]
mod support;

#[cfg(target_os = "linux")]
mod bench {
    use std::io::Read;
    use std::process::Command;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::thread;
    use std::time::{Duration, Instant};

    use anyhow::{bail, ensure, Context, Result};

    use crate::support::{punchwire_bin, require_root, stop_flag};
    use punchwire_lab::{Host, Lab, ServiceOptions};
    use punchwire_wg::PublicKey;

    const EXTRA_PEERS: usize = 100;
    /// Peers per `wg set` request: one request for all 100 would do, but keeps the
    /// command line short and an error close to its peer.
    const PEERS_PER_REQUEST: usize = 25;
    const DEFAULT_WINDOW: Duration = Duration::from_secs(60);
    const WINDOW_ENV: &str = "PUNCHWIRE_FOOTPRINT_WINDOW";
    /// Start-up work (first full lookup of every peer) is not idle: let it pass.
    const SETTLE: Duration = Duration::from_secs(10);
    const SAMPLE_EVERY: Duration = Duration::from_secs(1);
    /// 20 MB, decimal, in the KiB that /proc reports: the stricter reading of "20 MB".
    const TARGET_RSS_KB: u64 = 20_000_000 / 1024;
    const TARGET_CPU_PERCENT: f64 = 0.5;

    /// What the window measured.
    struct Footprint {
        rss_max_kb: u64,
        rss_end_kb: u64,
        cpu_percent: f64,
        window: Duration,
    }

    pub fn main() -> Result<()> {
        require_root()?;
        let window = window_from_args()?;
        let bin = punchwire_bin()?;
        let stop = stop_flag()?;
        let clk_tck = clock_ticks()?;

        let lab = Lab::builder().build().context("building the NAT lab")?;
        let wg = lab.wg_impl();
        let measured = lab.with_diagnostics_on_panic(|lab| -> Result<Footprint> {
            add_peers(lab, EXTRA_PEERS)?;
            lab.wait_registry_handshakes(Duration::from_secs(60))
                .context("alice and bob reaching the registry")?;
            lab.start_registry(&bin, &[])
                .context("starting punchwire registry")?;
            let service = lab
                .start_service(Host::Alice, &bin, &ServiceOptions::default())
                .context("starting alice's punchwire service")?;
            let pid = service.process.pid;
            check_is_punchwire(pid)?;
            sleep_unless_stopped(SETTLE, &stop)?;
            sample(pid, window, clk_tck, &stop)
        });
        let footprint = match measured {
            Ok(f) => f,
            Err(e) => {
                eprintln!("{}", lab.diagnostics());
                return Err(e);
            }
        };
        print_report(&lab, wg, &footprint);
        lab.shutdown().context("tearing down the lab")
    }

    fn window_from_args() -> Result<Duration> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let secs = match args.as_slice() {
            [] => match std::env::var(WINDOW_ENV) {
                Ok(s) => s,
                Err(_) => return Ok(DEFAULT_WINDOW),
            },
            [flag, s] if flag == "--window" => s.clone(),
            _ => bail!("usage: footprint [--window SECS]   (or {WINDOW_ENV}; default 60)"),
        };
        let secs: u64 = secs
            .parse()
            .with_context(|| format!("window {secs:?}: expected whole seconds"))?;
        ensure!(secs > 0, "the window must be at least 1 s");
        Ok(Duration::from_secs(secs))
    }

    /// Ticks per second of /proc/<pid>/stat's utime and stime. From `getconf`, since
    /// the crate forbids the unsafe a sysconf call would need.
    fn clock_ticks() -> Result<u64> {
        let out = Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .context("running getconf CLK_TCK")?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.trim()
            .parse()
            .with_context(|| format!("getconf CLK_TCK printed {text:?}"))
    }

    /// 100 peers as a user's mesh would have them before discovery: a key, a /32, no
    /// endpoint. Keys are random bytes; nobody answers for them, which is the point.
    fn add_peers(lab: &Lab, count: usize) -> Result<()> {
        let iface = lab.host(Host::Alice).iface.clone();
        let peers: Vec<(String, String)> = (0..count)
            .map(|i| {
                Ok((
                    random_key()?.to_base64(),
                    format!("10.100.{}.{}/32", i / 250, i % 250 + 1),
                ))
            })
            .collect::<Result<_>>()?;
        for chunk in peers.chunks(PEERS_PER_REQUEST) {
            let mut args = vec!["wg", "set", iface.as_str()];
            for (key, allowed) in chunk {
                args.extend(["peer", key.as_str(), "allowed-ips", allowed.as_str()]);
            }
            lab.exec(Host::Alice, &args)
                .context("adding peers to alice's device")?;
        }
        let have = lab.wg_dump(Host::Alice)?.peers.len();
        ensure!(
            have >= count + 2,
            "alice's device has {have} peers after adding {count}"
        );
        Ok(())
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

    fn sleep_unless_stopped(duration: Duration, stop: &AtomicBool) -> Result<()> {
        let until = Instant::now() + duration;
        while Instant::now() < until {
            if stop.load(Ordering::SeqCst) {
                bail!("interrupted");
            }
            thread::sleep(Duration::from_millis(100).min(until - Instant::now()));
        }
        Ok(())
    }

    /// RSS every second and CPU time at both ends of the window.
    fn sample(pid: u32, window: Duration, clk_tck: u64, stop: &AtomicBool) -> Result<Footprint> {
        let started = Instant::now();
        let cpu_start = cpu_ticks(pid)?;
        let mut rss_max_kb = rss_kb(pid)?;
        let mut rss_end_kb = rss_max_kb;
        while started.elapsed() < window {
            sleep_unless_stopped(SAMPLE_EVERY.min(window - started.elapsed()), stop)?;
            rss_end_kb = rss_kb(pid)?;
            rss_max_kb = rss_max_kb.max(rss_end_kb);
        }
        let cpu_end = cpu_ticks(pid)?;
        let window = started.elapsed();
        let cpu_secs = (cpu_end - cpu_start) as f64 / clk_tck as f64;
        Ok(Footprint {
            rss_max_kb,
            rss_end_kb,
            cpu_percent: 100.0 * cpu_secs / window.as_secs_f64(),
            window,
        })
    }

    fn rss_kb(pid: u32) -> Result<u64> {
        let path = format!("/proc/{pid}/status");
        let status = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {path}: did the service exit?"))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("no VmRSS in {path}"))
    }

    /// utime + stime, in clock ticks.
    fn cpu_ticks(pid: u32) -> Result<u64> {
        let path = format!("/proc/{pid}/stat");
        let stat = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {path}: did the service exit?"))?;
        parse_cpu_ticks(&stat).with_context(|| format!("unexpected {path}: {stat}"))
    }

    /// Fields 14 and 15 of /proc/<pid>/stat. The command name (field 2) is in
    /// parentheses and may hold spaces, so count from the last ')'.
    fn parse_cpu_ticks(stat: &str) -> Option<u64> {
        let rest = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // rest starts at field 3 (state): utime is field 14, index 11.
        let utime: u64 = fields.get(11)?.parse().ok()?;
        let stime: u64 = fields.get(12)?.parse().ok()?;
        Some(utime + stime)
    }

    fn print_report(lab: &Lab, wg: punchwire_lab::WgImpl, f: &Footprint) {
        let peers = lab
            .wg_dump(Host::Alice)
            .map(|d| d.peers.len().to_string())
            .unwrap_or_else(|_| "?".into());
        let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
        println!(
            "punchwire service footprint: alice's device with {peers} peers, WireGuard {wg}, \
             poll 1 s, interval 30 s, window {:.1} s after {} s to settle",
            f.window.as_secs_f64(),
            SETTLE.as_secs()
        );
        println!("{:<14} {:>10}   target", "", "measured");
        println!(
            "{:<14} {:>10}   < 20 MB: {}",
            "RSS max",
            mb(f.rss_max_kb),
            verdict(f.rss_max_kb < TARGET_RSS_KB)
        );
        println!("{:<14} {:>10}", "RSS at end", mb(f.rss_end_kb));
        println!(
            "{:<14} {:>9.3}%   < {TARGET_CPU_PERCENT}%: {}",
            "CPU (idle)",
            f.cpu_percent,
            verdict(f.cpu_percent < TARGET_CPU_PERCENT)
        );
    }

    /// Decimal megabytes, like the target.
    fn mb(kb: u64) -> String {
        format!("{:.1} MB", (kb * 1024) as f64 / 1e6)
    }
}
