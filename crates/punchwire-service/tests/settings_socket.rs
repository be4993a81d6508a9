//! The real service behind a real control socket, as clients that edit its settings meet
//! it: saves based on an old read are refused instead of undoing someone else's change,
//! the hand-written file stays recoverable, and a wedged WireGuard daemon slows `status`
//! down without holding up anybody else. (Unix socket and UAPI fakes: Linux and macOS.)
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use punchwire_control::client::{ClientError, ControlClient};
use punchwire_control::config_file::backup_path;
use punchwire_control::protocol::{Command, ErrorCode};
use punchwire_service::config::Config;
use punchwire_service::control::auth::AccessPolicy;
use punchwire_service::control::server::serve;
use punchwire_service::control::unix::ControlListener;
use punchwire_service::service::Service;
use punchwire_wg::{
    Backend, BackendError, Device, Endpoint, MemoryBackend, Peer, PublicKey, WireGuard,
};
use serde_json::Value;
use tokio::sync::oneshot;

/// How long anything that must not wait on a device may take.
const PROMPT: Duration = Duration::from_secs(2);

/// A configuration as a person writes it: with comments.
fn hand_written(socket: &Path) -> String {
    format!(
        r#"# Our office mesh. This comment exists only in the file a person wrote.
[control]
socket = "{}"
group = "root"

[[interface]]
name = "pwtest0"
zone = "office.example."
registries = ["127.0.0.1:9"]
# Started paused: nothing here should touch a device unless a test says so.
paused = true
"#,
        socket.display()
    )
}

struct Running {
    _dir: tempfile::TempDir,
    config: PathBuf,
    socket: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn start(backend: Backend) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("control.sock");
        let config = dir.path().join("config.toml");
        std::fs::write(&config, hand_written(&socket)).unwrap();
        let loaded = Config::read(&config).unwrap();
        let policy = AccessPolicy::for_group("root");
        let listener = ControlListener::bind(&socket, &policy).unwrap();
        let service = Service::start(&config, loaded, backend).await;
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(serve(listener, policy, service, async {
            let _ = stopped.await;
        }));
        Self {
            _dir: dir,
            config,
            socket,
            stop: Some(stop),
            task,
        }
    }

    async fn client(&self) -> ControlClient {
        ControlClient::connect(&self.socket).await.unwrap()
    }

    fn on_disk(&self) -> String {
        std::fs::read_to_string(&self.config).unwrap()
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let _ = tokio::time::timeout(PROMPT, self.task).await;
    }
}

/// `get-config`'s answer: the configuration and the revision to hand back.
async fn read_settings(client: &mut ControlClient) -> (Value, String) {
    let got = client.request(Command::GetConfig).await.unwrap();
    let revision = got["revision"]
        .as_str()
        .unwrap_or_else(|| panic!("get-config gives a revision: {got:#}"))
        .to_owned();
    (got["config"].clone(), revision)
}

async fn save(
    client: &mut ControlClient,
    config: Value,
    revision: &str,
) -> Result<Value, ClientError> {
    client
        .request(Command::SetConfig {
            config,
            revision: revision.to_owned(),
        })
        .await
}

