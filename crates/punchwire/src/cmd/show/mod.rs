//! `punchwire show`: what each WireGuard device holds, read through our backend.

mod json;
mod text;

use std::io::Write;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Context;
use punchwire_control::escape::display_safe;
use punchwire_wg::{Backend, Device, SystemBackend};

#[derive(clap::Args)]
pub struct Args {
    /// Interface to show; every interface found (kernel and userspace) when omitted.
    iface: Option<String>,

    /// Print stable JSON (documented in README.md, "punchwire show --json").
    #[arg(long)]
    json: bool,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let backend = Backend::new(SystemBackend::new());
    let names = match &args.iface {
        Some(iface) => vec![iface.clone()],
        None => backend
            .interfaces()
            .await
            .context("cannot list WireGuard interfaces")?,
    };

    let mut devices: Vec<Device> = Vec::new();
    let mut failed = false;
    for name in &names {
        match backend.device(name).await {
            Ok(device) => devices.push(device),
            Err(e) if args.iface.is_some() => return Err(e.into()),
            // One broken daemon must not hide the healthy interfaces next to it.
            Err(e) => {
                eprintln!("punchwire: {}", display_safe(&e.to_string()));
                failed = true;
            }
        }
    }
    if args.iface.is_none() && names.is_empty() {
        eprintln!(
            "punchwire: no WireGuard interfaces found (looked for kernel devices and for \
             userspace sockets in /var/run/wireguard)"
        );
    }

    let now = SystemTime::now();
    let rendered = if args.json {
        json::render(&devices, now)
    } else {
        text::render(&devices, now)
    };
    std::io::stdout()
        .write_all(rendered.as_bytes())
        .context("cannot write to stdout")?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
