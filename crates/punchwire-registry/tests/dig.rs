//! The registry as a user meets it: started on loopback over an in-memory device, queried
//! with the real `dig`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use punchwire_registry::{Registry, RegistryConfig, RunningRegistry, SelfRecord};
use punchwire_testkit::wg::{key, peer};
use punchwire_wg::{Backend, Device, MemoryBackend, Peer, PublicKey};

const IFACE: &str = "wg-test";
const ZONE: &str = "example.com";

fn zone() -> punchwire_control::zone::Zone {
    ZONE.parse().expect("the test zone is a zone")
}

fn instance(k: PublicKey) -> String {
    format!("{}._wireguard._udp.example.com.", k.to_dns_label())
}

/// A device with `n` peers, peer i at 198.51.100.x:(40000 + i), tunnel address 10.9.x.y.
fn device(n: u16) -> Device {
    Device {
        name: IFACE.into(),
        public_key: Some(key(u16::MAX)),
        listen_port: Some(51820),
        fwmark: None,
        peers: (0..n)
            .map(|i| Peer {
                persistent_keepalive: Some(25),
                ..peer(
                    key(i),
                    Some(&format!("198.51.100.{}:{}", i % 250 + 1, 40000 + i)),
                    &[&format!("10.9.{}.{}/32", i / 250, i % 250 + 1)],
                )
            })
            .collect(),
    }
}

struct Running {
    memory: MemoryBackend,
    registry: RunningRegistry,
}

impl Running {
    async fn start(device: Device, tweak: impl FnOnce(&mut RegistryConfig)) -> Self {
        let memory = MemoryBackend::new();
        memory.put_device(device);
        let mut config = RegistryConfig::new(zone(), IFACE);
        config.listen = vec!["127.0.0.1:0".parse().unwrap()];
        config.allow = vec!["127.0.0.0/8".parse().unwrap()];
        config.refresh = Duration::from_millis(50);
        tweak(&mut config);
        let registry = Registry::start(config, Backend::new(memory.clone()))
            .await
            .expect("registry starts");
        Self { memory, registry }
    }

    fn addr(&self) -> SocketAddr {
        self.registry.local_addrs()[0]
    }

    /// Runs `dig @addr -p port ARGS` and returns what it printed.
    async fn dig(&self, args: &[&str]) -> String {
        let stdout = self.dig_unchecked(args).await;
        assert!(
            !stdout.contains("connection timed out"),
            "no answer: {stdout}"
        );
        stdout
    }

