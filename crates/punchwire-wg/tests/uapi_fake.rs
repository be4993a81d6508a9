//! UapiBackend against fake daemons on sockets in a temporary directory: the failures
//! a user must see named (wedged daemon, stale socket, refusal, missing interface)
//! and boringtun's answers read right. Needs no root.
#![cfg(unix)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use punchwire_wg::{Backend, BackendError, Peer, PublicKey, SystemBackend, UapiBackend, WireGuard};

const TIMEOUT: Duration = Duration::from_millis(300);

/// Serves `answers` in order, one per connection, recording each request. Gives up
/// after a few seconds without a connection, so a test that expected more requests
/// than were sent fails instead of hanging.
fn fake_daemon(dir: &Path, iface: &str, answers: Vec<String>) -> JoinHandle<Vec<String>> {
    let listener = UnixListener::bind(dir.join(format!("{iface}.sock"))).unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let mut requests = Vec::new();
        for answer in answers {
            let deadline = Instant::now() + Duration::from_secs(5);
            let stream = loop {
                match listener.accept() {
                    Ok((stream, _)) => break stream,
                    Err(_) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    Err(_) => return requests,
                }
            };
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut reader = BufReader::new(&stream);
            let mut request = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\n" {
                    break;
                }
                request.push_str(&line);
            }
            (&stream).write_all(answer.as_bytes()).unwrap();
            requests.push(request);
        }
        requests
    })
}

fn backend(dir: &tempfile::TempDir) -> UapiBackend {
    UapiBackend::with_dir(dir.path()).with_timeout(TIMEOUT)
}

const PEER_HEX: &str = "d5c4b9a1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d";

/// What boringtun-cli 0.7.1 answers for a peer it shook hands with 3.5 s ago.
fn boringtun_answer() -> String {
    format!(
        "own_public_key={own}\nlisten_port=51820\npublic_key={PEER_HEX}\n\
         preshared_key={psk}\npersistent_keepalive_interval=25\nendpoint=192.0.2.2:51820\n\
         allowed_ip=10.98.0.0/16\nallowed_ip=10.99.0.2/32\n\
         last_handshake_time_sec=3\nlast_handshake_time_nsec=500000000\n\
         rx_bytes=92\ntx_bytes=148\nerrno=0\n\n",
        own = "11".repeat(32),
        psk = "22".repeat(32),
    )
}

