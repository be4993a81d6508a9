//! The one-click set-ups the window and the tray offer: keep an interface's peers direct,
//! and serve as a registry. Each reads the service's configuration, adds one entry and
//! saves it at the revision it read, so the service checks it as it checks any edit, a
//! change made in between is refused as a conflict rather than undone, and nothing else
//! in the file changes.

use punchwire_control::interface::{InterfaceName, InterfaceNameError};
use punchwire_control::protocol::Command;
use punchwire_control::zone::{Zone, ZoneError};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{AppError, ErrorKind};
use crate::service;

/// Why a set-up was not even sent to the service.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{0} is already configured: its settings are in the Settings tab")]
    AlreadyConfigured(InterfaceName),
    #[error(
        "this machine already serves as a registry (zone {zone} on {device}); change it in the Settings or the configuration file"
    )]
    RegistryConfigured { zone: String, device: String },
    #[error("not an interface name: {0}")]
    Name(#[from] InterfaceNameError),
    #[error(transparent)]
    Zone(#[from] ZoneError),
    #[error("the service's configuration is not shaped as this app expects: {0}")]
    Shape(&'static str),
}

impl From<SetupError> for AppError {
    fn from(e: SetupError) -> Self {
        let (kind, key) = match &e {
            SetupError::AlreadyConfigured(_) | SetupError::RegistryConfigured { .. } => {
                (ErrorKind::Refused, None)
            }
            SetupError::Name(_) => (ErrorKind::InvalidConfig, Some("interface")),
            SetupError::Zone(_) => (ErrorKind::InvalidConfig, Some("registry.zone")),
            SetupError::Shape(_) => (ErrorKind::Protocol, None),
        };
        AppError {
            kind,
            message: e.to_string(),
            key: key.map(str::to_owned),
        }
    }
}

/// Adds `[[interface]] name = "<name>"` to `config`, with its zone and registries left
/// out for the service to find among the peers. Refuses an interface already there.
pub fn add_interface(config: &mut Value, name: &InterfaceName) -> Result<(), SetupError> {
    let root = config
        .as_object_mut()
        .ok_or(SetupError::Shape("the configuration is not an object"))?;
    let list = root.entry("interface").or_insert_with(|| json!([]));
    if list.is_null() {
        *list = json!([]);
    }
    let list = list
        .as_array_mut()
        .ok_or(SetupError::Shape("`interface` is not a list"))?;
    if list.iter().any(|i| i["name"] == name.as_str()) {
        return Err(SetupError::AlreadyConfigured(name.clone()));
    }
    list.push(json!({ "name": name.as_str() }));
    Ok(())
}

/// Sets `[registry]` in `config` to serve `zone` on `device`, every other registry
/// setting left to the service's defaults. Refuses when a registry is configured.
pub fn add_registry(
    config: &mut Value,
    device: &InterfaceName,
    zone: &Zone,
) -> Result<(), SetupError> {
    let root = config
        .as_object_mut()
        .ok_or(SetupError::Shape("the configuration is not an object"))?;
    if let Some(existing) = root.get("registry").filter(|r| !r.is_null()) {
        let text = |key: &str| existing[key].as_str().unwrap_or("?").to_owned();
        return Err(SetupError::RegistryConfigured {
            zone: text("zone"),
            device: text("device"),
        });
    }
    root.insert(
        "registry".into(),
        json!({ "zone": zone.as_str(), "device": device.as_str() }),
    );
    Ok(())
}

/// Where the configuration is read and saved: the service, or a stand-in in tests.
pub(crate) trait ConfigStore {
    /// `get-config`'s answer: `{path, config, revision, ...}`.
    async fn read(&mut self) -> Result<Value, AppError>;
    /// `set-config`'s answer: the file's new revision.
    async fn save(&mut self, config: Value, revision: String) -> Result<Value, AppError>;
}

/// The service's own configuration, through its control socket.
pub struct ServiceConfig;

impl ConfigStore for ServiceConfig {
    async fn read(&mut self) -> Result<Value, AppError> {
        service::settings_request(Command::GetConfig).await
    }

    async fn save(&mut self, config: Value, revision: String) -> Result<Value, AppError> {
        service::settings_request(Command::SetConfig { config, revision }).await
    }
}

#[derive(Deserialize)]
struct Read {
    config: Value,
    revision: String,
}

/// Reads the configuration, applies `edit`, and saves it at the revision read. A save
/// refused as a conflict (someone saved in between, e.g. a second click) is made once more
/// on what they saved: adding one entry to it undoes nothing of theirs.
async fn change(
    store: &mut impl ConfigStore,
    edit: impl Fn(&mut Value) -> Result<(), SetupError>,
) -> Result<Value, AppError> {
    let mut tries = 0;
    loop {
        tries += 1;
        let Read {
            mut config,
            revision,
        } = serde_json::from_value(store.read().await?).map_err(|_| {
            SetupError::Shape("get-config answered without `config` and `revision`")
        })?;
        edit(&mut config)?;
        match store.save(config, revision).await {
            Err(e) if e.kind == ErrorKind::Conflict && tries < 2 => continue,
            saved => return saved,
        }
    }
}

/// Keeps the peers of the WireGuard interface `name` direct: configures it with
/// everything else to be found.
pub async fn enable_interface(store: &mut impl ConfigStore, name: &str) -> Result<Value, AppError> {
    let name = InterfaceName::parse(name).map_err(SetupError::from)?;
    change(store, |config| add_interface(config, &name)).await
}

/// Makes this machine the registry for `zone`, serving the peers of `device`.
pub async fn enable_registry(
    store: &mut impl ConfigStore,
    device: &str,
    zone: &str,
) -> Result<Value, AppError> {
    let device = InterfaceName::parse(device).map_err(SetupError::from)?;
    let zone = Zone::parse(zone).map_err(SetupError::from)?;
    change(store, |config| add_registry(config, &device, &zone)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use punchwire_control::client::ClientError;
    use punchwire_control::protocol::ErrorCode;

    fn name(n: &str) -> InterfaceName {
        InterfaceName::parse(n).unwrap()
    }

    /// A configuration as `get-config` hands it out, with parts the set-ups must keep.
    fn configured() -> Value {
        json!({
            "control": {"socket": "/run/punchwire/control.sock", "group": "punchwire"},
            "interface": [{"name": "wg0", "zone": "example.com.", "registries": ["10.99.0.1:53"],
                           "interval": "30s", "poll": "1s", "handshake_threshold": "2m 30s", "paused": false}],
            "registry": null,
        })
    }

    #[test]
    fn an_interface_is_added_by_its_name_alone_and_nothing_else_changes() {
        let mut config = configured();
        add_interface(&mut config, &name("wg1")).unwrap();
        let mut expected = configured();
        expected["interface"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "wg1"}));
        assert_eq!(config, expected);
    }

    #[test]
    fn the_first_interface_makes_the_list() {
        for mut config in [json!({}), json!({"interface": null})] {
            add_interface(&mut config, &name("wg0")).unwrap();
            assert_eq!(config["interface"], json!([{"name": "wg0"}]));
        }
    }

    #[test]
    fn an_interface_already_configured_is_refused_and_left_as_it_is() {
        let mut config = configured();
        let e = add_interface(&mut config, &name("wg0")).unwrap_err();
        assert!(matches!(e, SetupError::AlreadyConfigured(_)), "{e:?}");
        assert_eq!(
            e.to_string(),
            "wg0 is already configured: its settings are in the Settings tab"
        );
        assert_eq!(config, configured());
    }

    #[test]
    fn registry_mode_names_the_device_and_the_zone_only() {
        let mut config = configured();
        let zone = Zone::parse("Punchwire.Home.Arpa").unwrap();
        add_registry(&mut config, &name("wg0"), &zone).unwrap();
        assert_eq!(
            config["registry"],
            json!({"zone": "punchwire.home.arpa.", "device": "wg0"})
        );
        assert_eq!(config["interface"], configured()["interface"]);

        let again = add_registry(&mut config, &name("wg1"), &zone).unwrap_err();
        assert_eq!(
            again.to_string(),
            "this machine already serves as a registry (zone punchwire.home.arpa. on wg0); change it in the Settings or the configuration file"
        );
    }

    /// The service as the set-ups see it: a configuration at a revision, and every
    /// save recorded (or refused with the next of `refusals`).
    struct FakeService {
        config: Value,
        revision: String,
        reads: usize,
        saves: Vec<(Value, String)>,
        refusals: Vec<ClientError>,
    }

    impl FakeService {
        fn new(config: Value) -> Self {
            Self {
                config,
                revision: "rev-1".into(),
                reads: 0,
                saves: Vec::new(),
                refusals: Vec::new(),
            }
        }
    }

    fn conflict() -> ClientError {
        ClientError::Refused {
            code: ErrorCode::Conflict,
            message: "the settings were saved by someone else since you read them".into(),
            key: None,
        }
    }

    impl ConfigStore for FakeService {
        async fn read(&mut self) -> Result<Value, AppError> {
            self.reads += 1;
            Ok(
                json!({"path": "/etc/punchwire/config.toml", "config": self.config, "revision": self.revision}),
            )
        }

        async fn save(&mut self, config: Value, revision: String) -> Result<Value, AppError> {
            self.saves.push((config.clone(), revision));
            if !self.refusals.is_empty() {
                return Err(self.refusals.remove(0).into());
            }
            self.config = config;
            self.revision = format!("rev-{}", self.saves.len() + 1);
            Ok(json!({"revision": self.revision}))
        }
    }

    #[tokio::test]
    async fn enabling_an_interface_saves_it_at_the_revision_read() {
        let mut service = FakeService::new(json!({"interface": []}));
        let saved = enable_interface(&mut service, "wg0").await.unwrap();
        assert_eq!(saved, json!({"revision": "rev-2"}));
        assert_eq!(
            service.saves,
            [(json!({"interface": [{"name": "wg0"}]}), "rev-1".to_owned())]
        );

        let e = enable_interface(&mut service, "wg0").await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Refused);
        assert_eq!(service.saves.len(), 1, "nothing is saved for a refusal");
    }

    #[tokio::test]
    async fn what_the_service_refuses_is_told_in_its_words() {
        let mut service = FakeService::new(configured());
        service.refusals.push(ClientError::Refused {
            code: ErrorCode::InvalidConfig,
            message: "interface[1].name: no WireGuard interface named \"wg1\"".into(),
            key: Some("interface[1].name".into()),
        });
        let e = enable_interface(&mut service, "wg1").await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidConfig);
        assert_eq!(e.key.as_deref(), Some("interface[1].name"));
        assert_eq!(
            e.message,
            "interface[1].name: no WireGuard interface named \"wg1\""
        );
        assert_eq!(service.saves.len(), 1, "a refusal is not retried");
        assert_eq!(
            service.config,
            configured(),
            "the refused change is not kept"
        );
    }

    #[tokio::test]
    async fn a_save_that_crossed_another_is_made_again_on_top_of_it() {
        let mut service = FakeService::new(configured());
        service.refusals.push(conflict());
        enable_interface(&mut service, "wg1").await.unwrap();
        assert_eq!(service.reads, 2, "read again after the conflict");
        assert_eq!(service.config["interface"][1], json!({"name": "wg1"}));

        // Twice in a row: someone keeps saving; say so rather than loop.
        let mut busy = FakeService::new(configured());
        busy.refusals.extend([conflict(), conflict()]);
        let e = enable_interface(&mut busy, "wg1").await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Conflict);
        assert_eq!(
            e.message,
            "the settings were saved by someone else since you read them"
        );
        assert_eq!(busy.saves.len(), 2);
    }

    #[tokio::test]
    async fn registry_mode_is_saved_with_the_zone_checked_first() {
        let mut service = FakeService::new(configured());
        let e = enable_registry(&mut service, "wg0", "home..arpa")
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidConfig);
        assert_eq!(e.key.as_deref(), Some("registry.zone"));
        assert!(e.message.contains("empty label"), "{e}");
        assert_eq!(service.reads, 0, "a bad zone is not sent");

        enable_registry(&mut service, "wg0", "punchwire.home.arpa.")
            .await
            .unwrap();
        let (config, revision) = &service.saves[0];
        assert_eq!(revision, "rev-1");
        assert_eq!(
            config["registry"],
            json!({"zone": "punchwire.home.arpa.", "device": "wg0"})
        );
    }

    #[tokio::test]
    async fn a_bad_interface_name_is_not_sent() {
        let mut service = FakeService::new(configured());
        let e = enable_interface(&mut service, "wg 0").await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidConfig);
        assert_eq!(service.reads, 0);
    }
}
