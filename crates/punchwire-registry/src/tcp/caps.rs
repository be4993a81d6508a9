//! How many TCP connections may be open at once: in all, and from one source address.
//! A connection holds its place until its [`Place`] is dropped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Which cap a connection ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Full {
    Total,
    Source,
}

/// The open connections, counted per source. Shared by every listener of a registry.
#[derive(Debug)]
pub(crate) struct ConnectionCaps {
    total: usize,
    per_source: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    /// Only sources with a connection open: the map is no bigger than `total`.
    by_source: HashMap<IpAddr, usize>,
}

impl ConnectionCaps {
    pub fn new(total: usize, per_source: usize) -> Arc<Self> {
        Arc::new(Self {
            total,
            per_source,
            open: Mutex::new(Open::default()),
        })
    }

    /// A place for one more connection from `source`, if both caps allow it.
    pub fn admit(self: &Arc<Self>, source: IpAddr) -> Result<Place, Full> {
        let source = source.to_canonical();
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.total >= self.total {
            return Err(Full::Total);
        }
        let mine = open.by_source.entry(source).or_insert(0);
        if *mine >= self.per_source {
            return Err(Full::Source);
        }
        *mine += 1;
        open.total += 1;
        Ok(Place {
            caps: Arc::clone(self),
            source,
        })
    }

    #[cfg(test)]
    pub fn open(&self) -> usize {
        self.open.lock().unwrap().total
    }

    fn release(&self, source: IpAddr) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(mine) = open.by_source.get_mut(&source) {
            *mine -= 1;
            if *mine == 0 {
                open.by_source.remove(&source);
            }
        }
    }
}

/// One open connection's place under the caps; given back when dropped.
#[derive(Debug)]
pub(crate) struct Place {
    caps: Arc<ConnectionCaps>,
    source: IpAddr,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.caps.release(self.source);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn each_source_and_all_together_are_capped_and_places_come_back() {
        let caps = ConnectionCaps::new(3, 2);
        let a1 = caps.admit(ip("10.99.0.2")).unwrap();
        let _a2 = caps.admit(ip("::ffff:10.99.0.2")).unwrap();
        assert_eq!(caps.admit(ip("10.99.0.2")).unwrap_err(), Full::Source);
        let _b1 = caps.admit(ip("10.99.0.3")).unwrap();
        assert_eq!(caps.admit(ip("10.99.0.4")).unwrap_err(), Full::Total);
        drop(a1);
        assert_eq!(caps.open(), 2);
        let _c1 = caps.admit(ip("10.99.0.4")).unwrap();
        assert_eq!(caps.admit(ip("10.99.0.2")).unwrap_err(), Full::Total);
    }
}