    /// `dig`, also when it gets no answer: what it printed, stderr after stdout.
    async fn dig_unchecked(&self, args: &[&str]) -> String {
        let addr = self.addr();
        let output = tokio::process::Command::new("dig")
            .arg(format!("@{}", addr.ip()))
            .args(["-p", &addr.port().to_string(), "+time=2", "+tries=1"])
            .args(args)
            .output()
            .await
            .expect("dig runs (is bind9-dnsutils installed?)");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr);
        for sign in ["extra bytes", "malformed", "FORMERR", "parse"] {
            assert!(
                !stdout.contains(sign) && !stderr.contains(sign),
                "malformed message ({sign}): {stdout}{stderr}"
            );
        }
        format!("{stdout}{stderr}")
    }

    async fn serial(&self) -> u32 {
        let out = self.dig(&["+short", "SOA", ZONE]).await;
        out.split_whitespace()
            .nth(2)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no serial in {out:?}"))
    }

    /// Waits until `f` holds of the dig output, or fails after `deadline` showing the last one.
    async fn wait_for(&self, args: &[&str], deadline: Duration, f: impl Fn(&str) -> bool) {
        let start = Instant::now();
        loop {
            let out = self.dig(args).await;
            if f(&out) {
                return;
            }
            assert!(
                start.elapsed() < deadline,
                "condition not met within {deadline:?}; last answer:\n{out}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the registry has read the device `n` more times.
    async fn wait_reads(&self, n: u64) {
        let target = self.registry.stats().device_reads + n;
        let start = Instant::now();
        while self.registry.stats().device_reads < target {
            assert!(start.elapsed() < Duration::from_secs(10), "refresh stalled");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Runs `nsupdate` (TCP when `tcp`) with `script` after its `server` line; what it
/// printed, and whether it succeeded.
async fn nsupdate(addr: SocketAddr, tcp: bool, script: &str) -> (bool, String) {
    use tokio::io::AsyncWriteExt;
    let mut command = tokio::process::Command::new("nsupdate");
    if tcp {
        command.arg("-v");
    }
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("nsupdate runs (is bind9-dnsutils installed?)");
    let mut stdin = child.stdin.take().unwrap();
    let script = format!("server {} {}\n{script}", addr.ip(), addr.port());
    stdin.write_all(script.as_bytes()).await.unwrap();
    drop(stdin);
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("nsupdate ends")
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), said)
}

/// What the service sends from 127.0.0.2: its candidates at `own`, replacing any before.
fn registration(own: &str) -> String {
    format!(
        // Check-names: wgsd's own names (`_`, `=`) are no host names either.
        "local 127.0.0.2\nzone example.com.\ncheck-names off\nupdate delete {own}\n\
         update add {own} 60 SRV 0 0 51820 {own}\nupdate add {own} 60 A 192.168.1.20\n\
         update add {own} 60 AAAA 2001:db8::20\nsend\n"
    )
}

/// dig's output with each run of spaces and tabs made one space, line by line.
fn squash(out: &str) -> String {
    out.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

fn status(out: &str) -> &str {
    out.split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or("(no status)")
}

fn flags(out: &str) -> &str {
    out.split("flags: ")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .unwrap_or("(no flags)")
}

/// The number after `NAME: ` in dig's header line, e.g. `ANSWER: 3`.
fn count(out: &str, section: &str) -> usize {
    out.split(&format!("{section}: "))
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {section} count in {out}"))
}

#[tokio::test]
async fn srv_a_and_txt_read_as_the_wgsd_article_shows() {
    let r = Running::start(device(3), |_| {}).await;
    let peer = key(1);
    let name = instance(peer);

    let srv = r.dig(&["+short", "SRV", &name]).await;
    assert_eq!(srv.trim(), format!("0 0 40001 {name}"));

    let extra = squash(&r.dig(&["+noall", "+additional", "SRV", &name]).await);
    assert!(
        extra.contains(&format!("{name} 0 IN A 198.51.100.2")),
        "{extra}"
    );
    assert!(
        extra.contains(&format!(
            "{name} 0 IN TXT \"txtvers=1\" \"pub={}\" \"allowed=10.9.0.2/32\"",
            peer.to_base64()
        )),
        "{extra}"
    );

    let a = r.dig(&["+short", "A", &name]).await;
    assert_eq!(a.trim(), "198.51.100.2");
    let full = r.dig(&["SRV", &name]).await;
    assert!(flags(&full).contains("aa"), "{full}");
    assert_eq!(status(&full), "NOERROR");
}

#[tokio::test]
async fn ptr_listing_and_case_insensitive_names() {
    let r = Running::start(device(3), |_| {}).await;
    let ptr = r
        .dig(&["+short", "PTR", "_wireguard._udp.example.com"])
        .await;
    let mut listed: Vec<&str> = ptr.lines().collect();
    listed.sort();
    let mut expected: Vec<String> = (0..3).map(|i| instance(key(i))).collect();
    expected.sort();
    assert_eq!(listed, expected);

    let upper = instance(key(2)).to_ascii_uppercase();
    let srv = r.dig(&["+short", "SRV", &upper]).await;
    assert_eq!(srv.trim(), format!("0 0 40002 {}", instance(key(2))));
}

#[tokio::test]
async fn unknown_names_get_nxdomain_with_the_soa_and_known_ones_nodata() {
    let r = Running::start(device(2), |_| {}).await;
    let nx = r.dig(&["nope.example.com", "A"]).await;
    assert_eq!(status(&nx), "NXDOMAIN");
    assert!(
        squash(&nx).contains("example.com. 0 IN SOA ns1.example.com. postmaster.example.com."),
        "{nx}"
    );

    let nodata = r.dig(&["AAAA", &instance(key(0))]).await;
    assert_eq!(status(&nodata), "NOERROR");
    assert_eq!(count(&nodata, "ANSWER"), 0);
    assert_eq!(count(&nodata, "AUTHORITY"), 1);

    let outside = r.dig(&["example.org", "A"]).await;
    assert_eq!(status(&outside), "REFUSED");
}

/// RFC 6763 §11: `b._dns-sd._udp.<reverse of the address asked>` names the zone to browse.
#[tokio::test]
async fn the_address_asked_names_the_zone_to_browse() {
    let r = Running::start(device(2), |_| {}).await;
    let reverse = "1.0.0.127.in-addr.arpa";
    for kind in ["b", "db", "lb"] {
        let out = r
            .dig(&["PTR", &format!("{kind}._dns-sd._udp.{reverse}")])
            .await;
        assert_eq!(status(&out), "NOERROR", "{out}");
        assert!(
            squash(&out).contains(&format!(
                "{kind}._dns-sd._udp.{reverse}. 0 IN PTR example.com."
            )),
            "{out}"
        );
    }
    let shouting = r
        .dig(&["+short", "PTR", "B._DNS-SD._UDP.1.0.0.127.IN-ADDR.ARPA"])
        .await;
    assert_eq!(shouting.trim(), "example.com.");
    // Registration domains, other types, other addresses: outside the zone, refused.
    for (qtype, name) in [
        ("PTR", format!("r._dns-sd._udp.{reverse}")),
        ("TXT", format!("b._dns-sd._udp.{reverse}")),
        ("PTR", "b._dns-sd._udp.2.0.0.127.in-addr.arpa".to_owned()),
        ("PTR", "b._dns-sd._udp.0.0.127.in-addr.arpa".to_owned()),
        ("PTR", reverse.to_owned()),
    ] {
        let out = r.dig(&[qtype, &name]).await;
        assert_eq!(status(&out), "REFUSED", "{qtype} {name}: {out}");
    }
}

#[tokio::test]
async fn zone_transfers_are_refused_and_any_is_minimal() {
    let r = Running::start(device(2), |_| {}).await;
    let axfr = r.dig(&["AXFR", ZONE]).await;
    assert!(axfr.contains("Transfer failed"), "{axfr}");
    assert!(r.registry.stats().refused >= 1);

    let any = r.dig(&["+short", "ANY", &instance(key(1))]).await;
    assert_eq!(any.trim(), "\"RFC8482\" \"\"");
}

#[tokio::test]
async fn sources_outside_the_allowed_ranges_get_nothing_and_are_counted() {
    // The peers' AllowedIPs are 10.9.0.x: loopback is not among them, and no --allow.
    let r = Running::start(device(2), |c| c.allow.clear()).await;
    let out = r.dig_unchecked(&["SRV", &instance(key(0))]).await;
    assert!(out.contains("timed out"), "no answer over UDP: {out}");
    let out = r.dig_unchecked(&["+tcp", "SRV", &instance(key(0))]).await;
    assert!(
        out.contains("end of file") || out.contains("reset"),
        "the TCP connection is closed unanswered: {out}"
    );
    let browse = "b._dns-sd._udp.1.0.0.127.in-addr.arpa";
    let out = r.dig_unchecked(&["PTR", browse]).await;
    assert!(
        out.contains("timed out"),
        "a stranger learns no zone: {out}"
    );
    let stats = r.registry.stats();
    assert_eq!(stats.strangers_dropped, 3);
    assert_eq!((stats.refused, stats.answered), (0, 0));

    // A peer whose AllowedIPs cover loopback is let in (once the refresh sees it).
    r.memory.update_peer(IFACE, &key(1), |p| {
        p.allowed_ips.push("127.0.0.1/32".parse::<IpNet>().unwrap())
    });
    r.wait_for(&["SRV", &instance(key(0))], Duration::from_secs(10), |o| {
        status(o) == "NOERROR"
    })
    .await;
}

#[tokio::test]
async fn a_big_listing_is_truncated_over_udp_and_whole_over_tcp() {
    let r = Running::start(device(60), |_| {}).await;
    let service = "_wireguard._udp.example.com";

    // Without EDNS: 512 bytes, TC set, still a well-formed message.
    let plain = r.dig(&["+ignore", "+noedns", "PTR", service]).await;
    assert!(flags(&plain).contains("tc"), "{plain}");
    assert_eq!(status(&plain), "NOERROR");
    assert!(count(&plain, "ANSWER") < 60);

    // With EDNS (dig offers 1232 bytes): still too small for 60 PTRs.
    let edns = r.dig(&["+ignore", "PTR", service]).await;
    assert!(flags(&edns).contains("tc"), "{edns}");
    assert!(count(&edns, "ANSWER") > count(&plain, "ANSWER"));

    // TCP: every PTR, and the instances' records in the additional section.
    let tcp = r.dig(&["+tcp", "PTR", service]).await;
    assert!(!flags(&tcp).contains("tc"), "{tcp}");
    assert_eq!(count(&tcp, "ANSWER"), 60);
    assert_eq!(
        count(&tcp, "ADDITIONAL"),
        60 * 3 + 1,
        "SRV, A, TXT each, and OPT"
    );

    // dig's default: retry over TCP on TC and show the whole answer.
    let retried = r.dig(&["+short", "PTR", service]).await;
    assert_eq!(retried.lines().count(), 60);
    assert!(r.registry.stats().truncated >= 2);
}

#[tokio::test]
async fn a_listing_too_big_even_for_tcp_is_a_clear_partial() {
    let r = Running::start(device(1200), |_| {}).await;
    let tcp = r.dig(&["+tcp", "PTR", "_wireguard._udp.example.com"]).await;
    assert!(flags(&tcp).contains("tc"), "{tcp}");
    let answers = count(&tcp, "ANSWER");
    assert!((500..1200).contains(&answers), "{answers} PTRs");
    // Each peer is still reachable by its SRV, which is what discovery uses.
    let srv = r.dig(&["+short", "SRV", &instance(key(1199))]).await;
    assert_eq!(srv.trim(), format!("0 0 41199 {}", instance(key(1199))));
}

#[tokio::test]
async fn soa_serial_moves_when_an_endpoint_moves_and_not_otherwise() {
    let r = Running::start(device(3), |_| {}).await;
    let first = r.serial().await;

    // Traffic on a peer is not served data.
    r.memory
        .update_peer(IFACE, &key(0), |p| p.rx_bytes += 12345);
    r.wait_reads(3).await;
    assert_eq!(r.serial().await, first);

    r.memory.update_peer(IFACE, &key(0), |p| {
        p.endpoint = Some("203.0.113.7:5555".parse().unwrap())
    });
    r.wait_for(
        &["+short", "SRV", &instance(key(0))],
        Duration::from_secs(10),
        |o| o.contains(" 5555 "),
    )
    .await;
    let second = r.serial().await;
    assert!(second > first, "{second} > {first}");

    r.wait_reads(3).await;
    assert_eq!(r.serial().await, second);
}

#[tokio::test]
async fn stale_snapshot_is_served_for_a_bounded_time_then_servfail_then_recovery() {
    let r = Running::start(device(2), |c| c.stale_after = Duration::from_secs(2)).await;
    let srv = ["SRV", &*instance(key(1))].map(str::to_owned);
    let srv: Vec<&str> = srv.iter().map(String::as_str).collect();

    r.memory.fail_with("device vanished");
    let during = r.dig(&srv).await;
    assert_eq!(status(&during), "NOERROR", "last snapshot still served");

    r.wait_for(&srv, Duration::from_secs(15), |o| status(o) == "SERVFAIL")
        .await;
    assert!(!r.registry.stats().fresh);
    assert!(r.registry.stats().servfail >= 1);

    r.memory.recover();
    r.wait_for(&srv, Duration::from_secs(15), |o| status(o) == "NOERROR")
        .await;
    assert!(r.registry.stats().fresh);
}

#[tokio::test]
async fn self_record_uses_the_arrival_address_and_the_listen_port() {
    let r = Running::start(device(1), |c| {
        c.self_record = Some(SelfRecord {
            endpoint: None,
            allowed: vec!["10.9.255.1/32".parse().unwrap()],
        })
    })
    .await;
    let me = instance(key(u16::MAX));
    let srv = r.dig(&["+short", "SRV", &me]).await;
    assert_eq!(srv.trim(), format!("0 0 51820 {me}"));
    let a = r.dig(&["+short", "A", &me]).await;
    assert_eq!(a.trim(), "127.0.0.1");
    let txt = r.dig(&["+short", "TXT", &me]).await;
    assert!(txt.contains("\"allowed=10.9.255.1/32\""), "{txt}");
    let ptr = r
        .dig(&["+short", "PTR", "_wireguard._udp.example.com"])
        .await;
    assert!(ptr.contains(&me), "{ptr}");
}

#[tokio::test]
async fn startup_errors_name_what_is_wrong() {
    let memory = MemoryBackend::new();
    memory.put_device(device(1));
    let backend = Backend::new(memory.clone());

    let err = Registry::start(RegistryConfig::new(zone(), "wg-missing"), backend.clone())
        .await
        .err()
        .unwrap();
    let cause = std::error::Error::source(&err).expect("the backend's error is kept");
    assert!(
        cause.downcast_ref::<punchwire_wg::BackendError>().is_some(),
        "{cause:?}"
    );
    let err = err.to_string();
    assert!(err.contains("wg-missing"), "{err}");

    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut config = RegistryConfig::new(zone(), IFACE);
    config.listen = vec![taken.local_addr().unwrap()];
    let err = Registry::start(config, backend.clone())
        .await
        .err()
        .unwrap();
    let cause = std::error::Error::source(&err).expect("the socket's error is kept");
    assert_eq!(
        cause
            .downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind),
        Some(std::io::ErrorKind::AddrInUse),
        "{cause:?}"
    );
    let err = err.to_string();
    assert!(
        err.contains(&taken.local_addr().unwrap().to_string()) && err.contains("in use"),
        "{err}"
    );

    let mut config = RegistryConfig::new(zone(), IFACE);
    config.listen = vec!["0.0.0.0:0".parse().unwrap()];
    config.self_record = Some(SelfRecord::default());
    let err = Registry::start(config, backend)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("0.0.0.0"), "{err}");
}

#[tokio::test]
async fn shutdown_closes_the_port() {
    let r = Running::start(device(1), |_| {}).await;
    let addr = r.addr();
    r.registry.shutdown().await;
    std::net::UdpSocket::bind(addr).expect("UDP port free again");
    std::net::TcpListener::bind(addr).expect("TCP port free again");
}

/// A peer registers its candidates as the service will, with a standard DNS UPDATE sent
/// from its tunnel address (127.0.0.2 here, in its AllowedIPs), and `dig` sees them at
/// its candidates name until the lease ends.
#[tokio::test]
async fn a_peer_registers_candidates_with_nsupdate_and_dig_sees_them_for_the_lease() {
    let mut dev = device(3);
    dev.peers[1]
        .allowed_ips
        .push("127.0.0.2/32".parse::<IpNet>().unwrap());
    let lease = Duration::from_secs(5);
    let r = Running::start(dev, |c| c.candidate_lease = lease).await;
    let own = format!("_candidates.{}", instance(key(1)));
    let before = r.serial().await;
    let srv_before = r.dig(&["SRV", &instance(key(1))]).await;

    // Before sending: the lease starts when the registry takes the update, after this.
    let registered = Instant::now();
    let (ok, said) = nsupdate(r.addr(), false, &registration(&own)).await;
    assert!(ok, "nsupdate failed: {said}");

    let srv = r.dig(&["+short", "SRV", &own]).await;
    assert_eq!(srv.trim(), format!("0 0 51820 {own}"));
    let extra = squash(&r.dig(&["+noall", "+additional", "SRV", &own]).await);
    assert!(
        extra.contains(&format!("{own} 0 IN A 192.168.1.20")),
        "{extra}"
    );
    assert!(
        extra.contains(&format!("{own} 0 IN AAAA 2001:db8::20")),
        "{extra}"
    );
    let registered_serial = r.serial().await;
    assert!(registered_serial > before, "{registered_serial} > {before}");
    // What wgsd's layout serves is untouched (the ID aside, which dig prints).
    let srv_after = r.dig(&["SRV", &instance(key(1))]).await;
    let answer_of = |out: &str| {
        let out = squash(out);
        let sections = out.split("ANSWER SECTION").nth(1)?;
        sections.split(";; Query time").next().map(str::to_owned)
    };
    assert_eq!(answer_of(&srv_after), answer_of(&srv_before));
    assert!(
        registered.elapsed() < lease,
        "the checks took longer than the lease: they may have seen an expired set"
    );

    // Someone else's name, or a source that is no peer's: refused, nothing changes.
    let theirs = format!("_candidates.{}", instance(key(2)));
    let (ok, said) = nsupdate(
        r.addr(),
        true,
        &format!("local 127.0.0.2\nzone example.com.\ncheck-names off\nupdate add {theirs} 60 A 192.168.1.30\nsend\n"),
    )
    .await;
    assert!(!ok && said.contains("REFUSED"), "{said}");
    let (ok, said) = nsupdate(
        r.addr(),
        true,
        &format!("local 127.0.0.1\nzone example.com.\nupdate delete {own}\nsend\n"),
    )
    .await;
    assert!(!ok && said.contains("REFUSED"), "{said}");
    assert_eq!(r.serial().await, registered_serial);

    // Not registered again: gone when the lease ends, and the serial says so.
    r.wait_for(&["SRV", &own], Duration::from_secs(30), |o| {
        status(o) == "NXDOMAIN"
    })
    .await;
    assert!(registered.elapsed() >= lease, "gone before its lease ended");
    assert!(r.serial().await > registered_serial);
}

/// A peer taken off the device loses its candidates: put back, it is served without them
/// until it registers again.
#[tokio::test]
async fn a_peer_removed_from_the_device_loses_its_candidates() {
    let mut dev = device(2);
    dev.peers[1]
        .allowed_ips
        .push("127.0.0.2/32".parse::<IpNet>().unwrap());
    let r = Running::start(dev.clone(), |_| {}).await;
    let own = format!("_candidates.{}", instance(key(1)));
    let (ok, said) = nsupdate(r.addr(), false, &registration(&own)).await;
    assert!(ok, "nsupdate failed: {said}");
    assert_eq!(status(&r.dig(&["SRV", &own]).await), "NOERROR");

    let mut without = dev.clone();
    without.peers.remove(1);
    r.memory.put_device(without);
    r.wait_for(&["SRV", &instance(key(1))], Duration::from_secs(10), |o| {
        status(o) == "NXDOMAIN"
    })
    .await;
    r.memory.put_device(dev);
    r.wait_for(&["SRV", &instance(key(1))], Duration::from_secs(10), |o| {
        status(o) == "NOERROR"
    })
    .await;
    assert_eq!(status(&r.dig(&["SRV", &own]).await), "NXDOMAIN");
}
