//! The registry's soak (a benchmark that prints figures, not a test): the registry under
//! 80% of its maximum query rate for a long while, with a TCP connection flood in the
//! middle.
//!
//!     cargo run --release -p punchwire-registry --example soak -- [--minutes 10] [--peers 1000]
//!
//! A wireguard-go device with N peers in a private network namespace, served by the
//! registry in a child process pinned to CPU 1 (as in `bench`). dnsperf first measures
//! the registry's maximum rate on the soak's valid mix for 5 s; then this example's own
//! load generator, pinned to CPU 0, sends 80% of that for the whole run: hits (SRV, A
//! and TXT of existing peers), misses (SRV of unknown peers, A of random names), now and
//! then a PTR listing, and 10% malformed packets (headers cut short, bad label lengths,
//! compression loops, random bytes). In the middle, 2,000 TCP connections from one
//! address are opened and held for up to 60 s (see `flood`), then closed.
//!
//! Every 10 s it prints qps sent and answered, errors (an admitted valid query answered
//! SERVFAIL, or with the wrong code, or not within 2 s; malformed packets may go
//! unanswered) and the registry's RSS; at the end, RSS at start vs end, errors in all,
//! and how long after the flood ended qps was back to its pre-flood rate, from 100 ms
//! buckets.
//!
//! Needs root, wireguard-go, wg, dnsperf, dig and taskset. Traffic stays on the
//! namespace's loopback. The namespace, device, child processes and temp files are
//! removed at the end, also on failure or Ctrl-C.

#[path = "../common/mod.rs"]
mod common;
mod flood;
mod load;
mod mix;
mod report;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Result, Scene, LOAD_CPU, WIREGUARD_GO_MAX_PEERS};
use load::Bucket;
use report::{Drops, Flood, Report};

const DEFAULT_MINUTES: f64 = 10.0;
const DEFAULT_PEERS: usize = 1000;
const MAX_RATE_SECONDS: u64 = 5;
/// The share of the maximum rate the soak runs at.
const LOAD_PERCENT: u64 = 80;
const FLOOD_HOLD: Duration = Duration::from_secs(60);
/// Lines for dnsperf's maximum-rate run.
const DNSPERF_QUERIES: usize = 100_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["serve", iface] => return common::serve(iface),
        ["load", seconds, rate, peers, flood_at_ms, flood_hold_ms, reopen] => {
            let flood = (*flood_at_ms, *flood_hold_ms, *reopen == "reopen");
            return exit_on_error(load_child(seconds, rate, peers, flood));
        }
        _ => {}
    }
    let options = match options(&words) {
        Ok(options) => options,
        Err(e) => {
            eprintln!(
                "{e}\nusage: soak [--minutes {DEFAULT_MINUTES}] [--peers {DEFAULT_PEERS}] [--flood-reopen]"
            );
            std::process::exit(2);
        }
    };
    exit_on_error(soak(&options));
}

fn exit_on_error(result: Result<()>) {
    if let Err(e) = result {
        eprintln!("soak failed: {e}");
        std::process::exit(1);
    }
}

/// What the command line asks for.
struct Options {
    minutes: f64,
    peers: usize,
    /// The flood reopens the connections the registry closes, once a second.
    flood_reopen: bool,
}