#[test]
fn wedged_daemon_is_not_answering_within_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("pwwedged.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    // Accepts and never answers.
    let _holder = std::thread::spawn(move || {
        let held: Vec<_> = listener.incoming().collect();
        drop(held);
    });

    let started = Instant::now();
    let err = backend(&dir).device("pwwedged").unwrap_err();
    let took = started.elapsed();
    assert!(took < TIMEOUT + Duration::from_millis(500), "took {took:?}");
    match &err {
        BackendError::NotAnswering {
            iface, socket: s, ..
        } => {
            assert_eq!(iface, "pwwedged");
            assert_eq!(s, &socket);
        }
        other => panic!("expected NotAnswering, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains(&socket.display().to_string()), "{message}");
}

#[tokio::test]
async fn through_the_async_facade_the_socket_is_still_named() {
    let dir = tempfile::tempdir().unwrap();
    let listener = UnixListener::bind(dir.path().join("pwwedged2.sock")).unwrap();
    let _holder = std::thread::spawn(move || {
        let held: Vec<_> = listener.incoming().collect();
        drop(held);
    });
    let backend = Backend::new(backend(&dir)).with_deadline(TIMEOUT * 4);
    let err = backend.device("pwwedged2").await.unwrap_err();
    assert!(matches!(err, BackendError::NotAnswering { .. }), "{err:?}");
}

#[test]
fn stale_socket_file_is_not_answering() {
    let dir = tempfile::tempdir().unwrap();
    drop(UnixListener::bind(dir.path().join("pwstale.sock")).unwrap());
    let err = backend(&dir).device("pwstale").unwrap_err();
    assert!(
        matches!(
            &err,
            BackendError::NotAnswering { source: Some(refused), .. }
                if refused.kind() == std::io::ErrorKind::ConnectionRefused
        ),
        "the refusal is kept as the source: {err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("left over") && message.contains("refused"),
        "the message says why, with the OS's own words: {message}"
    );
}

#[test]
fn missing_interface_is_no_such_interface() {
    let dir = tempfile::tempdir().unwrap();
    let uapi = backend(&dir);
    for name in ["pwmissing", "../etc/passwd", ""] {
        let err = uapi.device(name).unwrap_err();
        assert!(
            matches!(err, BackendError::NoSuchInterface { .. }),
            "{name:?}: {err:?}"
        );
    }
    let err = uapi
        .set_endpoint(
            "pwmissing",
            &Peer::new(PublicKey::from_bytes([1; 32])),
            "192.0.2.1:1".parse().unwrap(),
        )
        .unwrap_err();
    assert!(
        matches!(err, BackendError::NoSuchInterface { .. }),
        "{err:?}"
    );
}

#[test]
fn refusal_names_the_errno() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = fake_daemon(dir.path(), "pwrefuse", vec!["errno=13\n\n".into()]);
    let err = backend(&dir).device("pwrefuse").unwrap_err();
    daemon.join().unwrap();
    let message = err.to_string();
    assert!(
        message.contains("errno=13") && message.contains("Permission denied"),
        "{message}"
    );
}

#[test]
fn listing_finds_only_sockets() {
    let dir = tempfile::tempdir().unwrap();
    let _b = UnixListener::bind(dir.path().join("pwb.sock")).unwrap();
    let _a = UnixListener::bind(dir.path().join("pwa.sock")).unwrap();
    std::fs::write(dir.path().join("pwfile.sock"), "not a socket").unwrap();
    std::fs::write(dir.path().join("pwa.name"), "utun3").unwrap();
    assert_eq!(backend(&dir).interfaces().unwrap(), ["pwa", "pwb"]);

    let gone = UapiBackend::with_dir(dir.path().join("nonexistent"));
    assert_eq!(gone.interfaces().unwrap(), Vec::<String>::new());
}

#[test]
fn boringtun_answer_gives_a_true_handshake_age() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = fake_daemon(dir.path(), "pwbt", vec![boringtun_answer()]);
    let device = backend(&dir).device("pwbt").unwrap();
    assert_eq!(daemon.join().unwrap(), ["get=1\n"]);

    let peer = &device.peers[0];
    let age = peer.handshake_age(SystemTime::now()).unwrap();
    assert!(
        age >= Duration::from_millis(3_500) && age < Duration::from_secs(5),
        "{age:?}"
    );
    assert_eq!(device.public_key, Some(PublicKey::from_bytes([0x11; 32])));
    assert!(peer.has_preshared_key);
    assert_eq!(peer.persistent_keepalive, Some(25));
    // The preshared key stays inside the backend.
    let json = serde_json::to_string(&device).unwrap();
    assert!(
        !json.contains(&"22".repeat(32)) && !json.contains("IiIi"),
        "{json}"
    );
}

#[test]
fn boringtun_endpoint_change_is_remove_then_full_re_add() {
    let dir = tempfile::tempdir().unwrap();
    // The fake's process is this test, a name that says nothing, so the protocol
    // signature has to give boringtun away.
    let daemon = fake_daemon(
        dir.path(),
        "pwbt2",
        vec![
            boringtun_answer(),
            "errno=0\n\n".into(),
            "errno=0\n\n".into(),
        ],
    );
    backend(&dir)
        .set_endpoint(
            "pwbt2",
            &snapshot(Some(3)),
            "203.0.113.5:4500".parse().unwrap(),
        )
        .unwrap();
    let requests = daemon.join().unwrap();
    assert_eq!(
        requests,
        [
            "get=1\n".to_owned(),
            format!("set=1\npublic_key={PEER_HEX}\nremove=true\n"),
            format!(
                "set=1\npublic_key={PEER_HEX}\npreshared_key={psk}\nendpoint=203.0.113.5:4500\n\
                 persistent_keepalive_interval=25\nallowed_ip=10.98.0.0/16\nallowed_ip=10.99.0.2/32\n",
                psk = "22".repeat(32)
            ),
        ]
    );
}

