//! The internet's delay, seen by a plain ping across it: alice's LAN to the registry's
//! public address crosses `inet` once each way.
#![cfg(target_os = "linux")]

use std::time::Duration;

use punchwire_lab::{Host, Lab};

const ONE_WAY: Duration = Duration::from_millis(20);

/// The round trips of `count` pings from alice to the registry's public address, in ms.
fn round_trips(lab: &Lab, count: usize) -> Vec<f64> {
    let target = lab.registry_ip().to_string();
    let count = count.to_string();
    let args = ["ping", "-n", "-c", &count, "-i", "0.05", "-W", "2", &target];
    let out = lab
        .exec(Host::Alice, &args)
        .expect("alice pings the registry");
    out.lines()
        .filter_map(|line| line.split("time=").nth(1))
        .map(|t| t.trim_end_matches(" ms").parse().expect("a time in ms"))
        .collect()
}

#[test]
fn every_packet_across_the_internet_waits_the_delay_and_none_once_it_ends() {
    if !punchwire_lab::can_run("internet delay") {
        return;
    }
    let lab = Lab::builder().build().expect("the lab builds");
    lab.with_diagnostics_on_panic(|lab| {
        let before = round_trips(lab, 5);
        assert!(before.iter().all(|&rtt| rtt < 10.0), "{before:?}");

        let delay = lab.delay_internet(ONE_WAY).unwrap();
        let delayed = round_trips(lab, 20);
        assert_eq!(delayed.len(), 20, "every ping answered: {delayed:?}");
        let path = 2.0 * ONE_WAY.as_secs_f64() * 1000.0;
        for rtt in &delayed {
            // Never early; late by the thread's polling and a busy machine's scheduling.
            assert!(
                *rtt >= path && *rtt < path * 1.5,
                "{rtt} ms, path {path} ms"
            );
        }
        delay.finish().unwrap();

        let after = round_trips(lab, 5);
        assert!(after.iter().all(|&rtt| rtt < 10.0), "{after:?}");
        let rules = lab
            .exec(punchwire_lab::Node::Inet, &["iptables", "-S", "FORWARD"])
            .unwrap();
        assert!(!rules.contains("NFQUEUE"), "{rules}");
    });
}
