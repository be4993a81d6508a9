use super::*;
use std::time::Duration;

const GOOD: &str = r#"
[control]
socket = "/run/punchwire/control.sock"
group = "punchwire"

[[interface]]
name = "wg0"
zone = "example.com."
registries = ["10.99.0.1:53"]
interval = "30s"
poll = "1s"
handshake_threshold = "150s"

[registry]
zone = "example.com."
device = "wg-reg"
listen = ["10.99.0.1:53"]
serve_self = true
self_endpoint = "192.0.2.10:51820"
self_allowed = ["10.99.0.1/32"]
allow = ["10.98.0.0/24"]
refresh = "1s"
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("/etc/punchwire/config.toml"), text)
}

#[test]
fn the_documented_example_parses() {
    let config = parse(GOOD).unwrap();
    assert_eq!(config.interfaces[0].name.as_str(), "wg0");
    assert_eq!(config.interfaces[0].poll.get(), Duration::from_secs(1));
    let registry = config.registry.unwrap();
    assert!(registry.enabled);
    assert_eq!(
        registry.self_endpoint.unwrap().to_string(),
        "192.0.2.10:51820"
    );
}

#[test]
fn the_installed_first_run_configuration_parses_and_names_no_interface() {
    let text = include_str!("../../../../installers/first-run.toml");
    let config = parse(text).unwrap();
    assert!(config.interfaces.is_empty() && config.registry.is_none());
}

#[test]
fn the_shipped_example_parses() {
    let text = include_str!("../../../../installers/config.example.toml");
    parse(text).unwrap();
}

#[test]
fn what_to_toml_writes_parses_back_the_same() {
    for config in [
        parse(GOOD).unwrap(),
        parse(include_str!("../../../../installers/config.example.toml")).unwrap(),
    ] {
        let text = config.to_toml();
        assert_eq!(parse(&text).unwrap(), config, "{text}");
    }
}

#[test]
fn json_in_the_file_s_keys_is_read_and_checked_like_the_file() {
    let good = serde_json::to_value(parse(GOOD).unwrap()).unwrap();
    // Durations travel as the file writes them, so a client can show and edit them.
    assert_eq!(good["interface"][0]["handshake_threshold"], "2m 30s");
    let path = Path::new("/etc/punchwire/config.toml");
    assert_eq!(
        Config::from_json(path, good.clone()).unwrap(),
        parse(GOOD).unwrap()
    );

    let mut bad_zone = good.clone();
    bad_zone["interface"][0]["zone"] = "example..com.".into();
    let e = Config::from_json(path, bad_zone).unwrap_err();
    assert_eq!(e.key(), Some("interface[0].zone"));
    assert!(
        e.detail().starts_with("interface[0].zone: "),
        "{}",
        e.detail()
    );
    assert!(e.detail().contains("empty label"), "{}", e.detail());

    let mut bad_duration = good.clone();
    bad_duration["interface"][0]["poll"] = "soon".into();
    let e = Config::from_json(path, bad_duration).unwrap_err();
    assert_eq!(e.key(), Some("interface[0].poll"), "{e}");

    let mut bad_registry = good.clone();
    bad_registry["interface"][0]["registries"][0] = "10.99.0.1".into();
    let e = Config::from_json(path, bad_registry).unwrap_err();
    assert_eq!(e.key(), Some("interface[0].registries[0]"), "{e}");

    let mut unknown = good;
    unknown["interface"][0]["colour"] = "blue".into();
    let e = Config::from_json(path, unknown).unwrap_err();
    assert!(
        e.detail().contains("unknown field `colour`"),
        "{}",
        e.detail()
    );

    let e = Config::from_json(path, serde_json::json!("not a table")).unwrap_err();
    assert_eq!(e.key(), None);
}

#[test]
fn defaults_fill_what_is_left_out() {
    let config = parse(
        "[[interface]]\nname = \"wg0\"\nzone = \"example.com\"\nregistries = [\"10.99.0.1:53\"]\n",
    )
    .unwrap();
    assert_eq!(config.control, ControlConfig::default());
    let iface = &config.interfaces[0];
    assert_eq!(iface.interval, defaults::DEFAULT_INTERVAL);
    assert_eq!(iface.interval.get(), Duration::from_secs(30));
    assert_eq!(iface.handshake_threshold.get(), Duration::from_secs(150));
    assert!(!iface.paused);
}