/// A compliant daemon's peer: a handshake `handshake_secs_ago` seconds ago (wireguard-go
/// gives the time since the epoch), or none.
fn compliant_answer(handshake_secs_ago: Option<u64>) -> String {
    let handshake = handshake_secs_ago
        .map(|ago| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            format!(
                "last_handshake_time_sec={}\nlast_handshake_time_nsec=0\n",
                now - ago
            )
        })
        .unwrap_or_default();
    format!(
        "private_key={}\nlisten_port=51820\npublic_key={PEER_HEX}\nprotocol_version=1\n\
         endpoint=192.0.2.2:51820\nallowed_ip=10.99.0.2/32\n{handshake}errno=0\n\n",
        "33".repeat(32)
    )
}

/// The requests a compliant daemon whose peer had its latest handshake
/// `handshake_secs_ago` gets when that peer is sent to `[2001:db8::5]:4500`, by a
/// backend that has not read it before: its name says nothing (it is this test), so
/// it is read first to tell what it is.
fn requests_to_move_a_compliant_peer(handshake_secs_ago: Option<u64>) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let daemon = fake_daemon(
        dir.path(),
        "pwgo",
        vec![compliant_answer(handshake_secs_ago), "errno=0\n\n".into()],
    );
    backend(&dir)
        .set_endpoint(
            "pwgo",
            &snapshot(handshake_secs_ago),
            "[2001:db8::5]:4500".parse().unwrap(),
        )
        .unwrap();
    daemon.join().unwrap()
}

#[test]
fn compliant_endpoint_change_with_a_session_is_one_update_only_request() {
    assert_eq!(
        requests_to_move_a_compliant_peer(Some(10)),
        [
            "get=1\n".to_owned(),
            format!(
                "set=1\npublic_key={PEER_HEX}\nupdate_only=true\nendpoint=[2001:db8::5]:4500\n"
            ),
        ]
    );
}

/// Without a session (never a handshake, or none for REJECT_AFTER_TIME), the peer is
/// made anew in one request, so that its first handshake is not held back.
#[test]
fn compliant_endpoint_change_without_a_session_remakes_the_peer_in_one_request() {
    for handshake in [None, Some(181)] {
        assert_eq!(
            requests_to_move_a_compliant_peer(handshake),
            [
                "get=1\n".to_owned(),
                format!(
                    "set=1\npublic_key={PEER_HEX}\nremove=true\npublic_key={PEER_HEX}\n\
                     endpoint=[2001:db8::5]:4500\nallowed_ip=10.99.0.2/32\n"
                ),
            ],
            "handshake {handshake:?} s ago"
        );
    }
}

/// The peer of the fake daemons as a pass read it: at 192.0.2.2:51820, its latest
/// handshake `handshake_secs_ago` seconds ago, or none. No preshared key: a snapshot
/// never holds one.
fn snapshot(handshake_secs_ago: Option<u64>) -> Peer {
    Peer {
        endpoint: Some("192.0.2.2:51820".parse().unwrap()),
        last_handshake: handshake_secs_ago.map(|ago| SystemTime::now() - Duration::from_secs(ago)),
        ..Peer::new(PublicKey::from_bytes(hex32(PEER_HEX)))
    }
}

/// Once a read has told what the daemon is, moving the endpoint of a peer with a
/// session is the write alone: the pass's own read is the only one.
#[test]
fn compliant_endpoint_change_after_a_read_needs_no_other_read() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = fake_daemon(
        dir.path(),
        "pwgo2",
        vec![compliant_answer(Some(160)), "errno=0\n\n".into()],
    );
    let uapi = backend(&dir);
    let device = uapi.device("pwgo2").unwrap();
    uapi.set_endpoint(
        "pwgo2",
        &device.peers[0],
        "[2001:db8::5]:4500".parse().unwrap(),
    )
    .unwrap();
    assert_eq!(
        daemon.join().unwrap(),
        [
            "get=1\n".to_owned(),
            format!(
                "set=1\npublic_key={PEER_HEX}\nupdate_only=true\nendpoint=[2001:db8::5]:4500\n"
            ),
        ]
    );
}

