//! Windows: the control protocol over a real named pipe between two processes, as the
//! CLI and the tray app meet the service. Run under Wine by scripts/check-platforms.
//!
//! The server is this same test program started again with `PUNCHWIRE_PIPE_SERVER` set
//! (so client and server are separate processes, as in real use); it serves a fake
//! service on the pipe until its stdin closes.
#![cfg(windows)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Command as Process, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use punchwire_control::client::{ClientError, ControlClient};
use punchwire_control::protocol::{Command, ErrorBody, ErrorCode};
use punchwire_service::control::auth::AccessPolicy;
use punchwire_service::control::server::{serve, ControlHandler};
use punchwire_service::control::transport::ControlListener;
use serde_json::{json, Value};
use tokio::sync::broadcast;

const SERVER_ENV: &str = "PUNCHWIRE_PIPE_SERVER";

struct Fake {
    events: broadcast::Sender<Value>,
}

impl ControlHandler for Fake {
    async fn handle(&self, command: Command) -> Result<Value, ErrorBody> {
        match command {
            Command::Status => {
                Ok(json!({"version": 1, "interfaces": [], "served_by": std::process::id()}))
            }
            Command::Pause { .. } => {
                let _ = self.events.send(json!({"type": "paused", "iface": null}));
                Ok(Value::Null)
            }
            other => Err(ErrorBody::new(
                ErrorCode::Failed,
                format!("{other:?} not in this fake"),
            )),
        }
    }

    fn events(&self) -> broadcast::Receiver<Value> {
        self.events.subscribe()
    }
}

/// The server half: runs only in the child process.
#[test]
fn pipe_server_process() {
    let Ok(pipe) = std::env::var(SERVER_ENV) else {
        return; // not the child: nothing to do
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let policy = AccessPolicy::for_group("Punchwire Users");
        let listener = ControlListener::bind(pipe.as_ref(), &policy).unwrap();
        println!("listening");
        let (events, _) = broadcast::channel(8);
        let fake = Arc::new(Fake { events });
        // Stop when the parent closes our stdin.
        let stop = tokio::task::spawn_blocking(|| {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
        });
        serve(listener, policy, fake, async {
            let _ = stop.await;
        })
        .await;
    });
}

struct Server {
    child: std::process::Child,
}

impl Server {
    fn start(pipe: &str) -> Self {
        let mut child = Process::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "pipe_server_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(SERVER_ENV, pipe)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // Wait for its word that the pipe exists, bounded.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.contains("listening") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(30))
            .expect("the server process says it is listening within 30 s");
        Self { child }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
    }
}

fn pipe_name(test: &str) -> String {
    format!(r"\\.\pipe\punchwire-test-{test}-{}", std::process::id())
}

#[tokio::test]
async fn status_and_events_cross_the_pipe_between_two_processes() {
    let pipe = pipe_name("status");
    let server = Server::start(&pipe);

    let mut watcher = ControlClient::connect(pipe.as_ref()).await.unwrap();
    let status = watcher.request(Command::Status).await.unwrap();
    assert_eq!(status["version"], 1);
    assert_eq!(
        status["served_by"],
        server.child.id(),
        "answered by the other process"
    );
    watcher.subscribe().await.unwrap();

    // A second client, on its own pipe instance, makes the service emit an event.
    let mut other = ControlClient::connect(pipe.as_ref()).await.unwrap();
    other
        .request(Command::Pause { interface: None })
        .await
        .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), watcher.next_event())
        .await
        .expect("the event arrives within 10 s")
        .unwrap();
    assert_eq!(event["type"], "paused");

    // The protocol's errors arrive as on Unix.
    let err = other.request(Command::Reload).await.unwrap_err();
    assert!(
        matches!(
            &err,
            ClientError::Refused {
                code: ErrorCode::Failed,
                ..
            }
        ),
        "{err:?}"
    );
    drop(server);
}

#[tokio::test]
async fn no_service_is_not_running_with_the_windows_hint() {
    let pipe = pipe_name("absent");
    let err = match ControlClient::connect(pipe.as_ref()).await {
        Err(e) => e,
        Ok(_) => panic!("nothing serves {pipe}"),
    };
    assert!(matches!(err, ClientError::NotRunning(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("Start-Service Punchwire"), "{message}");
}

/// Windows refuses a second "first instance" of a pipe; Wine 8 does not, so
/// scripts/check-platforms skips this test under Wine.
#[tokio::test]
async fn a_second_service_on_the_same_pipe_is_refused() {
    let pipe = pipe_name("twice");
    let _server = Server::start(&pipe);
    let policy = AccessPolicy::for_group("Punchwire Users");
    let err = match ControlListener::bind(pipe.as_ref(), &policy) {
        Err(e) => e,
        Ok(_) => panic!("a second listener on {pipe} must fail"),
    };
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "{err}");
}