/// Replaces one `key = value` line of the good example and expects the error to
/// name the file, the key and the reason.
fn expect_error(find: &str, replace: &str, key: &str, reason: &str) {
    assert!(GOOD.contains(find), "test bug: {find:?} not in the example");
    let text = GOOD.replacen(find, replace, 1);
    let err = parse(&text).unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("/etc/punchwire/config.toml"),
        "names the file: {message}"
    );
    assert!(message.contains(key), "names {key:?}: {message}");
    assert!(message.contains(reason), "says {reason:?}: {message}");
}

#[test]
fn every_key_is_checked_and_named() {
    expect_error(
        "group = \"punchwire\"",
        "group = \"\"",
        "control.group",
        "must not be empty",
    );
    expect_error(
        "socket = \"/run/punchwire/control.sock\"",
        "socket = \"control.sock\"",
        "control.socket",
        "absolute path",
    );
    expect_error(
        "name = \"wg0\"",
        "name = \"a-very-long-interface-name\"",
        "interface[0].name",
        "1 to 15",
    );
    expect_error("name = \"wg0\"", "name = 7", "name", "invalid type");
    expect_error(
        "zone = \"example.com.\"\nregistries",
        "zone = \"exa mple.com\"\nregistries",
        "interface[0].zone",
        "may only hold",
    );
    expect_error(
        "registries = [\"10.99.0.1:53\"]",
        "registries = [\"10.99.0.1\"]",
        "registries",
        "invalid socket address",
    );
    expect_error(
        "registries = [\"10.99.0.1:53\"]",
        "registries = [\"0.0.0.0:53\"]",
        "interface[0].registries[0]",
        "not an address",
    );
    expect_error("interval = \"30s\"", "interval = \"soon\"", "interval", "");
    expect_error(
        "interval = \"30s\"",
        "interval = \"0s\"",
        "interface[0].interval",
        "longer than zero",
    );
    expect_error(
        "poll = \"1s\"",
        "poll = \"1m\"",
        "interface[0].poll",
        "longer than interval",
    );
    expect_error(
        "handshake_threshold = \"150s\"",
        "handshake_threshold = \"0s\"",
        "interface[0].handshake_threshold",
        "longer than zero",
    );
    expect_error(
        "device = \"wg-reg\"",
        "device = \"\"",
        "registry.device",
        "1 to 15",
    );
    expect_error(
        "zone = \"example.com.\"\ndevice",
        "zone = \".\"\ndevice",
        "registry.zone",
        "domain name",
    );
    expect_error(
        "self_endpoint = \"192.0.2.10:51820\"",
        "self_endpoint = \"192.0.2.10:0\"",
        "self_endpoint",
        "port 0",
    );
    expect_error(
        "self_allowed = [\"10.99.0.1/32\"]",
        "self_allowed = [\"10.99.0.1/33\"]",
        "self_allowed",
        "invalid",
    );
    expect_error(
        "serve_self = true",
        "serve_self = false",
        "registry.serve_self",
        "serve_self is false",
    );
    expect_error(
        "refresh = \"1s\"",
        "refresh = \"0ms\"",
        "registry.refresh",
        "longer than zero",
    );
    expect_error(
        "allow = [\"10.98.0.0/24\"]",
        "allow = [\"everyone\"]",
        "allow",
        "invalid",
    );
    expect_error(
        "refresh = \"1s\"",
        "refresh = \"1s\"\ntypo = 1",
        "typo",
        "unknown field",
    );
}

#[test]
fn a_zone_too_long_for_a_peer_s_name_below_it_is_refused_at_its_key() {
    let zone = vec!["a".repeat(49); 4].join(".");
    assert_eq!(zone.len(), 199);
    let zone = format!("{zone}a");
    let text = GOOD.replacen("zone = \"example.com.\"", &format!("zone = {zone:?}"), 1);
    let err = parse(&text).unwrap_err();
    assert_eq!(err.key(), Some("interface[0].zone"), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("200 characters long") && message.contains("56-character key label"),
        "says why: {message}"
    );
    assert!(message.contains("(line 8)"), "says where: {message}");

    let mut json = serde_json::to_value(parse(GOOD).unwrap()).unwrap();
    json["interface"][0]["zone"] = zone.into();
    let err = Config::from_json(Path::new("/etc/punchwire/config.toml"), json).unwrap_err();
    assert_eq!(err.key(), Some("interface[0].zone"), "{err}");
}