/// A peer made anew is written as the daemon holds it right before the write, not as
/// the snapshot had it: a preshared key and an allowed IP added since are kept.
#[test]
fn a_peer_made_anew_is_read_right_before_the_write() {
    let dir = tempfile::tempdir().unwrap();
    let since = compliant_answer(None).replace(
        "allowed_ip=10.99.0.2/32\n",
        &format!(
            "preshared_key={}\nallowed_ip=10.99.0.2/32\nallowed_ip=10.97.0.0/16\n",
            "44".repeat(32)
        ),
    );
    let daemon = fake_daemon(
        dir.path(),
        "pwgo3",
        vec![compliant_answer(None), since, "errno=0\n\n".into()],
    );
    let uapi = backend(&dir);
    let device = uapi.device("pwgo3").unwrap();
    assert!(!device.peers[0].has_preshared_key);
    uapi.set_endpoint(
        "pwgo3",
        &device.peers[0],
        "[2001:db8::5]:4500".parse().unwrap(),
    )
    .unwrap();
    let requests = daemon.join().unwrap();
    assert_eq!(requests[..2], ["get=1\n", "get=1\n"]);
    assert_eq!(
        requests[2],
        format!(
            "set=1\npublic_key={PEER_HEX}\nremove=true\npublic_key={PEER_HEX}\n\
             preshared_key={psk}\nendpoint=[2001:db8::5]:4500\nallowed_ip=10.99.0.2/32\n\
             allowed_ip=10.97.0.0/16\n",
            psk = "44".repeat(32)
        )
    );
}

/// boringtun re-adds a peer to move it, session or not, so even a daemon known from an
/// earlier read is read again right before: the re-add must carry the preshared key.
#[test]
fn boringtun_is_read_right_before_every_re_add() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = fake_daemon(
        dir.path(),
        "pwbt5",
        vec![
            boringtun_answer(),
            boringtun_answer(),
            "errno=0\n\n".into(),
            "errno=0\n\n".into(),
        ],
    );
    let uapi = backend(&dir);
    let device = uapi.device("pwbt5").unwrap();
    uapi.set_endpoint(
        "pwbt5",
        &device.peers[0],
        "203.0.113.5:4500".parse().unwrap(),
    )
    .unwrap();
    let requests = daemon.join().unwrap();
    assert_eq!(requests[..2], ["get=1\n", "get=1\n"]);
    assert!(
        requests[3].contains(&format!("preshared_key={}\n", "22".repeat(32))),
        "{requests:?}"
    );
}

/// The endpoint the snapshot already has is not written, nor even asked about.
#[test]
fn the_endpoint_a_peer_already_has_costs_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = fake_daemon(dir.path(), "pwsame", vec![]);
    backend(&dir)
        .set_endpoint(
            "pwsame",
            &snapshot(Some(3)),
            "192.0.2.2:51820".parse().unwrap(),
        )
        .unwrap();
    assert_eq!(daemon.join().unwrap(), Vec::<String>::new());
}

#[test]
fn system_backend_routes_to_the_userspace_socket() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = fake_daemon(dir.path(), "pwsys", vec![boringtun_answer()]);
    let system = SystemBackend::with_userspace(backend(&dir));
    assert!(system.interfaces().unwrap().contains(&"pwsys".to_owned()));
    assert_eq!(system.device("pwsys").unwrap().listen_port, Some(51820));
    daemon.join().unwrap();
    let err = system.device("pwnowhere").unwrap_err();
    assert!(
        matches!(err, BackendError::NoSuchInterface { .. }),
        "{err:?}"
    );
}

fn hex32(hex: &str) -> [u8; 32] {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    bytes.try_into().unwrap()
}

/// macOS: wireguard-go serves `utunN.sock` and wg-quick writes `<name>.name` holding
/// `utunN`; the interface is known, listed and read by the name the user gave it.
#[test]
fn a_macos_name_file_maps_the_users_name_to_its_utun_socket() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = fake_daemon(dir.path(), "utun7", vec![boringtun_answer()]);
    std::fs::write(dir.path().join("wg0.name"), "utun7\n").unwrap();
    let uapi = backend(&dir);

    assert_eq!(uapi.interfaces().unwrap(), ["wg0"]);
    assert!(uapi.has_interface("wg0"));
    assert_eq!(uapi.socket_path("wg0"), dir.path().join("utun7.sock"));
    let device = uapi.device("wg0").unwrap();
    assert_eq!(device.name, "wg0");
    assert_eq!(device.peers.len(), 1);
    assert_eq!(daemon.join().unwrap(), ["get=1\n"]);
}

