//! `punchwire service` and its control socket as a user meets them: the real binary,
//! a real Unix socket, real users and groups, signals sent with kill(1). No network
//! lab: the configured WireGuard interfaces do not exist, which the service reports in
//! its status while everything else works.
//!
//! Needs root (it creates users and a group); without root it skips loudly, unless
//! CI=true, where it fails.
#![cfg(target_os = "linux")]

#[path = "common/svc_accounts.rs"]
mod svc_accounts;
#[path = "common/svc_process.rs"]
mod svc_process;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use svc_accounts::Accounts;
use svc_process::{
    config_text, have_root, run, run_as, unique_tag, wait_until, Follower, Iface, Scratch,
    ServiceProcess, STEP,
};

/// `punchwire status --json`, as root.
fn status(socket: &Path) -> Value {
    let socket = socket.to_str().expect("utf-8 path");
    run(&["status", "--json", "--socket", socket])
        .assert_ok("punchwire status --json")
        .json()
}

/// The interfaces in a status document, as (name, zone) pairs.
fn interfaces(status: &Value) -> Vec<(String, String)> {
    status["interfaces"]
        .as_array()
        .unwrap_or_else(|| panic!("no interfaces in {status:#}"))
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap_or_default().to_owned(),
                i["zone"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn paused(status: &Value, iface: &str) -> bool {
    status["interfaces"]
        .as_array()
        .and_then(|all| all.iter().find(|i| i["name"] == iface))
        .and_then(|i| i["paused"].as_bool())
        .unwrap_or_else(|| panic!("no interface {iface} with a paused flag in {status:#}"))
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// A valid config touching every key family; each case below breaks one line of it.
fn full_config(socket: &Path) -> String {
    format!(
        r#"[control]
socket = "{}"
group = "root"

[[interface]]
name = "wg0"
zone = "example.com."
registries = ["127.0.0.1:9"]
interval = "30s"
poll = "1s"
handshake_threshold = "150s"

[registry]
zone = "example.com."
device = "wgreg0"
serve_self = true
self_endpoint = "192.0.2.10:51820"
"#,
        socket.display()
    )
}

#[test]
fn a_bad_config_is_refused_naming_file_key_and_reason_and_nothing_starts() {
    if !have_root("a_bad_config_is_refused_naming_file_key_and_reason_and_nothing_starts") {
        return;
    }
    let scratch = Scratch::new(&unique_tag());
    // The socket's directory does not exist yet: the service would create it, so its
    // absence afterwards proves nothing was applied.
    let socket_dir = scratch.path("run");
    let socket = socket_dir.join("control.sock");
    let good = full_config(&socket);
    let socket_line = format!("socket = \"{}\"", socket.display());

    // (what, line to find, its replacement, what stderr must say besides the path)
    let cases: &[(&str, &str, &str, &[&str])] = &[
        (
            "control.socket",
            &socket_line,
            "socket = \"control.sock\"",
            &["control.socket", "must be an absolute path"],
        ),
        (
            "control.group",
            "group = \"root\"",
            "group = \" \"",
            &["control.group", "must not be empty"],
        ),
        (
            "interface name",
            "name = \"wg0\"",
            "name = \"a-very-long-interface-name\"",
            &["interface[0].name", "1 to 15 characters"],
        ),
        (
            "interface zone",
            "zone = \"example.com.\"\nregistries",
            "zone = \"exa mple.com\"\nregistries",
            &["interface[0].zone", "may only hold letters"],
        ),
        (
            "zone too long for a peer's name below it",
            "zone = \"example.com.\"\nregistries",
            &format!("zone = \"{}\"\nregistries", zone_of_200()),
            &[
                "interface[0].zone",
                "200 characters long",
                "56-character key label",
            ],
        ),
        (
            "unusable registry",
            "registries = [\"127.0.0.1:9\"]",
            "registries = [\"0.0.0.0:53\"]",
            &[
                "interface[0].registries[0]",
                "not an address a query can be sent to",
            ],
        ),
        (
            "registry without a port",
            "registries = [\"127.0.0.1:9\"]",
            "registries = [\"127.0.0.1\"]",
            &["registries", "invalid socket address"],
        ),
        (
            "zero interval",
            "interval = \"30s\"",
            "interval = \"0s\"",
            &["interface[0].interval", "must be longer than zero"],
        ),
        (
            "interval not a duration",
            "interval = \"30s\"",
            "interval = \"soon\"",
            &[
                "interface[0].interval",
                "\"soon\" is not a duration",
                "line 9",
            ],
        ),
        (
            "poll longer than interval",
            "poll = \"1s\"",
            "poll = \"1m\"",
            &["interface[0].poll", "longer than interval"],
        ),
        (
            "zero handshake threshold",
            "handshake_threshold = \"150s\"",
            "handshake_threshold = \"0s\"",
            &[
                "interface[0].handshake_threshold",
                "must be longer than zero",
            ],
        ),
        (
            "registry device",
            "device = \"wgreg0\"",
            "device = \"\"",
            &["registry.device", "1 to 15 characters"],
        ),
        (
            "registry zone",
            "zone = \"example.com.\"\ndevice",
            "zone = \".\"\ndevice",
            &["registry.zone", "root zone cannot be served"],
        ),
        (
            "registry self_endpoint",
            "self_endpoint = \"192.0.2.10:51820\"",
            "self_endpoint = \"192.0.2.10:0\"",
            &["self_endpoint", "port 0"],
        ),
        (
            "unknown key",
            "group = \"root\"",
            "group = \"root\"\ncolour = \"blue\"",
            &["unknown field", "colour"],
        ),
        (
            "TOML syntax",
            "zone = \"example.com.\"\nregistries",
            "zone = \"example.com.\nregistries",
            &["TOML parse error", "line 7"],
        ),
    ];

    for (i, (what, find, replace, says)) in cases.iter().enumerate() {
        assert!(
            good.contains(find),
            "test bug ({what}): {find:?} not in the config"
        );
        let path = scratch.write(&format!("bad-{i}.toml"), &good.replacen(find, replace, 1));
        let config = path.to_str().expect("utf-8 path");
        let outcome = run(&["service", "--config", config]);
        outcome.assert_refused(what, &[config]);
        outcome.assert_refused(what, says);
        assert!(
            !socket_dir.exists(),
            "{what}: the refused config was applied: {} exists",
            socket_dir.display()
        );
    }

    let missing = scratch.path("no-such-config.toml");
    let missing = missing.to_str().expect("utf-8 path");
    run(&["service", "--config", missing])
        .assert_refused("missing file", &[missing, "cannot read"]);
    assert!(!socket_dir.exists(), "a missing config started something");
}

/// A zone of 200 characters in labels a zone can have: too long for a peer's name
/// (`<56 characters>._wireguard._udp.<zone>`) to fit in a DNS name below it.
fn zone_of_200() -> String {
    let zone = vec!["a".repeat(50); 5].join(".");
    zone[..200].to_owned()
}

/// The same zone on the command line is refused there, naming the flag, before any
/// device is touched.
#[test]
fn a_zone_too_long_for_peer_names_is_refused_at_the_flag() {
    let zone = zone_of_200();
    for args in [
        &[
            "client",
            "--device",
            "wg0",
            "--dns",
            "127.0.0.1:9",
            "--zone",
            &zone,
        ][..],
        &["registry", "--device", "wg0", "--zone", &zone][..],
    ] {
        run(args).assert_refused(
            args[0],
            &["--zone", "200 characters long", "56-character key label"],
        );
    }
}

#[test]
fn reload_applies_a_good_config_and_keeps_the_running_one_on_error() {
    if !have_root("reload_applies_a_good_config_and_keeps_the_running_one_on_error") {
        return;
    }
    let tag = unique_tag();
    let scratch = Scratch::new(&tag);
    let socket = scratch.path("control.sock");
    let socket_arg = socket.to_str().expect("utf-8 path");
    let (a, b) = (format!("pwt{tag}a"), format!("pwt{tag}b"));
    let iface = |name, zone| Iface {
        name,
        zone,
        paused: true,
    };
    let config = scratch.write(
        "config.toml",
        &config_text(&socket, "root", &[iface(&a, "one.example.")]),
    );
    let _service = ServiceProcess::start(&config, &socket);

    let before = status(&socket);
    assert_eq!(interfaces(&before), pairs(&[(&a, "one.example.")]));
    let error = before["interfaces"][0]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        error.contains("no WireGuard interface") && error.contains(&a),
        "the missing interface is reported: {before:#}"
    );

    // A bad file: refused with file, key and reason; the running config stays.
    let bad = config_text(&socket, "root", &[iface(&a, "exa mple.")]);
    scratch.write("config.toml", &bad);
    run(&["reload", "--socket", socket_arg]).assert_refused(
        "reload of a bad config",
        &[
            config.to_str().expect("utf-8 path"),
            "interface[0].zone",
            "may only hold letters",
        ],
    );
    assert_eq!(
        interfaces(&status(&socket)),
        pairs(&[(&a, "one.example.")]),
        "a refused reload changed the running configuration"
    );

    // A good file: a new zone and a second interface, both applied.
    let good = config_text(
        &socket,
        "root",
        &[iface(&a, "two.example."), iface(&b, "three.example.")],
    );
    scratch.write("config.toml", &good);
    let reloaded = run(&["reload", "--socket", socket_arg]);
    reloaded.assert_ok("reload of a good config");
    assert!(
        reloaded.stdout.contains("configuration reloaded"),
        "says so: {}",
        reloaded.stdout
    );
    assert_eq!(
        interfaces(&status(&socket)),
        pairs(&[(&a, "two.example."), (&b, "three.example.")])
    );

    // Removing an interface is a change too.
    let smaller = config_text(&socket, "root", &[iface(&b, "three.example.")]);
    scratch.write("config.toml", &smaller);
    run(&["reload", "--socket", socket_arg]).assert_ok("reload without an interface");
    assert_eq!(
        interfaces(&status(&socket)),
        pairs(&[(&b, "three.example.")])
    );
}

/// What the tray's settings view does: read the configuration, change a field, send it
/// back whole.
#[test]
fn set_config_checks_writes_and_applies_and_a_bad_one_changes_nothing() {
    if !have_root("set_config_checks_writes_and_applies_and_a_bad_one_changes_nothing") {
        return;
    }
    let tag = unique_tag();
    let scratch = Scratch::new(&tag);
    let socket = scratch.path("control.sock");
    let a = format!("pwt{tag}a");
    let iface = |zone| Iface {
        name: &a,
        zone,
        paused: true,
    };
    let original = config_text(&socket, "root", &[iface("one.example.")]);
    let config = scratch.write("config.toml", &original);
    let _service = ServiceProcess::start(&config, &socket);
    let mut client = RawClient::connect(&socket);

    let got = client.send(br#"{"v":1,"id":1,"cmd":"get-config"}"#);
    assert_eq!(got["ok"], true, "{got:#}");
    assert_eq!(got["result"]["path"], config.to_str().expect("utf-8 path"));
    let mut document = got["result"]["config"].clone();
    let revision = got["result"]["revision"].clone();
    assert!(revision.is_string(), "get-config gives a revision: {got:#}");
    assert_eq!(document["interface"][0]["zone"], "one.example.", "{got:#}");

    // A bad zone: refused with the key the window marks, and nothing changes.
    document["interface"][0]["zone"] = "exa mple.".into();
    let request = serde_json::json!({"v": 1, "id": 2, "cmd": "set-config", "config": document, "revision": revision});
    let refused = client.send(request.to_string().as_bytes());
    assert_eq!(refused["ok"], false, "{refused:#}");
    assert_eq!(refused["error"]["code"], "invalid-config", "{refused:#}");
    assert_eq!(refused["error"]["key"], "interface[0].zone", "{refused:#}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("may only hold letters")),
        "says why: {refused:#}"
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), original);
    assert_eq!(interfaces(&status(&socket)), pairs(&[(&a, "one.example.")]));

    // A good one: applied, written to the file, the old file kept beside it.
    document["interface"][0]["zone"] = "two.example.".into();
    document["interface"][0]["interval"] = "45s".into();
    let request = serde_json::json!({"v": 1, "id": 3, "cmd": "set-config", "config": document, "revision": revision});
    let accepted = client.send(request.to_string().as_bytes());
    assert_eq!(accepted["ok"], true, "{accepted:#}");
    assert_eq!(interfaces(&status(&socket)), pairs(&[(&a, "two.example.")]));
    let written = std::fs::read_to_string(&config).unwrap();
    assert!(
        written.contains("zone = \"two.example.\"") && written.contains("interval = \"45s\""),
        "the file holds the new configuration:\n{written}"
    );
    let backup = scratch.path("config.toml.bak");
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), original);

    // The same revision again is stale now: refused, and the file stays as saved.
    document["interface"][0]["zone"] = "three.example.".into();
    let request = serde_json::json!({"v": 1, "id": 5, "cmd": "set-config", "config": document, "revision": revision});
    let stale = client.send(request.to_string().as_bytes());
    assert_eq!(stale["error"]["code"], "conflict", "{stale:#}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), written);
    document["interface"][0]["zone"] = "two.example.".into();

    // The written file is what a restart would read: a reload of it changes nothing.
    let socket_arg = socket.to_str().expect("utf-8 path");
    run(&["reload", "--socket", socket_arg]).assert_ok("reload of the written file");
    let again = client.send(br#"{"v":1,"id":4,"cmd":"get-config"}"#);
    assert_eq!(again["result"]["config"], document, "{again:#}");
}

#[test]
fn sighup_reloads_and_keeps_the_running_config_on_error() {
    if !have_root("sighup_reloads_and_keeps_the_running_config_on_error") {
        return;
    }
    let tag = unique_tag();
    let scratch = Scratch::new(&tag);
    let socket = scratch.path("control.sock");
    let (a, b) = (format!("pwt{tag}a"), format!("pwt{tag}b"));
    let iface = |name, zone| Iface {
        name,
        zone,
        paused: true,
    };
    let config = scratch.write(
        "config.toml",
        &config_text(&socket, "root", &[iface(&a, "one.example.")]),
    );
    let service = ServiceProcess::start(&config, &socket);
    assert_eq!(interfaces(&status(&socket)), pairs(&[(&a, "one.example.")]));

    // A bad file and SIGHUP: the refusal is logged (the journal is where an
    // administrator looks) with key and reason, and nothing changes.
    let bad = config_text(&socket, "root", &[iface(&a, "one.example.")])
        .replace("poll = \"1s\"", "poll = \"0s\"");
    scratch.write("config.toml", &bad);
    service.signal("HUP");
    wait_until(STEP, "the service to log the refused reload", || {
        let log = service.log();
        log.contains("reload refused") && log.contains("interface[0].poll")
    });
    assert!(
        service.log().contains("must be longer than zero"),
        "the log says why:\n{}",
        service.log()
    );
    assert_eq!(
        interfaces(&status(&socket)),
        pairs(&[(&a, "one.example.")]),
        "a refused SIGHUP reload changed the running configuration"
    );

    // A good file and SIGHUP: the new zone and the new interface show up.
    let good = config_text(
        &socket,
        "root",
        &[iface(&a, "two.example."), iface(&b, "three.example.")],
    );
    scratch.write("config.toml", &good);
    service.signal("HUP");
    let want = pairs(&[(&a, "two.example."), (&b, "three.example.")]);
    wait_until(STEP, "status to show the reloaded config", || {
        interfaces(&status(&socket)) == want
    });
}

#[test]
fn the_socket_admits_group_members_and_refuses_everyone_else() {
    if !have_root("the_socket_admits_group_members_and_refuses_everyone_else") {
        return;
    }
    let tag = unique_tag();
    let accounts = Accounts::create(&tag);
    let scratch = Scratch::new(&tag);
    let socket = scratch.path("control.sock");
    let socket_arg = socket.to_str().expect("utf-8 path");
    let iface = format!("pwt{tag}a");
    let config = scratch.write(
        "config.toml",
        &config_text(
            &socket,
            &accounts.group,
            &[Iface {
                name: &iface,
                zone: "example.com.",
                paused: true,
            }],
        ),
    );
    let _service = ServiceProcess::start(&config, &socket);

    let meta = std::fs::metadata(&socket).expect("stat the control socket");
    assert_eq!(meta.mode() & 0o777, 0o660, "socket mode");
    assert_eq!(meta.gid(), accounts.gid(), "socket group");

    // A member reads and steers.
    let member = accounts.as_user(&accounts.member);
    let seen = run_as(&member, &["status", "--json", "--socket", socket_arg]);
    assert!(paused(&seen.assert_ok("member: status").json(), &iface));
    run_as(&member, &["resume", "--socket", socket_arg]).assert_ok("member: resume");
    assert!(
        !paused(&status(&socket), &iface),
        "resume by a member took effect"
    );
    run_as(&member, &["pause", "--socket", socket_arg]).assert_ok("member: pause");
    assert!(
        paused(&status(&socket), &iface),
        "pause by a member took effect"
    );
    let human = run_as(&member, &["status", "--socket", socket_arg]);
    let expected = format!("interface {iface} (zone example.com.): discovery paused");
    assert!(
        human.assert_ok("member: status").stdout.contains(&expected),
        "the human status says {expected:?}:\n{}",
        human.stdout
    );

    // An outsider cannot even connect, and is told which group to join.
    let outsider = accounts.as_user(&accounts.outsider);
    for args in [
        &["status", "--socket", socket_arg][..],
        &["resume", "--socket", socket_arg][..],
    ] {
        run_as(&outsider, args).assert_refused(
            &format!("outsider: {}", args[0]),
            &["permission denied", &accounts.group, "usermod"],
        );
    }

    // Someone opens the socket to everyone by hand: the kernel's word on who connected
    // (SO_PEERCRED) still keeps the outsider out, from reading and from steering.
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666))
        .expect("chmod the socket");
    for args in [
        &["status", "--socket", socket_arg][..],
        &["resume", "--socket", socket_arg][..],
    ] {
        run_as(&outsider, args).assert_refused(
            &format!("outsider on an open socket: {}", args[0]),
            &["permission denied", &accounts.outsider, &accounts.group],
        );
    }
    assert!(
        paused(&status(&socket), &iface),
        "the outsider's resume was refused"
    );
    run_as(&member, &["status", "--socket", socket_arg]).assert_ok("member on an open socket");

    // A control group that does not exist: only root may connect, and nobody is told
    // to join a group that would not let them in.
    let closed = scratch.path("closed.sock");
    let closed_arg = closed.to_str().expect("utf-8 path");
    let missing_group = format!("pwt{tag}x");
    let closed_config = scratch.write(
        "closed.toml",
        &config_text(
            &closed,
            &missing_group,
            &[Iface {
                name: &iface,
                zone: "example.com.",
                paused: true,
            }],
        ),
    );
    let _closed_service = ServiceProcess::start(&closed_config, &closed);
    let meta = std::fs::metadata(&closed).expect("stat the closed socket");
    assert_eq!(meta.mode() & 0o777, 0o600, "socket mode without a group");
    let refused = run_as(&member, &["status", "--socket", closed_arg]);
    refused.assert_refused("member, missing group", &["permission denied"]);
    assert!(
        !refused.stderr.contains("root group"),
        "advises joining root: {}",
        refused.stderr
    );
    status(&closed);
}

