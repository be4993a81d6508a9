//! The real `punchwire` binary as a user runs it: a service in the background, CLI
//! commands with a deadline, a scratch directory that other users can enter. Every
//! resource lives in a guard that cleans up on drop, panics included.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const BIN: &str = env!("CARGO_BIN_EXE_punchwire");

/// How long any single step may take before the test gives up and says which one.
pub const STEP: Duration = Duration::from_secs(5);

/// Root is needed (users, groups, sockets owned by a group): see
/// `punchwire_testkit::can_run` for what happens without it.
pub fn have_root(test: &str) -> bool {
    punchwire_testkit::can_run(
        test,
        punchwire_testkit::missing_root("users, groups and sockets owned by a group"),
    )
}

/// A short name part unique to this process and call: several test runs (and other
/// helpers' tests) share one machine, its users and its /tmp.
pub fn unique_tag() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mixed = std::process::id()
        .wrapping_mul(2_654_435_761)
        .wrapping_add(nanos)
        .wrapping_add(COUNTER.fetch_add(1, Ordering::Relaxed).wrapping_mul(40_503));
    format!("{:06x}", mixed & 0xff_ffff)
}

/// Polls `condition` until it holds or `timeout` passes; the error says what was
/// awaited.
pub fn wait_until(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A directory under /tmp that the test's unprivileged users can traverse (0755), and
/// that is removed with everything in it on drop.
pub struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("pwt-svc-{tag}"));
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", dir.display()));
        Self { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes a file whole, through a rename, so that a service reloading at the same
    /// moment never reads half of it.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        let partial = self.path(&format!(".{name}.partial"));
        fs::write(&partial, text).unwrap_or_else(|e| panic!("write {}: {e}", partial.display()));
        fs::rename(&partial, &path).unwrap_or_else(|e| panic!("rename to {}: {e}", path.display()));
        path
    }

    /// `config.toml` with one interface in zone `example.com.` and the socket open to
    /// root only: what most tests start from.
    pub fn one_interface_config(&self, socket: &Path, iface: &str, paused: bool) -> PathBuf {
        let ifaces = [Iface {
            name: iface,
            zone: "example.com.",
            paused,
        }];
        self.write("config.toml", &config_text(socket, "root", &ifaces))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// One `[[interface]]` of a service config. The interface does not exist: the service
/// runs anyway and reports the error in its status, which is all these tests need.
pub struct Iface<'a> {
    pub name: &'a str,
    pub zone: &'a str,
    pub paused: bool,
}

/// A config with the control socket at `socket` owned by `group`. The registry
/// address is a loopback port nobody serves, so that probes fail at once instead of
/// waiting for a timeout.
pub fn config_text(socket: &Path, group: &str, ifaces: &[Iface<'_>]) -> String {
    let mut text = format!(
        "[control]\nsocket = \"{}\"\ngroup = \"{group}\"\n",
        socket.display()
    );
    for iface in ifaces {
        text.push_str(&format!(
            "\n[[interface]]\nname = \"{}\"\nzone = \"{}\"\nregistries = [\"127.0.0.1:9\"]\n\
             interval = \"30s\"\npoll = \"1s\"\nhandshake_threshold = \"150s\"\npaused = {}\n",
            iface.name, iface.zone, iface.paused
        ));
    }
    text
}

/// `punchwire service` running in the background; killed on drop if still running.
pub struct ServiceProcess {
    child: Child,
    log: PathBuf,
}

impl ServiceProcess {
    /// Starts the service and waits until its control socket answers.
    pub fn start(config: &Path, socket: &Path) -> Self {
        let log = config.with_extension("log");
        let log_file = fs::File::create(&log).expect("service log file");
        let child = Command::new(BIN)
            .args(["--log", "info", "service", "--config"])
            .arg(config)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log file handle"))
            .stderr(log_file)
            .spawn()
            .expect("spawn punchwire service");
        let mut service = Self { child, log };
        let deadline = Instant::now() + STEP;
        loop {
            if std::os::unix::net::UnixStream::connect(socket).is_ok() {
                return service;
            }
            if let Ok(Some(status)) = service.child.try_wait() {
                panic!(
                    "the service exited ({status}) before opening {}:\n{}",
                    socket.display(),
                    service.log()
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "no control socket at {} after {STEP:?}:\n{}",
                    socket.display(),
                    service.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the service logged so far (its stdout and stderr).
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends a signal the way an administrator would: with kill(1).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {} failed", self.pid());
    }

    /// Waits for the service to exit on its own.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the service") {
                return status;
            }
            if Instant::now() >= deadline {
                panic!(
                    "the service did not exit within {timeout:?}:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(40)..];
            eprintln!(
                "--- service log (last {} lines) ---\n{}",
                tail.len(),
                tail.join("\n")
            );
        }
    }
}

/// The outcome of one CLI command, as text.
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }

    #[track_caller]
    pub fn assert_ok(&self, what: &str) -> &Self {
        assert!(
            self.status.success(),
            "{what}: expected success, got {}\nstdout: {}\nstderr: {}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn assert_refused(&self, what: &str, says: &[&str]) -> &Self {
        assert!(
            !self.status.success(),
            "{what}: expected a failure, got success\nstdout: {}",
            self.stdout
        );
        for part in says {
            assert!(
                self.stderr.contains(part),
                "{what}: stderr should contain {part:?}:\n{}",
                self.stderr
            );
        }
        self
    }
}

/// Runs `punchwire <args>` to completion within [`STEP`], optionally wrapped (e.g. by
/// setpriv to run as another user).
pub fn run_as(wrapper: &[String], args: &[&str]) -> Run {
    let mut argv: Vec<String> = wrapper.to_vec();
    argv.push(BIN.to_owned());
    argv.extend(args.iter().map(|a| (*a).to_owned()));
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .env("NO_COLOR", "1")
        .env_remove("PUNCHWIRE_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {argv:?}: {e}"));
    // Readers on threads of their own, so that a chatty command cannot fill a pipe
    // and stall while we wait for it.
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + STEP;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for punchwire") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{argv:?} did not finish within {STEP:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Run {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// Runs `punchwire <args>` as root (the test's own user).
pub fn run(args: &[&str]) -> Run {
    run_as(&[], args)
}

/// A long-running CLI command (`punchwire events`) whose stdout lines are collected on
/// a thread; killed on drop if still running.
pub struct Follower {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Follower {
    pub fn spawn(args: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("PUNCHWIRE_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn punchwire {args:?}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self { child, lines }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next line, or `None` when none came within `timeout`.
    pub fn next_line(&self, timeout: Duration) -> Option<String> {
        self.lines.recv_timeout(timeout).ok()
    }

    /// How it ended, if it has.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("wait for punchwire")
    }

    /// Waits for the command to end by itself (its stdout closed and it exited).
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for punchwire") {
                return status;
            }
            if Instant::now() >= deadline {
                panic!("the follower did not exit within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