fn options(words: &[&str]) -> Result<Options> {
    let mut minutes = DEFAULT_MINUTES;
    let mut peers = DEFAULT_PEERS;
    let mut flood_reopen = false;
    let mut words = words.iter();
    while let Some(flag) = words.next() {
        if *flag == "--flood-reopen" {
            flood_reopen = true;
            continue;
        }
        let value = words.next().ok_or(format!("{flag} needs a value"))?;
        match *flag {
            "--minutes" => {
                minutes = value
                    .parse()
                    .map_err(|_| format!("--minutes {value}: not a number"))?
            }
            "--peers" => {
                peers = value
                    .parse()
                    .map_err(|_| format!("--peers {value}: not a whole number"))?
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if minutes < 1.0 {
        return Err("--minutes must be at least 1 (the flood needs a quiet 10 s before it)".into());
    }
    if peers == 0 || peers > WIREGUARD_GO_MAX_PEERS {
        return Err(format!(
            "--peers must be 1 to {WIREGUARD_GO_MAX_PEERS} (what a wireguard-go device holds)"
        ));
    }
    Ok(Options {
        minutes,
        peers,
        flood_reopen,
    })
}

/// The child that makes the traffic: the UDP load, and the flood on a thread of its own.
fn load_child(seconds: &str, rate: &str, peers: &str, flood: (&str, &str, bool)) -> Result<()> {
    let number = |s: &str| s.parse::<u64>().map_err(|_| format!("not a number: {s}"));
    let start = Instant::now();
    let at = Duration::from_millis(number(flood.0)?);
    let hold = Duration::from_millis(number(flood.1)?);
    let reopen = flood.2;
    std::thread::spawn(move || flood::run(start, at, hold, reopen));
    load::run(
        start,
        number(seconds)?,
        number(rate)?,
        number(peers)? as usize,
    )
}

fn soak(options: &Options) -> Result<()> {
    let (minutes, n) = (options.minutes, options.peers);
    let stop = stop_flag();
    // The flood's 2,000 sockets (the load child inherits the limit).
    punchwire_registry::raise_open_file_limit().map_err(|e| format!("open-file limit: {e}"))?;
    // Whole 10 s periods.
    let seconds = ((minutes * 6.0).round() as u64) * 10;
    let hold = FLOOD_HOLD.min(Duration::from_secs(seconds / 2));
    let flood_at = Duration::from_secs(seconds / 2) - hold / 2;

    let mut scene = Scene::new("soak")?;
    let peers = common::peers(n);
    eprintln!("building a wireguard-go device with {n} peers");
    common::build_device(&scene, &peers)?;
    let registry_out = common::start_registry(&mut scene)?;
    let registry_pid = scene.children[0].id();
    common::wait_answering(&scene, &peers[0].0)?;
    let rss_ready = rss_kb(registry_pid)?;

    let mix = mix::Mix::new(n);
    let queries = scene.dir.join("queries.txt");
    std::fs::write(&queries, mix.dnsperf_file(DNSPERF_QUERIES)).map_err(|e| e.to_string())?;
    let max = common::dnsperf(&scene, &queries, MAX_RATE_SECONDS)?;
    let rate = (max.qps as u64) * LOAD_PERCENT / 100;
    println!(
        "registry with {n} peers, on CPU {}; load on CPU {LOAD_CPU}",
        common::SERVER_CPU
    );
    println!(
        "maximum rate (dnsperf, valid mix, {MAX_RATE_SECONDS} s): {:.0} qps, {:.3} ms average, {} lost",
        max.qps, max.avg_ms, max.lost
    );
    println!(
        "soak: {rate} valid qps ({LOAD_PERCENT}%) + {}% malformed packets for {seconds} s; \
         TCP flood ({}) from {} s to {} s",
        mix::MALFORMED_PERCENT,
        if options.flood_reopen {
            "2,000 connections, those closed reopened every second"
        } else {
            "2,000 connections opened and held"
        },
        flood_at.as_secs(),
        (flood_at + hold).as_secs()
    );
    if stop.load(Ordering::SeqCst) {
        return Err("interrupted".into());
    }

    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = scene
        .pinned(LOAD_CPU, &exe)
        .arg("load")
        .args(
            [
                seconds,
                rate,
                n as u64,
                flood_at.as_millis() as u64,
                hold.as_millis() as u64,
            ]
            .map(|v| v.to_string()),
        )
        .arg(if options.flood_reopen {
            "reopen"
        } else {
            "hold"
        })
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("load generator: {e}"))?;
    let stdout = child.stdout.take().ok_or("load generator has no stdout")?;
    scene.children.push(child);
    let (lines, incoming) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });

    let flood = Flood {
        at: flood_at,
        hold,
        ..Flood::default()
    };
    let mut report = Report::new(flood, rss_ready);
    loop {
        if stop.load(Ordering::SeqCst) {
            return Err("interrupted".into());
        }
        let line = match incoming.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => {
                if stop.load(Ordering::SeqCst) {
                    return Err("interrupted".into());
                }
                // Its stdout is closed: it is exiting, or has.
                let status = scene.children.last_mut().map(|c| c.wait());
                return Err(format!(
                    "the load generator ended before it was done ({status:?})"
                ));
            }
        };
        if line == "done" {
            break;
        }
        if let Some((index, bucket)) = Bucket::parse(&line) {
            let rss = rss_kb(registry_pid).unwrap_or(0);
            report.add(index, bucket, rss, || udp_drops(&scene).unwrap_or_default());
        } else if let Some(opened) = numbers(&line, "flood opened ") {
            report.flood.opened = Some(opened);
        } else if let Some(closed) = numbers(&line, "flood closed ") {
            report.flood.closed = Some(closed);
        } else if let Some((index, count)) = line
            .strip_prefix("failed ")
            .and_then(|rest| rest.split_once(' '))
            .and_then(|(i, c)| Some((i.parse().ok()?, c.parse().ok()?)))
        {
            report.failed_at_send(index, count);
        } else {
            eprintln!("load generator: {line}");
        }
    }
    report.finish(rate, seconds, options.flood_reopen);

    // The registry's own counters, printed as it shuts down.
    common::stop(&mut scene.children[0]);
    for line in registry_out.lines().map_while(|l| l.ok()) {
        if let Some(stats) = line.strip_prefix("stats ") {
            println!("registry's counters: {stats}");
        }
    }
    Ok(())
}

/// Three numbers after `prefix`.
fn numbers(line: &str, prefix: &str) -> Option<(u64, u64, u64)> {
    let mut fields = line
        .strip_prefix(prefix)?
        .split(' ')
        .map(|f| f.parse().ok());
    Some((fields.next()??, fields.next()??, fields.next()??))
}

/// The VmRSS of `pid`, in KiB.
fn rss_kb(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no VmRSS in /proc/{pid}/status"))
}

/// Datagrams dropped so far for want of room in a receive buffer, from `ss`: at the
/// registry's socket, and at the load generator's. A loss of the second kind would be the
/// benchmark's own fault, so it is shown apart.
fn udp_drops(scene: &Scene) -> Result<Drops> {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &scene.ns, "ss", "-uamn"])
        .output()
        .map_err(|e| format!("ss: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let registry = format!(":{}", common::REGISTRY_PORT);
    let mut drops = Drops::default();
    let mut at_registry = false;
    for line in text.lines() {
        if let Some(skmem) = line.trim().strip_prefix("skmem:(") {
            let field = |name: &str| -> u64 {
                skmem
                    .trim_end_matches(')')
                    .split(',')
                    .find_map(|f| f.strip_prefix(name))
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(0)
            };
            let dropped = field("d");
            if at_registry {
                drops.registry += dropped;
                drops.registry_buffer = field("rb");
            } else {
                drops.load += dropped;
            }
        } else {
            at_registry = line
                .split_whitespace()
                .nth(3)
                .is_some_and(|local| local.ends_with(&registry));
        }
    }
    Ok(drops)
}

/// Set on Ctrl-C or SIGTERM, so that the run returns and its scene is removed instead of
/// the process dying with the namespace still there.
fn stop_flag() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async {
            let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            else {
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        });
        flag.store(true, Ordering::SeqCst);
    });
    stop
}