/// One JSON-lines exchange on a raw connection.
struct RawClient {
    writer: UnixStream,
    reader: BufReader<UnixStream>,
}

impl RawClient {
    fn connect(socket: &Path) -> Self {
        let writer = UnixStream::connect(socket).expect("connect to the control socket");
        writer.set_read_timeout(Some(STEP)).expect("read timeout");
        writer.set_write_timeout(Some(STEP)).expect("write timeout");
        let reader = BufReader::new(writer.try_clone().expect("clone the stream"));
        Self { writer, reader }
    }

    fn send(&mut self, line: &[u8]) -> Value {
        self.writer.write_all(line).expect("send a line");
        self.writer.write_all(b"\n").expect("send a newline");
        self.answer()
    }

    fn answer(&mut self) -> Value {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).expect("read an answer");
        assert!(
            n > 0,
            "the service closed the connection instead of answering"
        );
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("answer is not JSON ({e}): {line}"))
    }
}

#[test]
fn hello_names_the_versions_and_every_command_the_service_takes() {
    if !have_root("hello_names_the_versions_and_every_command_the_service_takes") {
        return;
    }
    let tag = unique_tag();
    let scratch = Scratch::new(&tag);
    let socket = scratch.path("control.sock");
    let iface = format!("pwt{tag}a");
    let config = scratch.one_interface_config(&socket, &iface, true);
    let _service = ServiceProcess::start(&config, &socket);

    let mut client = RawClient::connect(&socket);
    let answer = client.send(br#"{"v":1,"id":1,"cmd":"hello"}"#);
    assert_eq!(answer["ok"], true, "{answer}");
    let hello = &answer["result"];
    assert_eq!(hello["protocol"], 1, "{hello}");
    assert_eq!(hello["service"], env!("CARGO_PKG_VERSION"), "{hello}");
    let commands = hello["commands"]
        .as_array()
        .unwrap_or_else(|| panic!("no command list in {hello}"));
    for expected in ["status", "hello", "pause", "get-config", "set-config"] {
        assert!(
            commands.iter().any(|c| c == expected),
            "{expected} missing: {hello}"
        );
    }
    // Every command listed is one the service takes: none is answered "unknown".
    for (id, name) in commands.iter().enumerate() {
        if name == "subscribe" || name == "set-config" {
            continue; // would change the connection or the configuration file
        }
        let line = format!(r#"{{"v":1,"id":{},"cmd":{name}}}"#, id + 2);
        let answer = client.send(line.as_bytes());
        assert_ne!(
            answer["error"]["code"], "bad-request",
            "{name} is listed but refused as a bad request: {answer}"
        );
    }
}

#[test]
fn malformed_and_oversized_messages_get_an_answer_and_the_service_keeps_serving() {
    if !have_root("malformed_and_oversized_messages_get_an_answer_and_the_service_keeps_serving") {
        return;
    }
    let tag = unique_tag();
    let scratch = Scratch::new(&tag);
    let socket = scratch.path("control.sock");
    let iface = format!("pwt{tag}a");
    let config = scratch.one_interface_config(&socket, &iface, true);
    let _service = ServiceProcess::start(&config, &socket);

    // Clients that stall: one silent, one stuck halfway through a line. Neither may
    // hold anyone else up.
    let _silent = RawClient::connect(&socket);
    let mut halfway = RawClient::connect(&socket);
    halfway
        .writer
        .write_all(br#"{"v":1,"id":1,"#)
        .expect("half a line");

    let mut client = RawClient::connect(&socket);
    // (line, the id the answer carries, error code, what the message says)
    let cases: &[(&[u8], u64, &str, &str)] = &[
        (b"{not json", 0, "bad-request", "not JSON"),
        (b"", 0, "bad-request", "not JSON"),
        (b"[1, 2, 3]", 0, "bad-request", "missing \"v\""),
        (
            br#"{"id":3,"cmd":"status"}"#,
            3,
            "bad-request",
            "missing \"v\"",
        ),
        (
            br#"{"v":9,"id":4,"cmd":"status"}"#,
            4,
            "bad-request",
            "version 9",
        ),
        (
            br#"{"v":1,"id":5,"cmd":"explode"}"#,
            5,
            "bad-request",
            "unknown variant",
        ),
        (
            br#"{"v":1,"id":6,"cmd":"pause","interface":42}"#,
            6,
            "bad-request",
            "invalid type",
        ),
        (
            b"\xff\xfe{\"v\":1,\"id\":7}\x00",
            0,
            "bad-request",
            "not JSON",
        ),
        (
            br#"{"v":1,"id":8,"cmd":"pause","interface":"nope0"}"#,
            8,
            "failed",
            "no configured interface",
        ),
    ];
    for (line, id, code, says) in cases {
        let answer = client.send(line);
        let shown = String::from_utf8_lossy(line);
        assert_eq!(answer["ok"], false, "{shown}: {answer}");
        assert_eq!(answer["v"], 1, "{shown}: {answer}");
        assert_eq!(answer["id"], *id, "{shown}: {answer}");
        assert_eq!(answer["error"]["code"], *code, "{shown}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{shown}: says {says:?}: {answer}");
    }
    // The same connection still works after all that, and so does the CLI.
    let answer = client.send(br#"{"v":1,"id":9,"cmd":"status"}"#);
    assert_eq!(answer["ok"], true, "{answer}");
    assert_eq!(answer["id"], 9);
    assert_eq!(
        interfaces(&answer["result"]),
        pairs(&[(&iface, "example.com.")])
    );
    status(&socket);

    // A 1 MiB line: "too-large", then the connection is closed. Written from a thread
    // so that the answer can be read while the service drains what is left.
    let mut big = RawClient::connect(&socket);
    let mut flood = big.writer.try_clone().expect("clone the stream");
    let writer = std::thread::spawn(move || {
        let mut line = vec![b'a'; 1 << 20];
        line.push(b'\n');
        // The service may close before taking it all; that is its right.
        let _ = flood.write_all(&line);
    });
    let answer = big.answer();
    assert_eq!(answer["ok"], false, "{answer}");
    assert_eq!(answer["error"]["code"], "too-large", "{answer}");
    let mut rest = String::new();
    match big.reader.read_line(&mut rest) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("the connection should be closed after too-large, got {other:?}: {rest}"),
    }
    writer.join().expect("the flooding thread");

    // And the service still answers everyone.
    assert_eq!(
        interfaces(&status(&socket)),
        pairs(&[(&iface, "example.com.")])
    );
    halfway
        .writer
        .write_all(b"\"cmd\":\"status\"}\n")
        .expect("the rest of the line");
    let answer = halfway.answer();
    assert_eq!(
        answer["ok"], true,
        "the stalled client is served once its line is whole: {answer}"
    );
    assert_eq!(answer["id"], 1);
}

#[test]
fn sigterm_stops_the_service_promptly_and_removes_its_socket() {
    if !have_root("sigterm_stops_the_service_promptly_and_removes_its_socket") {
        return;
    }
    let tag = unique_tag();
    let scratch = Scratch::new(&tag);
    let socket = scratch.path("control.sock");
    let socket_arg = socket.to_str().expect("utf-8 path");
    let iface = format!("pwt{tag}a");
    let config = scratch.one_interface_config(&socket, &iface, false);
    let mut service = ServiceProcess::start(&config, &socket);
    // A subscriber holding a connection open must not keep the service alive.
    let mut events = Follower::spawn(&["events", "--json", "--socket", socket_arg]);
    assert!(!paused(&status(&socket), &iface), "discovery runs");

    let asked = Instant::now();
    service.signal("TERM");
    let exit = service.wait_exit(Duration::from_secs(3));
    assert_eq!(
        exit.code(),
        Some(0),
        "exit status after SIGTERM:\n{}",
        service.log()
    );
    assert!(
        !socket.exists(),
        "the control socket {} is left behind",
        socket.display()
    );
    assert!(
        service.log().contains("every endpoint stays as it is"),
        "the log says endpoints are kept:\n{}",
        service.log()
    );
    eprintln!("service stopped {:?} after SIGTERM", asked.elapsed());
    run(&["status", "--socket", socket_arg])
        .assert_refused("status after SIGTERM", &["not running", socket_arg]);
    let events_exit = events.wait_exit(STEP);
    assert!(
        !events_exit.success(),
        "`punchwire events` reports the lost service"
    );
}

/// Sends `count` pause requests on one connection without waiting between them, then
/// reads every answer: each pause sends a `paused` event, so this is a burst of events
/// made the way any client could.
fn pause_burst(socket: &Path, count: usize) {
    let stream = UnixStream::connect(socket).expect("connect to the control socket");
    stream.set_read_timeout(Some(STEP)).expect("read timeout");
    let mut writer = stream.try_clone().expect("second handle on the socket");
    // Writes on a thread of its own: the service answers while we still send, and
    // would stall on a full socket if nobody read the answers meanwhile.
    let sender = std::thread::spawn(move || {
        let mut lines = String::new();
        for id in 1..=count {
            lines.push_str(&format!("{{\"v\":1,\"id\":{id},\"cmd\":\"pause\"}}\n"));
        }
        writer.write_all(lines.as_bytes()).expect("send the burst");
    });
    let mut answers = BufReader::new(stream).lines();
    for id in 1..=count {
        let line = answers
            .next()
            .unwrap_or_else(|| panic!("the connection closed before answer {id}"))
            .unwrap_or_else(|e| panic!("answer {id}: {e}"));
        let answer: Value = serde_json::from_str(&line).expect("answers are JSON");
        assert_eq!(answer["ok"], true, "pause {id} of the burst: {line}");
    }
    sender.join().expect("the burst was sent");
}

#[test]
fn events_keep_following_after_missing_some() {
    if !have_root("events_keep_following_after_missing_some") {
        return;
    }
    let tag = unique_tag();
    let scratch = Scratch::new(&tag);
    let socket = scratch.path("control.sock");
    let socket_arg = socket.to_str().expect("utf-8 path");
    let iface = format!("pwt{tag}a");
    let config = scratch.one_interface_config(&socket, &iface, false);
    let _service = ServiceProcess::start(&config, &socket);
    let mut events = Follower::spawn(&["events", "--json", "--socket", socket_arg]);

    // Subscribed once a pause shows up (the first may come before the subscription).
    let deadline = Instant::now() + STEP;
    loop {
        assert!(
            Instant::now() < deadline,
            "`punchwire events` never showed a pause"
        );
        run(&["pause", "--socket", socket_arg]).assert_ok("pause");
        if events
            .next_line(Duration::from_millis(200))
            .is_some_and(|l| l.contains("\"paused\""))
        {
            break;
        }
    }
    while events.next_line(Duration::from_millis(100)).is_some() {}

    // A follower that falls behind: stopped, as a busy or swapped-out one would be,
    // while far more events than the service keeps for it go by.
    let follower = events.pid().to_string();
    let stop = |signal: &str| {
        let done = std::process::Command::new("kill")
            .args([signal, &follower])
            .status()
            .expect("run kill");
        assert!(done.success(), "kill {signal} {follower}");
    };
    stop("-STOP");
    pause_burst(&socket, 20_000);
    stop("-CONT");

    // It says it missed events, with the status as it is now, and keeps going.
    let deadline = Instant::now() + Duration::from_secs(20);
    let lagged = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = events
            .next_line(left)
            .expect("no `lagged` line after a burst bigger than the service keeps");
        let line: Value = serde_json::from_str(&line).expect("event lines are JSON");
        if line["type"] == "lagged" {
            break line;
        }
    };
    assert!(
        lagged["message"]
            .as_str()
            .is_some_and(|m| m.contains("events were dropped")),
        "{lagged}"
    );
    assert!(paused(&lagged["status"], &iface), "{lagged}");

    run(&["resume", "--socket", socket_arg]).assert_ok("resume");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(line) = events.next_line(left) else {
            panic!("no `resumed` event after the missed ones");
        };
        if line.contains("\"resumed\"") {
            break;
        }
    }
    assert!(
        events.try_exit().is_none(),
        "`punchwire events` is still running"
    );
}

#[test]
fn events_follow_pause_and_resume() {
    if !have_root("events_follow_pause_and_resume") {
        return;
    }
    let tag = unique_tag();
    let scratch = Scratch::new(&tag);
    let socket = scratch.path("control.sock");
    let socket_arg = socket.to_str().expect("utf-8 path");
    let iface = format!("pwt{tag}a");
    let config = scratch.one_interface_config(&socket, &iface, false);
    let _service = ServiceProcess::start(&config, &socket);
    let events = Follower::spawn(&["events", "--json", "--socket", socket_arg]);

    // Waits for an event of `kind` on our interface; other events may come between.
    let expect = |kind: &str, mut act: Box<dyn FnMut() + '_>, repeat: bool| {
        let deadline = Instant::now() + STEP;
        act();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no {kind:?} event for {iface} within {STEP:?}"
            );
            match events.next_line(left.min(Duration::from_millis(200))) {
                Some(line) => {
                    let event: Value = serde_json::from_str(&line)
                        .unwrap_or_else(|e| panic!("event line is not JSON ({e}): {line}"));
                    if event["type"] == kind && event["iface"] == iface.as_str() {
                        return;
                    }
                }
                // The subscription may not be in place yet when the first command
                // runs: pausing again is harmless and sends the event again.
                None if repeat => act(),
                None => {}
            }
        }
    };
    expect(
        "paused",
        Box::new(|| {
            run(&["pause", "--socket", socket_arg]).assert_ok("pause");
        }),
        true,
    );
    assert!(paused(&status(&socket), &iface));
    expect(
        "resumed",
        Box::new(|| {
            run(&["resume", "--socket", socket_arg]).assert_ok("resume");
        }),
        false,
    );
    assert!(!paused(&status(&socket), &iface));
    let expect_any = |kind: &str| {
        let deadline = Instant::now() + STEP;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = events
                .next_line(left)
                .unwrap_or_else(|| panic!("no {kind:?} event within {STEP:?}"));
            let event: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("event line is not JSON ({e}): {line}"));
            if event["type"] == kind {
                return;
            }
        }
    };
    run(&["reload", "--socket", socket_arg]).assert_ok("reload");
    expect_any("reloaded");
}