/// A name file made long before its socket points at a `utunN` another tunnel has
/// since reused: it is ignored, as wg-quick ignores it.
#[test]
fn a_stale_macos_name_file_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let _listener = UnixListener::bind(dir.path().join("utun8.sock")).unwrap();
    let name_file = dir.path().join("wg1.name");
    std::fs::write(&name_file, "utun8\n").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&name_file)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(60))
        .unwrap();
    let uapi = backend(&dir);

    assert_eq!(uapi.interfaces().unwrap(), ["utun8"]);
    assert!(!uapi.has_interface("wg1"));
    assert!(matches!(
        uapi.device("wg1").unwrap_err(),
        BackendError::NoSuchInterface { .. }
    ));
    // A name file pointing at no socket at all is ignored too.
    std::fs::write(dir.path().join("wg2.name"), "utun9\n").unwrap();
    assert!(!uapi.has_interface("wg2"));
}

/// A fake boringtun that keeps its peers: `get=1` lists them, `set=1` removes or adds
/// one, and the set requests numbered in `refuse` (1 for the first set) are answered
/// with errno=22 and change nothing. Modifying a peer that exists is refused too, as
/// boringtun 0.7.1 panics on it. Serves `connections` connections, then returns every
/// request it read.
fn fake_boringtun(
    dir: &Path,
    iface: &str,
    mut peers: Vec<(String, String)>,
    refuse: &'static [usize],
    connections: usize,
) -> JoinHandle<Vec<String>> {
    let listener = UnixListener::bind(dir.join(format!("{iface}.sock"))).unwrap();
    std::thread::spawn(move || {
        let mut requests = Vec::new();
        let mut sets = 0;
        for stream in listener.incoming().take(connections) {
            let stream = stream.unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut request = String::new();
            for line in BufReader::new(&stream).lines() {
                let line = line.unwrap();
                if line.is_empty() {
                    break;
                }
                request.push_str(&line);
                request.push('\n');
            }
            let answer = if request.starts_with("get=1") {
                let mut answer = format!("own_public_key={}\nlisten_port=51820\n", "11".repeat(32));
                for (key, lines) in &peers {
                    answer.push_str(&format!("public_key={key}\n{lines}"));
                }
                answer + "errno=0\n\n"
            } else {
                sets += 1;
                let mut lines = request.lines().skip(1);
                let key = lines.next().unwrap().strip_prefix("public_key=").unwrap();
                let rest: String = lines.map(|l| format!("{l}\n")).collect();
                let exists = peers.iter().any(|(k, _)| k == key);
                if refuse.contains(&sets) || (exists && rest != "remove=true\n") {
                    "errno=22\n\n".to_owned()
                } else {
                    peers.retain(|(k, _)| k != key);
                    if rest != "remove=true\n" {
                        peers.push((key.to_owned(), rest));
                    }
                    "errno=0\n\n".to_owned()
                }
            };
            (&stream).write_all(answer.as_bytes()).unwrap();
            requests.push(request);
        }
        requests
    })
}

/// The peer of [`boringtun_answer`], as the fake boringtun holds it.
fn boringtun_peer() -> (String, String) {
    (
        PEER_HEX.to_owned(),
        format!(
            "preshared_key={psk}\nendpoint=192.0.2.2:51820\npersistent_keepalive_interval=25\n\
             allowed_ip=10.98.0.0/16\nallowed_ip=10.99.0.2/32\n",
            psk = "22".repeat(32)
        ),
    )
}

