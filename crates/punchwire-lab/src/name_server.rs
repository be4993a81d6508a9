//! A DNS server in the lab's internet: a real Knot DNS in inet's namespace, serving one
//! zone of A records that a test can change, for what resolves names through the
//! system's resolver (see [`Lab::use_resolver`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::error::{LabError, Result};
use crate::lab::{Lab, Spawned};
use crate::topology::{Host, Node, REGISTRY_GATEWAY};
use crate::wait::wait_until_ok;

/// How long Knot may take to serve a zone, at start or after a change.
const SERVE_TIMEOUT: Duration = Duration::from_secs(20);

/// Knot serving one zone from inet, listening on every inet address, port 53.
pub struct NameServer {
    zone: String,
    dir: PathBuf,
    serial: u32,
    records: BTreeMap<String, Ipv4Addr>,
    pub process: Spawned,
}

/// The address `host` asks the lab's name server at: inet's address on the host's
/// public network (its NAT's upstream, or the registry's gateway).
pub fn name_server_ip(host: Host) -> Ipv4Addr {
    match host.nat() {
        Some(nat) => nat.upstream_ip(),
        None => REGISTRY_GATEWAY,
    }
}

impl Lab {
    /// Starts Knot serving `zone` (`example.net.`) with `records` (`home` → an
    /// address), with a TTL of 1 s: what is tested is who asks again, not how long
    /// caches hold an answer. Returns once alice's `dig` gets every record.
    pub fn start_name_server(
        &self,
        zone: &str,
        records: &[(&str, Ipv4Addr)],
    ) -> Result<NameServer> {
        let dir = self.state_dir().join("knot");
        fs::create_dir_all(&dir)
            .map_err(|e| LabError::io(format!("creating {}", dir.display()), e))?;
        let conf = format!(
            "server:\n  rundir: \"{d}\"\n  listen: 0.0.0.0@53\n  \
             udp-workers: 1\n  tcp-workers: 1\n  background-workers: 1\n\
             database:\n  storage: \"{d}\"\n\
             log:\n  - target: stderr\n    any: info\n\
             template:\n  - id: default\n    storage: \"{d}\"\n    file: \"%s.zone\"\n\
             zone:\n  - domain: {zone}\n",
            d = dir.display()
        );
        let conf_path = dir.join("knot.conf");
        fs::write(&conf_path, conf)
            .map_err(|e| LabError::io(format!("writing {}", conf_path.display()), e))?;
        let records: BTreeMap<String, Ipv4Addr> = records
            .iter()
            .map(|(name, ip)| ((*name).to_owned(), *ip))
            .collect();
        // The zone file must exist before knotd starts.
        write_zone(&dir, zone, 1, &records)?;
        let socket = dir.join("knot.sock");
        let mut knotd = Command::new("/usr/sbin/knotd");
        knotd.arg("-c").arg(&conf_path).arg("-s").arg(&socket);
        let process = self.spawn(Node::Inet, knotd)?;
        let server = NameServer {
            zone: zone.to_owned(),
            dir,
            serial: 1,
            records,
            process,
        };
        server.wait_served(self)?;
        Ok(server)
    }
}

impl NameServer {
    /// `name.zone`, as a resolver is asked for it.
    pub fn fqdn(&self, name: &str) -> String {
        format!("{name}.{}", self.zone.trim_end_matches('.'))
    }

    /// Points `name` at `address` and returns once Knot answers it.
    pub fn set(&mut self, lab: &Lab, name: &str, address: Ipv4Addr) -> Result<()> {
        self.records.insert(name.to_owned(), address);
        self.write_zone()?;
        let conf = self.dir.join("knot.conf").display().to_string();
        let socket = self.socket().display().to_string();
        let args = [
            "/usr/sbin/knotc",
            "-c",
            &conf,
            "-s",
            &socket,
            "-b",
            "zone-reload",
            &self.zone,
        ];
        lab.exec(Node::Inet, &args)?;
        self.wait_served(lab)
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("knot.sock")
    }

    /// The zone file, with a new serial.
    fn write_zone(&mut self) -> Result<()> {
        self.serial += 1;
        write_zone(&self.dir, &self.zone, self.serial, &self.records)
    }

    /// Until alice's `dig` at her name server gets every record as it is now.
    fn wait_served(&self, lab: &Lab) -> Result<()> {
        let server = format!("@{}", name_server_ip(Host::Alice));
        for (name, ip) in &self.records {
            let fqdn = self.fqdn(name);
            let want = ip.to_string();
            wait_until_ok(
                SERVE_TIMEOUT,
                &format!("the lab's DNS answering {fqdn} with {want}"),
                || {
                    let args = ["dig", "+short", "+time=1", "+tries=1", &server, &fqdn, "A"];
                    let out = lab.try_exec(Host::Alice, &args)?;
                    Ok(String::from_utf8_lossy(&out.stdout).trim() == want)
                },
            )?;
        }
        Ok(())
    }
}

/// `zone`'s file in `dir`, as Knot's `%s.zone` names it (without the final dot).
fn write_zone(
    dir: &std::path::Path,
    zone: &str,
    serial: u32,
    records: &BTreeMap<String, Ipv4Addr>,
) -> Result<()> {
    let mut text = format!(
        "$ORIGIN {zone}\n$TTL 1\n@ SOA ns hostmaster {serial} 60 60 600 1\n@ NS ns\n\
         ns A {REGISTRY_GATEWAY}\n"
    );
    for (name, ip) in records {
        let _ = writeln!(text, "{name} A {ip}");
    }
    let path = dir.join(format!("{}.zone", zone.trim_end_matches('.')));
    fs::write(&path, text).map_err(|e| LabError::io(format!("writing {}", path.display()), e))
}
