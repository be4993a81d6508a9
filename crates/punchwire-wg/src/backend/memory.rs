//! An in-memory WireGuard for tests: devices are plain data that a test shapes and
//! inspects, and failures can be switched on to prove that callers survive them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use ipnet::IpNet;

use super::{allowed_ips, BackendError, WireGuard};
use crate::device::{Device, Endpoint, Peer};
use crate::key::PublicKey;

/// A cheaply cloneable handle; all clones share the same devices.
#[derive(Clone, Default)]
pub struct MemoryBackend {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    devices: BTreeMap<String, Device>,
    failing: Option<String>,
    endpoint_writes: Vec<(String, PublicKey, Endpoint)>,
    device_reads: usize,
}

impl MemoryBackend {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock must not hide the real failure
        // behind a poison error in the next assertion.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds or replaces a whole device.
    pub fn put_device(&self, device: Device) {
        self.lock().devices.insert(device.name.clone(), device);
    }

    pub fn remove_device(&self, iface: &str) -> Option<Device> {
        self.lock().devices.remove(iface)
    }

    /// Changes one peer in place, as traffic or a handshake would.
    pub fn update_peer(&self, iface: &str, key: &PublicKey, f: impl FnOnce(&mut Peer)) {
        let mut state = self.lock();
        let peer = state
            .devices
            .get_mut(iface)
            .and_then(|d| d.peers.iter_mut().find(|p| &p.public_key == key))
            .unwrap_or_else(|| panic!("memory backend: {iface} has no peer {key}"));
        f(peer);
    }

    /// Makes every call fail with `reason` until [`MemoryBackend::recover`].
    pub fn fail_with(&self, reason: impl Into<String>) {
        self.lock().failing = Some(reason.into());
    }

    pub fn recover(&self) {
        self.lock().failing = None;
    }

    /// Every successful `set_endpoint`, oldest first.
    pub fn endpoint_writes(&self) -> Vec<(String, PublicKey, Endpoint)> {
        self.lock().endpoint_writes.clone()
    }

    /// How many times a device was read, successfully or not: what a real backend
    /// would pay a full dump for.
    pub fn device_reads(&self) -> usize {
        self.lock().device_reads
    }

    /// The device a write goes to: as a real backend would, a failing one or a missing
    /// interface is said before anything changes.
    fn writable<'a>(state: &'a mut State, iface: &str) -> Result<&'a mut Device, BackendError> {
        Self::check_failing(state, iface)?;
        state
            .devices
            .get_mut(iface)
            .ok_or_else(|| BackendError::NoSuchInterface {
                iface: iface.to_owned(),
            })
    }

    fn check_failing(state: &State, iface: &str) -> Result<(), BackendError> {
        match &state.failing {
            Some(reason) => Err(BackendError::Protocol {
                iface: iface.to_owned(),
                problem: reason.clone(),
            }),
            None => Ok(()),
        }
    }
}

impl WireGuard for MemoryBackend {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn interfaces(&self) -> Result<Vec<String>, BackendError> {
        let state = self.lock();
        Self::check_failing(&state, "*")?;
        Ok(state.devices.keys().cloned().collect())
    }

    fn device(&self, iface: &str) -> Result<Device, BackendError> {
        let mut state = self.lock();
        state.device_reads += 1;
        Self::check_failing(&state, iface)?;
        state
            .devices
            .get(iface)
            .cloned()
            .ok_or_else(|| BackendError::NoSuchInterface {
                iface: iface.to_owned(),
            })
    }

    /// Writes to the peer as it is now, found by the snapshot's key: the state is at
    /// hand, so a peer removed since the snapshot is named rather than written past.
    fn set_endpoint(
        &self,
        iface: &str,
        snapshot: &Peer,
        endpoint: Endpoint,
    ) -> Result<(), BackendError> {
        let key = &snapshot.public_key;
        let mut state = self.lock();
        let device = Self::writable(&mut state, iface)?;
        let peer = device
            .peers
            .iter_mut()
            .find(|p| &p.public_key == key)
            .ok_or_else(|| BackendError::NoSuchPeer {
                iface: iface.to_owned(),
                peer: *key,
            })?;
        peer.endpoint = Some(endpoint.addr());
        state
            .endpoint_writes
            .push((iface.to_owned(), *key, endpoint));
        Ok(())
    }

    /// No sockets to let go of; a missing interface is said as by the others.
    fn rebind(&self, iface: &str) -> Result<(), BackendError> {
        let state = self.lock();
        Self::check_failing(&state, iface)?;
        match state.devices.contains_key(iface) {
            true => Ok(()),
            false => Err(BackendError::NoSuchInterface {
                iface: iface.to_owned(),
            }),
        }
    }