// FIFOs are Unix's.
#[cfg(unix)]
#[test]
fn a_names_file_that_is_not_a_small_regular_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("names.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let huge = dir.path().join("huge.conf");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(MAX_NAMES_FILE + 1)
        .unwrap();
    for (path, says) in [
        (fifo.as_path(), "not a regular file"),
        (Path::new("/dev/zero"), "not a regular file"),
        (huge.as_path(), "more than a wg-quick file has"),
        (Path::new("names.conf"), "absolute path"),
    ] {
        let text = GOOD.replacen(
            "handshake_threshold = \"150s\"",
            &format!("handshake_threshold = \"150s\"\nnames_from = {path:?}"),
            1,
        );
        let err = parse(&text).unwrap_err();
        assert_eq!(err.key(), Some("interface[0].names_from"), "{err}");
        assert!(err.to_string().contains(says), "{path:?}: {err}");
    }
}

#[test]
fn an_interface_configured_twice_is_an_error() {
    let iface = "[[interface]]\nname = \"wg0\"\nzone = \"z\"\nregistries = [\"10.99.0.1:53\"]\n";
    let err = parse(&format!("{iface}{iface}")).unwrap_err();
    assert_eq!(err.key(), Some("interface[1].name"));
    assert!(err.to_string().contains("configured twice"));
}

#[test]
fn an_empty_file_is_a_first_run_with_nothing_to_do_yet() {
    let config = parse("").unwrap();
    assert!(config.interfaces.is_empty() && config.registry.is_none());
}

#[test]
fn an_interface_named_alone_leaves_its_registries_and_zone_to_be_found() {
    let config = parse("[[interface]]\nname = \"wg0\"\n").unwrap();
    assert_eq!(config.interfaces[0].zone, None);
    assert!(config.interfaces[0].registries.is_empty());
    // Written back without the keys left out, and read back the same.
    let text = config.to_toml();
    assert!(
        !text.contains("zone") && !text.contains("registries"),
        "{text}"
    );
    assert_eq!(parse(&text).unwrap(), config);
}

#[test]
fn a_missing_file_names_the_path() {
    let err = Config::load(Path::new("/nonexistent/punchwire.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/punchwire.toml"), "{err}");
}

#[test]
fn relay_is_off_and_candidates_on_unless_the_file_says() {
    let config = parse(GOOD).unwrap();
    assert!(!config.interfaces[0].relay && config.interfaces[0].candidates);
    assert!(!config.registry.as_ref().unwrap().relay);
    assert_eq!(config.state_dir(), punchwire_control::defaults::state_dir());
    let text = format!("state_dir = \"/srv/punchwire\"\n{GOOD}").replace(
        "poll = \"1s\"",
        "poll = \"1s\"\nrelay = true\ncandidates = false",
    );
    let config = parse(&text).unwrap();
    assert!(config.interfaces[0].relay && !config.interfaces[0].candidates);
    assert_eq!(config.state_dir(), Path::new("/srv/punchwire"));
    // Written back without the defaults, and read back the same.
    let written = config.to_toml();
    assert!(written.contains("relay = true") && written.contains("candidates = false"));
    assert_eq!(parse(&written).unwrap(), config);
}

#[test]
fn a_relative_state_dir_is_refused_by_name() {
    let error = parse(&format!("state_dir = \"state\"\n{GOOD}")).unwrap_err();
    assert_eq!(error.key(), Some("state_dir"), "{error}");
    assert!(error.to_string().contains("absolute path"), "{error}");
}

#[cfg(not(target_os = "linux"))]
#[test]
fn registry_relay_is_refused_where_forwarding_is_not_per_interface() {
    let text = GOOD.replace("refresh = \"1s\"", "refresh = \"1s\"\nrelay = true");
    let error = parse(&text).unwrap_err();
    assert_eq!(error.key(), Some("registry.relay"), "{error}");
}
