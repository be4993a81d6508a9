//! The control socket as a client meets it: answers, errors, events, and a service
//! that stays up whatever a client sends. (Unix socket; the named pipe is control_pipe.rs.)
#![cfg(unix)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use punchwire_control::client::{ClientError, ControlClient};
use punchwire_control::protocol::{Command, ErrorBody, ErrorCode};
use punchwire_service::control::auth::AccessPolicy;
use punchwire_service::control::server::{serve_with_limits, ControlHandler, Limits};
use punchwire_service::control::unix::ControlListener;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::{broadcast, oneshot};

struct Fake {
    events: broadcast::Sender<Value>,
    pauses: AtomicUsize,
}

impl ControlHandler for Fake {
    async fn handle(&self, command: Command) -> Result<Value, ErrorBody> {
        match command {
            Command::Status => Ok(json!({"paused": self.pauses.load(Ordering::SeqCst) > 0})),
            Command::Pause { .. } => {
                self.pauses.fetch_add(1, Ordering::SeqCst);
                Ok(Value::Null)
            }
            Command::Reload => Err(ErrorBody::new(
                ErrorCode::Failed,
                "config.toml: interface[0].zone: bad",
            )),
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

struct Running {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    fake: Arc<Fake>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(5), self.task.take().unwrap())
            .await
            .expect("the server stops when asked")
            .unwrap();
    }
}

async fn start() -> Running {
    start_with(Limits::default()).await
}

async fn start_with(limits: Limits) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run/control.sock");
    let policy = AccessPolicy::for_group("root");
    let listener = ControlListener::bind(&path, &policy).unwrap();
    let (events, _) = broadcast::channel(4);
    let fake = Arc::new(Fake {
        events,
        pauses: AtomicUsize::new(0),
    });
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(serve_with_limits(
        listener,
        policy,
        Arc::clone(&fake),
        limits,
        async {
            let _ = stopped.await;
        },
    ));
    Running {
        _dir: dir,
        path,
        fake,
        stop: Some(stop),
        task: Some(task),
    }
}

async fn raw_exchange(path: &std::path::Path, lines: &[&[u8]]) -> Vec<Value> {
    let stream = UnixStream::connect(path).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut answers = Vec::new();
    for line in lines {
        // The service may close on us mid-write (an oversized line): read what it said.
        let _ = write.write_all(line).await;
        let _ = write.write_all(b"\n").await;
        let mut answer = String::new();
        let n = tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut answer))
            .await
            .expect("every line gets an answer")
            .unwrap();
        if n == 0 {
            break;
        }
        answers.push(serde_json::from_str(&answer).unwrap());
    }
    answers
}

#[tokio::test]
async fn the_socket_is_group_readable_and_answers_commands() {
    use std::os::unix::fs::PermissionsExt;
    let running = start().await;
    let mode = std::fs::metadata(&running.path)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o660);

    let mut client = ControlClient::connect(&running.path).await.unwrap();
    assert_eq!(
        client.request(Command::Status).await.unwrap(),
        json!({"paused": false})
    );
    client
        .request(Command::Pause { interface: None })
        .await
        .unwrap();
    assert_eq!(
        client.request(Command::Status).await.unwrap(),
        json!({"paused": true})
    );
    match client.request(Command::Reload).await {
        Err(ClientError::Refused {
            code: ErrorCode::Failed,
            message,
            ..
        }) => {
            assert!(message.contains("interface[0].zone"), "{message}")
        }
        other => panic!("expected the reload error, got {other:?}"),
    }
    running.stop().await;
}

#[tokio::test]
async fn malformed_lines_get_an_error_and_the_connection_stays_usable() {
    let running = start().await;
    let answers = raw_exchange(
        &running.path,
        &[
            b"{not json",
            br#"{"v":1,"id":2,"cmd":"explode"}"#,
            b"\xff\xfe",
            br#"{"v":1,"id":3,"cmd":"status"}"#,
        ],
    )
    .await;
    assert_eq!(answers.len(), 4, "{answers:?}");
    for answer in &answers[..3] {
        assert_eq!(answer["ok"], false, "{answer}");
        assert_eq!(answer["error"]["code"], "bad-request", "{answer}");
    }
    assert_eq!(answers[3]["ok"], true);
    assert_eq!(answers[3]["id"], 3);
    running.stop().await;
}

#[tokio::test]
async fn an_oversized_line_is_refused_and_the_service_keeps_serving() {
    let running = start().await;
    let huge = vec![b'x'; 200 * 1024];
    let answers = raw_exchange(&running.path, &[&huge, br#"{"v":1,"id":1,"cmd":"status"}"#]).await;
    assert_eq!(
        answers.len(),
        1,
        "the connection closes after a too-large line: {answers:?}"
    );
    assert_eq!(answers[0]["error"]["code"], "too-large");
    // Others are not affected.
    let mut client = ControlClient::connect(&running.path).await.unwrap();
    client.request(Command::Status).await.unwrap();
    running.stop().await;
}

#[tokio::test]
async fn subscribers_receive_events_and_laggards_are_told() {
    let running = start().await;
    let mut client = ControlClient::connect(&running.path).await.unwrap();
    client.subscribe().await.unwrap();
    running
        .fake
        .events
        .send(json!({"type": "endpoint-changed", "peer": "a"}))
        .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), client.next_event())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event["type"], "endpoint-changed");

    // The channel holds 4: ten unread events overflow it.
    for i in 0..10 {
        running.fake.events.send(json!({"n": i})).unwrap();
    }
    match tokio::time::timeout(Duration::from_secs(5), client.next_event())
        .await
        .unwrap()
    {
        Err(ClientError::Refused {
            code: ErrorCode::Lagged,
            message,
            ..
        }) => {
            assert!(message.contains("re-read status"), "{message}")
        }
        other => panic!("expected a lag notice, got {other:?}"),
    }
    running.stop().await;
}