fn refused(result: Result<Value, ClientError>) -> (ErrorCode, String) {
    match result {
        Err(ClientError::Refused { code, message, .. }) => (code, message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn two_saves_from_the_same_read_the_second_is_a_conflict_and_the_first_stays() {
    let running = Running::start(Backend::new(MemoryBackend::new())).await;
    let (mut alice, mut bob) = (running.client().await, running.client().await);
    let (mut alice_config, revision) = read_settings(&mut alice).await;
    let (mut bob_config, bobs_revision) = read_settings(&mut bob).await;
    assert_eq!(revision, bobs_revision, "one file, one revision");
    alice_config["interface"][0]["zone"] = "alice.example.".into();
    bob_config["interface"][0]["interval"] = "45s".into();

    let (alices, bobs) = tokio::join!(
        save(&mut alice, alice_config, &revision),
        save(&mut bob, bob_config, &revision)
    );
    // Whichever came second is refused; the other's change is what the file and the
    // service hold.
    let (winner, loser) = match (alices, bobs) {
        (Ok(_), lost) => (("zone", "alice.example."), lost),
        (lost, Ok(_)) => (("interval", "45s"), lost),
        (a, b) => panic!("one of the two saves succeeds: {a:?} / {b:?}"),
    };
    let (code, message) = refused(loser);
    assert_eq!(code, ErrorCode::Conflict, "{message}");
    assert!(
        message.contains("read them again"),
        "says what to do: {message}"
    );

    let written = running.on_disk();
    let (now, new_revision) = read_settings(&mut alice).await;
    assert_eq!(now["interface"][0][winner.0], winner.1, "{now:#}");
    assert!(
        written.contains(&format!("{} = \"{}\"", winner.0, winner.1)),
        "{written}"
    );
    let lost_change = if winner.0 == "zone" {
        ("interval", "45s")
    } else {
        ("zone", "alice.example.")
    };
    assert_ne!(now["interface"][0][lost_change.0], lost_change.1, "{now:#}");
    assert!(!written.contains(lost_change.1), "{written}");
    assert_ne!(new_revision, revision, "a save makes a new revision");
    running.stop().await;
}

#[tokio::test]
async fn the_hand_written_file_survives_two_saves_in_the_backup() {
    let running = Running::start(Backend::new(MemoryBackend::new())).await;
    let original = running.on_disk();
    let mut client = running.client().await;
    let (mut config, mut revision) = read_settings(&mut client).await;
    for interval in ["40s", "50s"] {
        config["interface"][0]["interval"] = interval.into();
        // A save answers with the file's new revision: the next save builds on it.
        let saved = save(&mut client, config.clone(), &revision).await.unwrap();
        revision = saved["revision"].as_str().unwrap().to_owned();
        assert_eq!(read_settings(&mut client).await.1, revision);
    }
    assert!(running.on_disk().contains("interval = \"50s\""));
    let backup = std::fs::read_to_string(backup_path(&running.config)).unwrap();
    assert_eq!(backup, original, "the backup is the file a person wrote");
    assert!(backup.contains("# Our office mesh."));
    running.stop().await;
}

#[tokio::test]
async fn a_hand_edit_since_the_read_is_a_conflict_until_reloaded() {
    let running = Running::start(Backend::new(MemoryBackend::new())).await;
    let mut client = running.client().await;
    let (mut config, revision) = read_settings(&mut client).await;
    let edited = running
        .on_disk()
        .replace("office.example.", "edited.example.");
    std::fs::write(&running.config, &edited).unwrap();

    config["interface"][0]["interval"] = "40s".into();
    let (code, message) = refused(save(&mut client, config.clone(), &revision).await);
    assert_eq!(code, ErrorCode::Conflict, "{message}");
    assert!(
        message.contains("punchwire reload"),
        "says what to do: {message}"
    );
    assert_eq!(running.on_disk(), edited, "nothing was written");

    client.request(Command::Reload).await.unwrap();
    let (mut config, revision) = read_settings(&mut client).await;
    assert_eq!(config["interface"][0]["zone"], "edited.example.");
    config["interface"][0]["interval"] = "40s".into();
    save(&mut client, config, &revision).await.unwrap();
    running.stop().await;
}

#[tokio::test]
async fn the_control_section_cannot_be_changed_through_the_socket() {
    let running = Running::start(Backend::new(MemoryBackend::new())).await;
    let before = running.on_disk();
    let mut client = running.client().await;
    for (field, value) in [("socket", "/tmp/elsewhere.sock"), ("group", "users")] {
        let (mut config, revision) = read_settings(&mut client).await;
        config["control"][field] = value.into();
        let result = client
            .request(Command::SetConfig {
                config,
                revision: revision.clone(),
            })
            .await;
        let (code, message) = refused(result);
        assert_eq!(code, ErrorCode::InvalidConfig, "{message}");
        assert!(
            message.starts_with(&format!(
                "control.{field}: cannot be changed through the control socket"
            )),
            "names the key: {message}"
        );
        assert_eq!(running.on_disk(), before, "nothing was written");
    }
    running.stop().await;
}

#[tokio::test]
async fn a_zone_too_long_for_peer_names_is_refused_at_its_key() {
    let running = Running::start(Backend::new(MemoryBackend::new())).await;
    let mut client = running.client().await;
    let (mut config, revision) = read_settings(&mut client).await;
    let mut zone = vec!["a".repeat(50); 5].join(".");
    zone.truncate(200);
    config["interface"][0]["zone"] = zone.into();
    let line = serde_json::json!({"v": 1, "id": 9, "cmd": "set-config", "config": config, "revision": revision});
    let answer = raw(&running.socket, &line.to_string()).await;
    assert_eq!(answer["error"]["code"], "invalid-config", "{answer:#}");
    assert_eq!(answer["error"]["key"], "interface[0].zone", "{answer:#}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("56-character key label")),
        "says why: {answer:#}"
    );
    running.stop().await;
}

#[tokio::test]
async fn a_registry_outside_the_tunnel_is_refused_and_nothing_changes_unless_allowed() {
    let memory = MemoryBackend::new();
    memory.put_device(Device {
        name: "pwtest0".into(),
        public_key: None,
        listen_port: None,
        fwmark: None,
        peers: vec![punchwire_wg::Peer {
            allowed_ips: vec!["10.99.0.1/32".parse().unwrap()],
            ..Peer::new(PublicKey::from_bytes([1; 32]))
        }],
    });
    let running = Running::start(Backend::new(memory)).await;
    let before = running.on_disk();
    let mut client = running.client().await;
    let (running_config, revision) = read_settings(&mut client).await;

    let mut outside = running_config.clone();
    outside["interface"][0]["registries"] = serde_json::json!(["10.99.0.1:53", "198.51.100.53:53"]);
    let line = serde_json::json!({"v": 1, "id": 7, "cmd": "set-config", "config": outside, "revision": revision});
    let answer = raw(&running.socket, &line.to_string()).await;
    assert_eq!(answer["error"]["code"], "invalid-config", "{answer:#}");
    assert_eq!(
        answer["error"]["key"], "interface[0].registries[1]",
        "{answer:#}"
    );
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    for part in [
        "registry 198.51.100.53:53 is outside the tunnel of pwtest0",
        "unauthenticated",
        "allow_registry_outside_tunnel = true",
    ] {
        assert!(message.contains(part), "{part:?} in {message}");
    }
    assert_eq!(running.on_disk(), before, "nothing was written");
    assert_eq!(
        read_settings(&mut client).await,
        (running_config, revision.clone()),
        "the running configuration is unchanged"
    );

    outside["interface"][0]["allow_registry_outside_tunnel"] = true.into();
    save(&mut client, outside, &revision).await.unwrap();
    let (now, _) = read_settings(&mut client).await;
    assert_eq!(now["interface"][0]["registries"][1], "198.51.100.53:53");
    assert_eq!(now["interface"][0]["allow_registry_outside_tunnel"], true);
    assert!(running
        .on_disk()
        .contains("allow_registry_outside_tunnel = true"));
    running.stop().await;
}

/// One request line and its answer, as JSON, on a fresh connection.
async fn raw(socket: &Path, line: &str) -> Value {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    let (read, mut write) = stream.into_split();
    write
        .write_all(format!("{line}\n").as_bytes())
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(PROMPT, BufReader::new(read).read_line(&mut answer))
        .await
        .expect("an answer")
        .unwrap();
    serde_json::from_str(&answer).unwrap()
}

/// A WireGuard daemon that stops answering: the first read of a device hangs until the
/// test lets it go; every read after it fails at once, as for an interface that is gone.
#[derive(Clone, Default)]
struct Wedged {
    state: Arc<(Mutex<WedgeState>, Condvar)>,
}

#[derive(Default)]
struct WedgeState {
    hanging: bool,
    used: bool,
    released: bool,
}

impl Wedged {
    fn wait_until_hanging(&self, within: Duration) {
        let (lock, changed) = &*self.state;
        let state = lock.lock().unwrap();
        let (state, _) = changed
            .wait_timeout_while(state, within, |s| !s.hanging)
            .unwrap();
        assert!(state.hanging, "status never read the device");
    }

    fn release(&self) {
        let (lock, changed) = &*self.state;
        lock.lock().unwrap().released = true;
        changed.notify_all();
    }
}

/// Lets the hanging read go however the test ends, so that its thread ends too.
struct Release(Wedged);

impl Drop for Release {
    fn drop(&mut self) {
        self.0.release();
    }
}

impl WireGuard for Wedged {
    fn kind(&self) -> &'static str {
        "wedged"
    }

    fn interfaces(&self) -> Result<Vec<String>, BackendError> {
        Ok(Vec::new())
    }

    fn device(&self, iface: &str) -> Result<Device, BackendError> {
        let (lock, changed) = &*self.state;
        let mut state = lock.lock().unwrap();
        if !state.used {
            state.used = true;
            state.hanging = true;
            changed.notify_all();
            let _state = changed.wait_while(state, |s| !s.released).unwrap();
        }
        Err(BackendError::NoSuchInterface {
            iface: iface.to_owned(),
        })
    }

    fn set_endpoint(&self, iface: &str, _: &Peer, _: Endpoint) -> Result<(), BackendError> {
        Err(BackendError::NoSuchInterface {
            iface: iface.to_owned(),
        })
    }

    fn rebind(&self, iface: &str) -> Result<(), BackendError> {
        Err(BackendError::NoSuchInterface {
            iface: iface.to_owned(),
        })
    }

    fn set_allowed_ips(
        &self,
        iface: &str,
        _: &[(PublicKey, Vec<ipnet::IpNet>)],
    ) -> Result<(), BackendError> {
        Err(BackendError::NoSuchInterface {
            iface: iface.to_owned(),
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wedged_device_read_in_status_does_not_hold_up_other_clients() {
    let wedged = Wedged::default();
    let _release = Release(wedged.clone());
    // Long enough that only the release can end the hanging read within the test.
    let backend = Backend::new(wedged.clone()).with_deadline(Duration::from_secs(60));
    let running = Running::start(backend).await;

    let mut watcher = running.client().await;
    let status = tokio::spawn(async move { watcher.request(Command::Status).await });
    let hanging = wedged.clone();
    tokio::task::spawn_blocking(move || hanging.wait_until_hanging(PROMPT))
        .await
        .unwrap();

    let mut other = running.client().await;
    tokio::time::timeout(PROMPT, async {
        other
            .request(Command::Resume { interface: None })
            .await
            .unwrap();
        other
            .request(Command::Pause { interface: None })
            .await
            .unwrap();
        let (mut config, revision) = read_settings(&mut other).await;
        config["interface"][0]["interval"] = "40s".into();
        save(&mut other, config, &revision).await.unwrap();
    })
    .await
    .expect("pause, resume and set-config answer while status waits on the device");
    assert!(
        !status.is_finished(),
        "status is still waiting on the device"
    );

    wedged.release();
    let answered = tokio::time::timeout(PROMPT, status)
        .await
        .expect("status answers once the device does")
        .unwrap()
        .unwrap();
    assert!(
        answered["interfaces"][0]["error"].is_string(),
        "the failed read is reported: {answered:#}"
    );
    running.stop().await;
}