#[test]
fn a_second_service_is_refused_and_a_stale_socket_is_replaced() {
    if !have_root("a_second_service_is_refused_and_a_stale_socket_is_replaced") {
        return;
    }
    let tag = unique_tag();
    let scratch = Scratch::new(&tag);
    let socket = scratch.path("control.sock");
    let socket_arg = socket.to_str().expect("utf-8 path");
    let iface = format!("pwt{tag}a");
    let config = scratch.one_interface_config(&socket, &iface, true);
    let mut first = ServiceProcess::start(&config, &socket);

    // A second service on the same socket says why it cannot start, and leaves the
    // first one's socket alone.
    let config_arg = config.to_str().expect("utf-8 path");
    run(&["service", "--config", config_arg])
        .assert_refused("a second service", &["already listening", socket_arg]);
    status(&socket);

    // A crash leaves the socket file behind; the next start replaces it.
    first.signal("KILL");
    first.wait_exit(STEP);
    assert!(socket.exists(), "a killed service cannot remove its socket");
    run(&["status", "--socket", socket_arg])
        .assert_refused("status of a crashed service", &["not running"]);
    drop(first);
    let _second = ServiceProcess::start(&config, &socket);
    assert_eq!(
        interfaces(&status(&socket)),
        pairs(&[(&iface, "example.com.")])
    );
}