#[tokio::test]
async fn a_second_service_on_the_same_socket_is_refused_and_a_stale_one_replaced() {
    let running = start().await;
    let policy = AccessPolicy::for_group("root");
    let err = ControlListener::bind(&running.path, &policy)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("already listening"), "{err}");
    let path = running.path.clone();
    // A socket file with nobody behind it (a crashed service) is replaced.
    let stale = std::os::unix::net::UnixListener::bind(path.with_extension("stale")).unwrap();
    drop(stale);
    ControlListener::bind(&path.with_extension("stale"), &policy).unwrap();
    running.stop().await;
    assert!(!path.exists(), "the socket file is removed at shutdown");
}

#[tokio::test]
async fn a_missing_service_is_reported_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let err = ControlClient::connect(&dir.path().join("control.sock"))
        .await
        .err()
        .unwrap();
    let message = err.to_string();
    assert!(
        message.contains("not running") && message.contains("systemctl start punchwire"),
        "{message}"
    );
}

/// Every command, reading the configuration included, is for root and the control
/// group: the configuration names the registries and the mesh's zone.
#[tokio::test]
async fn someone_outside_the_group_may_not_even_read() {
    use punchwire_service::control::auth::PeerIdentity;
    use punchwire_service::control::server::serve_connection;

    let (events, _) = broadcast::channel(4);
    let fake = Fake {
        events,
        pauses: AtomicUsize::new(0),
    };
    let policy = AccessPolicy::for_group("punchwire-no-such-group");
    let outsider = PeerIdentity {
        uid: 4242,
        gid: 4242,
        pid: None,
    };
    let (client, server) = tokio::io::duplex(64 * 1024);
    let serving = serve_connection(server, outsider, &policy, &fake);
    let asking = async {
        let (read, mut write) = tokio::io::split(client);
        let mut lines = BufReader::new(read).lines();
        let mut codes = Vec::new();
        for cmd in ["get-config", "status", "subscribe", "pause"] {
            let line = format!("{{\"v\":1,\"id\":1,\"cmd\":\"{cmd}\"}}\n");
            write.write_all(line.as_bytes()).await.unwrap();
            let answer: Value =
                serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
            codes.push((cmd, answer["error"]["code"].clone()));
        }
        drop(write);
        codes
    };
    let (codes, ()) = tokio::join!(asking, serving);
    for (cmd, code) in codes {
        assert_eq!(code, "permission-denied", "{cmd}");
    }
    assert_eq!(fake.pauses.load(Ordering::SeqCst), 0);
}

/// Reads one line, or `None` at the end of the stream; fails the test after 5 s.
async fn read_line(reader: &mut BufReader<UnixStream>) -> Option<Value> {
    let mut line = String::new();
    let n = tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut line))
        .await
        .expect("the service answers or closes within 5 s")
        .unwrap();
    (n > 0).then(|| serde_json::from_str(&line).unwrap())
}

#[tokio::test]
async fn a_connection_over_the_limit_is_told_and_closed_and_a_freed_slot_is_reused() {
    let running = start_with(Limits {
        max_connections: 3,
        ..Limits::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut client = ControlClient::connect(&running.path).await.unwrap();
        client.request(Command::Status).await.unwrap();
        held.push(client);
    }
    let mut extra = BufReader::new(UnixStream::connect(&running.path).await.unwrap());
    let refusal = read_line(&mut extra).await.expect("a refusal line");
    assert_eq!(refusal["ok"], false);
    let message = refusal["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("already serves 3 control connections"),
        "{message}"
    );
    assert_eq!(
        read_line(&mut extra).await,
        None,
        "then the connection closes"
    );

    // Once a client leaves, its slot serves the next one.
    drop(held.pop());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut client = ControlClient::connect(&running.path).await.unwrap();
        match client.request(Command::Status).await {
            Ok(_) => break,
            Err(e) if tokio::time::Instant::now() < deadline => {
                assert!(e.to_string().contains("already serves"), "{e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("the freed slot was never reused: {e}"),
        }
    }
    running.stop().await;
}

#[tokio::test]
async fn an_unfinished_line_is_cut_off_but_a_quiet_subscriber_is_not() {
    let deadline = Duration::from_millis(200);
    let running = start_with(Limits {
        line_deadline: deadline,
        ..Limits::default()
    })
    .await;
    let mut subscriber = ControlClient::connect(&running.path).await.unwrap();
    subscriber.subscribe().await.unwrap();

    let started = std::time::Instant::now();
    let mut stalled = UnixStream::connect(&running.path).await.unwrap();
    stalled.write_all(br#"{"v":1,"id":1,"cm"#).await.unwrap();
    let mut stalled = BufReader::new(stalled);
    let answer = read_line(&mut stalled)
        .await
        .expect("a reason before closing");
    assert_eq!(answer["error"]["code"], "bad-request", "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not finished within"),
        "{answer}"
    );
    assert!(started.elapsed() >= deadline);
    assert_eq!(
        read_line(&mut stalled).await,
        None,
        "then the connection closes"
    );

    // The subscriber has been silent for longer than the deadline and still gets
    // events: the deadline applies to unfinished lines only.
    running
        .fake
        .events
        .send(json!({"type": "endpoint-changed"}))
        .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), subscriber.next_event())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event["type"], "endpoint-changed");
    running.stop().await;
}
