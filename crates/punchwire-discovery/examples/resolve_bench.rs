//! One full resolution of every peer against a real `punchwire` registry on loopback:
//! how long a discovery pass over N peers takes (target for 1,000 peers: ≤ 100 ms).
//!
//! ```text
//! cargo run --release -p punchwire-discovery --example resolve_bench [PEERS] [PASSES]
//! ```
//!
//! Both WireGuard devices are in memory, so the figures are DNS and engine cost alone:
//! the registry serves N peers with endpoints, the client's device holds the same N
//! peers without, and each pass looks every one of them up (no handshakes, so none is
//! skipped as fresh). The first pass sets N endpoints; the later ones find them right.
//! Every pass is checked: a pass that leaves a peer unsettled or wrong is an error.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use punchwire_discovery::{Config, DnsSource, Engine};
use punchwire_registry::{Registry, RegistryConfig};
use punchwire_wg::{Backend, Device, MemoryBackend, Peer, PublicKey};

const ZONE: &str = "bench.punchwire.test.";
const TARGET_1000: Duration = Duration::from_millis(100);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let peers: usize = args.next().map_or(Ok(1000), |a| a.parse())?;
    let passes: usize = args.next().map_or(Ok(20), |a| a.parse())?;
    if peers == 0 || peers > 60_000 || passes == 0 {
        return Err("PEERS must be 1 to 60000 and PASSES at least 1".into());
    }
    tokio::runtime::Runtime::new()?.block_on(bench(peers, passes))
}

async fn bench(peers: usize, passes: usize) -> Result<(), Box<dyn std::error::Error>> {
    let keys: Vec<PublicKey> = (0..peers).map(key).collect();

    let registry_side = MemoryBackend::new();
    registry_side.put_device(device("wgreg", &keys, true));
    let mut config = RegistryConfig::new(ZONE.parse().expect("a zone"), "wgreg");
    config.listen = vec![SocketAddr::from(([127, 0, 0, 1], 0))];
    config.allow = vec!["127.0.0.0/8".parse()?];
    let registry = Registry::start(config, Backend::new(registry_side)).await?;
    let registry_addr = registry
        .local_addrs()
        .first()
        .copied()
        .ok_or("the registry listens nowhere")?;

    let client_side = MemoryBackend::new();
    client_side.put_device(device("wg0", &keys, false));
    let source = DnsSource::new(&ZONE.parse()?, Duration::from_secs(2));
    let mut engine = Engine::new(
        Backend::new(client_side.clone()),
        source,
        // In memory: no nudge into a real wg0 this machine may have.
        Config {
            nudge: false,
            ..Config::new("wg0", vec![registry_addr])
        },
    );

    let mut times = Vec::with_capacity(passes);
    for run in 0..=passes {
        let started = Instant::now();
        let pass = engine.pass().await?;
        let took = started.elapsed();
        if !pass.all_settled() {
            let stuck = pass.outcomes.iter().find(|o| !o.is_settled());
            return Err(format!("pass {run} left a peer unsettled: {stuck:?}").into());
        }
        if run == 0 {
            check_endpoints(&client_side, &keys)?;
            println!("first pass (sets {peers} endpoints): {}", ms(took));
        } else {
            times.push(took);
        }
    }
    times.sort();
    let pick = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    println!(
        "full resolution of {peers} peers, {passes} passes: min {}  p50 {}  p99 {}  max {}",
        ms(times[0]),
        ms(pick(0.5)),
        ms(pick(0.99)),
        ms(times[times.len() - 1])
    );
    let per_1000 = pick(0.5).mul_f64(1000.0 / peers as f64);
    println!(
        "p50 per 1,000 peers: {} (target ≤ {}) {}",
        ms(per_1000),
        ms(TARGET_1000),
        if per_1000 <= TARGET_1000 {
            "met"
        } else {
            "NOT met"
        }
    );
    let stats = registry.stats();
    println!("registry counters: {}", serde_json::to_string(&stats)?);
    registry.shutdown().await;
    Ok(())
}

/// A distinct, valid-looking key per peer; their values do not matter to DNS.
fn key(i: usize) -> PublicKey {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&(i as u64).to_le_bytes());
    bytes[31] = 0x5a;
    PublicKey::from_bytes(bytes)
}

/// Peer `i`'s NAT mapping as the registry sees it: spread over a documentation range.
fn endpoint(i: usize) -> SocketAddr {
    let ip = Ipv4Addr::new(198, 51, 100, (i % 250) as u8 + 1);
    SocketAddr::new(IpAddr::V4(ip), 20_000 + (i / 250) as u16)
}

fn device(name: &str, keys: &[PublicKey], with_endpoints: bool) -> Device {
    let peers = keys
        .iter()
        .enumerate()
        .map(|(i, key)| Peer {
            public_key: *key,
            has_preshared_key: false,
            endpoint: with_endpoints.then(|| endpoint(i)),
            allowed_ips: vec![format!("10.100.{}.{}/32", i / 250, i % 250 + 1)
                .parse()
                .expect("a valid prefix")],
            last_handshake: None,
            rx_bytes: 0,
            tx_bytes: 0,
            persistent_keepalive: Some(25),
        })
        .collect();
    Device {
        name: name.to_owned(),
        public_key: None,
        listen_port: Some(51820),
        fwmark: None,
        peers,
    }
}

fn check_endpoints(
    client: &MemoryBackend,
    keys: &[PublicKey],
) -> Result<(), Box<dyn std::error::Error>> {
    let device = client_device(client)?;
    for (i, key) in keys.iter().enumerate() {
        let got = device.peer(key).and_then(|p| p.endpoint);
        if got != Some(endpoint(i)) {
            return Err(format!("peer {i}: endpoint {got:?}, expected {}", endpoint(i)).into());
        }
    }
    Ok(())
}

/// The client's device as the engine left it.
fn client_device(client: &MemoryBackend) -> Result<Device, Box<dyn std::error::Error>> {
    use punchwire_wg::WireGuard;
    Ok(client.device("wg0")?)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