/// CPU time (user + system) the process has used so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/pid/stat");
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat[stat.rfind(')').expect("stat format") + 2..]
        .split_whitespace()
        .collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    let hz: u64 = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100);
    Duration::from_millis(ticks * 1000 / hz)
}

#[test]
fn a_service_whose_interface_is_missing_stays_idle() {
    if !have_root("a_service_whose_interface_is_missing_stays_idle") {
        return;
    }
    let tag = unique_tag();
    let scratch = Scratch::new(&tag);
    let socket = scratch.path("control.sock");
    let iface = format!("pwt{tag}a");
    let config = scratch.one_interface_config(&socket, &iface, false);
    let service = ServiceProcess::start(&config, &socket);
    // `wg-quick down` while the service runs is ordinary: it must wait for the
    // interface, not spin on it.
    let before = cpu_time(service.pid());
    let window = Duration::from_secs(2);
    std::thread::sleep(window); // measuring idleness needs a stretch of time, not a condition
    let used = cpu_time(service.pid()) - before;
    assert!(
        used < window / 10,
        "the service used {used:?} of CPU in {window:?} while its interface is missing"
    );
    let lines = service.log().matches("cannot read").count();
    assert!(
        lines < 10,
        "{lines} 'cannot read' lines in {window:?}: the log floods"
    );
}