#[test]
fn boringtun_peer_is_restored_when_adding_it_back_fails() {
    let dir = tempfile::tempdir().unwrap();
    // get, remove, the add (refused: the second set), the restore, and a get to look.
    let daemon = fake_boringtun(dir.path(), "pwbt3", vec![boringtun_peer()], &[2], 5);
    let uapi = backend(&dir);
    let peer = PublicKey::from_bytes(hex32(PEER_HEX));
    let err = uapi
        .set_endpoint(
            "pwbt3",
            &snapshot(None),
            "203.0.113.5:4500".parse().unwrap(),
        )
        .unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, BackendError::EndpointNotChanged { .. })
            && message.contains("restored as it was")
            && message.contains("errno=22"),
        "{message}"
    );

    let device = uapi.device("pwbt3").unwrap();
    let requests = daemon.join().unwrap();
    // The restore is the peer exactly as it was: its old endpoint, preshared key,
    // keepalive and allowed IPs.
    assert_eq!(
        requests[3],
        format!(
            "set=1\npublic_key={PEER_HEX}\npreshared_key={psk}\nendpoint=192.0.2.2:51820\n\
             persistent_keepalive_interval=25\nallowed_ip=10.98.0.0/16\nallowed_ip=10.99.0.2/32\n",
            psk = "22".repeat(32)
        )
    );
    // And the daemon holds it again, as a user reading the device would see.
    assert_eq!(device.peers.len(), 1, "{device:?}");
    let restored = &device.peers[0];
    assert_eq!(restored.public_key, peer);
    assert!(restored.has_preshared_key);
    assert_eq!(restored.endpoint, Some("192.0.2.2:51820".parse().unwrap()));
    assert_eq!(restored.persistent_keepalive, Some(25));
    assert_eq!(
        restored.allowed_ips,
        [
            "10.98.0.0/16".parse().unwrap(),
            "10.99.0.2/32".parse().unwrap()
        ]
    );
}

#[test]
fn boringtun_peer_lost_reports_both_failures() {
    let dir = tempfile::tempdir().unwrap();
    // The add and the restore are both refused; a last get shows the peer is gone.
    let daemon = fake_boringtun(dir.path(), "pwbt4", vec![boringtun_peer()], &[2, 3], 5);
    let uapi = backend(&dir);
    let err = uapi
        .set_endpoint(
            "pwbt4",
            &snapshot(None),
            "203.0.113.5:4500".parse().unwrap(),
        )
        .unwrap_err();
    let message = err.to_string();
    match &err {
        BackendError::PeerLost { add, restore, .. } => {
            assert!(add.to_string().contains("errno=22"), "{add}");
            assert!(restore.to_string().contains("errno=22"), "{restore}");
        }
        other => panic!("expected PeerLost, got {other:?}"),
    }
    assert!(
        message.contains("is missing from pwbt4") && message.contains("restoring it failed"),
        "{message}"
    );
    assert!(uapi.device("pwbt4").unwrap().peers.is_empty());
    assert_eq!(daemon.join().unwrap().len(), 5);
}

#[test]
fn boringtun_peer_is_restored_when_adding_it_back_with_new_allowed_ips_fails() {
    let dir = tempfile::tempdir().unwrap();
    // get, remove, the add with the new list (refused: the second set), the restore,
    // and a get to look.
    let daemon = fake_boringtun(dir.path(), "pwbt5", vec![boringtun_peer()], &[2], 5);
    let uapi = backend(&dir);
    let peer = PublicKey::from_bytes(hex32(PEER_HEX));
    let err = uapi
        .set_allowed_ips("pwbt5", &[(peer, vec!["10.99.0.2/32".parse().unwrap()])])
        .unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, BackendError::AllowedIpsNotChanged { .. })
            && message.contains("restored as it was")
            && message.contains("errno=22"),
        "{message}"
    );

    let device = uapi.device("pwbt5").unwrap();
    let requests = daemon.join().unwrap();
    let psk = "22".repeat(32);
    // The add carries everything the peer had but the allowed IPs, which are the new
    // list; boringtun knows no `update_only`, so none is sent.
    assert_eq!(
        requests[2],
        format!(
            "set=1\npublic_key={PEER_HEX}\npreshared_key={psk}\nendpoint=192.0.2.2:51820\n\
             persistent_keepalive_interval=25\nallowed_ip=10.99.0.2/32\n"
        )
    );
    assert_eq!(
        requests[3],
        format!(
            "set=1\npublic_key={PEER_HEX}\npreshared_key={psk}\nendpoint=192.0.2.2:51820\n\
             persistent_keepalive_interval=25\nallowed_ip=10.98.0.0/16\nallowed_ip=10.99.0.2/32\n"
        )
    );
    assert_eq!(device.peers.len(), 1, "{device:?}");
    assert_eq!(
        device.peers[0].allowed_ips,
        [
            "10.98.0.0/16".parse().unwrap(),
            "10.99.0.2/32".parse().unwrap()
        ]
    );
}