    /// All or nothing, as one request to a real device: a missing peer is named
    /// before anything changes.
    fn set_allowed_ips(
        &self,
        iface: &str,
        peers: &[(PublicKey, Vec<IpNet>)],
    ) -> Result<(), BackendError> {
        let mut state = self.lock();
        let device = Self::writable(&mut state, iface)?;
        super::every_listed_peer_present(iface, peers, |key| device.peer(key).is_some())?;
        let current: Vec<_> = device
            .peers
            .iter()
            .map(|p| (p.public_key, p.allowed_ips.clone()))
            .collect();
        for (peer, (_, nets)) in device
            .peers
            .iter_mut()
            .zip(allowed_ips::after(&current, peers))
        {
            peer.allowed_ips = nets;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;

    fn device_with_one_peer() -> (Device, PublicKey) {
        let key = PublicKey::from_bytes([7; 32]);
        let device = Device {
            name: "wg0".into(),
            public_key: Some(PublicKey::from_bytes([1; 32])),
            listen_port: Some(51820),
            fwmark: None,
            peers: vec![Peer {
                has_preshared_key: true,
                allowed_ips: vec!["10.99.0.2/32".parse().unwrap()],
                persistent_keepalive: Some(5),
                ..Peer::new(key)
            }],
        };
        (device, key)
    }

    #[tokio::test]
    async fn set_endpoint_changes_only_the_endpoint() {
        let memory = MemoryBackend::new();
        let (device, key) = device_with_one_peer();
        memory.put_device(device.clone());
        let backend = Backend::new(memory.clone());
        let endpoint: Endpoint = "198.51.100.10:40000".parse().unwrap();
        backend
            .set_endpoint("wg0", &device.peers[0], endpoint)
            .await
            .unwrap();

        let after = backend.device("wg0").await.unwrap();
        let mut expected = device;
        expected.peers[0].endpoint = Some(endpoint.addr());
        assert_eq!(after, expected);
        assert_eq!(
            memory.endpoint_writes(),
            vec![("wg0".into(), key, endpoint)]
        );
    }

    #[tokio::test]
    async fn unknown_interface_and_peer_are_named() {
        let memory = MemoryBackend::new();
        let (device, _) = device_with_one_peer();
        memory.put_device(device);
        let backend = Backend::new(memory);
        let err = backend.device("wg9").await.unwrap_err().to_string();
        assert!(err.contains("\"wg9\""), "{err}");
        let stranger = PublicKey::from_bytes([9; 32]);
        let endpoint = "198.51.100.10:1".parse().unwrap();
        let err = backend
            .set_endpoint("wg0", &Peer::new(stranger), endpoint)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("has no peer") && err.contains(&stranger.to_base64()),
            "{err}"
        );
    }

    /// A relay's move: the registry peer takes B's address, then gives it back.
    #[tokio::test]
    async fn an_address_moves_to_another_peer_and_back() {
        let memory = MemoryBackend::new();
        let (mut device, b) = device_with_one_peer();
        let relay = PublicKey::from_bytes([8; 32]);
        device.peers.push(Peer {
            allowed_ips: vec!["10.99.0.1/32".parse().unwrap()],
            endpoint: Some("192.0.2.1:51820".parse().unwrap()),
            ..Peer::new(relay)
        });
        memory.put_device(device.clone());
        let backend = Backend::new(memory);
        let b_address: IpNet = "10.99.0.2/32".parse().unwrap();
        let registry: IpNet = "10.99.0.1/32".parse().unwrap();

        backend
            .set_allowed_ips("wg0", vec![(relay, vec![registry, b_address])])
            .await
            .unwrap();
        let moved = backend.device("wg0").await.unwrap();
        assert_eq!(moved.peer(&b).unwrap().allowed_ips, []);
        assert_eq!(
            moved.peer(&relay).unwrap().allowed_ips,
            [registry, b_address]
        );
        // Nothing else changed.
        let mut expected = device.clone();
        expected.peers[0].allowed_ips = vec![];
        expected.peers[1].allowed_ips = vec![registry, b_address];
        assert_eq!(moved, expected);

        backend
            .set_allowed_ips("wg0", vec![(relay, vec![registry]), (b, vec![b_address])])
            .await
            .unwrap();
        assert_eq!(backend.device("wg0").await.unwrap(), device);
    }

    #[tokio::test]
    async fn a_missing_peer_is_named_and_nothing_changes() {
        let memory = MemoryBackend::new();
        let (device, key) = device_with_one_peer();
        memory.put_device(device.clone());
        let backend = Backend::new(memory);
        let stranger = PublicKey::from_bytes([9; 32]);
        let err = backend
            .set_allowed_ips("wg0", vec![(key, vec![]), (stranger, vec![])])
            .await
            .unwrap_err();
        assert!(
            matches!(&err, BackendError::NoSuchPeer { peer, .. } if *peer == stranger),
            "{err:?}"
        );
        assert_eq!(backend.device("wg0").await.unwrap(), device);
        let err = backend
            .set_allowed_ips("wg9", vec![(key, vec![])])
            .await
            .unwrap_err();
        assert!(
            matches!(err, BackendError::NoSuchInterface { .. }),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn failures_can_be_switched_on_and_off() {
        let memory = MemoryBackend::new();
        let (device, _) = device_with_one_peer();
        memory.put_device(device);
        let backend = Backend::new(memory.clone());
        memory.fail_with("device vanished");
        assert!(backend.device("wg0").await.is_err());
        memory.recover();
        assert!(backend.device("wg0").await.is_ok());
    }
}
