//! Which plugin handles which connection.
//!
//! Lookup order for a connection: a user port override (`--port resp=7101`), the plugins'
//! default ports, then probing the first bytes with every plugin in registration order.

use crate::plugin::{ProbeResult, TcpProtocolPlugin};
use crate::types::Direction;
use std::collections::HashMap;
use std::sync::Arc;

/// Error from [`Registry::set_port`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryError {
    /// No plugin with that name was registered.
    #[error("unknown protocol {name:?} (known: {known})")]
    UnknownProtocol {
        /// The name asked for.
        name: String,
        /// Comma-separated registered names.
        known: String,
    },
}

/// Index of a plugin in a [`Registry`].
pub type PluginIndex = usize;

/// Outcome of [`Registry::probe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// This plugin matched.
    Match(PluginIndex),
    /// No plugin matched yet, but at least one needs more bytes.
    NeedMore,
    /// No plugin recognises these bytes.
    NoMatch,
}

/// Port → plugin table with user overrides.
#[derive(Clone)]
pub struct Registry {
    plugins: Vec<Arc<dyn TcpProtocolPlugin>>,
    default_ports: HashMap<u16, PluginIndex>,
    user_ports: HashMap<u16, PluginIndex>,
    probing: bool,
}

/// The same as [`Registry::new`]: empty, probing on.
impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("plugins", &self.names())
            .field("user_ports", &self.user_ports)
            .field("probing", &self.probing)
            .finish()
    }
}

impl Registry {
    /// An empty registry with probing enabled.
    pub fn new() -> Self {
        Registry {
            plugins: Vec::new(),
            default_ports: HashMap::new(),
            user_ports: HashMap::new(),
            probing: true,
        }
    }

    /// Add a plugin and its default ports (a port already claimed keeps its first plugin).
    pub fn register(&mut self, plugin: Arc<dyn TcpProtocolPlugin>) -> PluginIndex {
        let idx = self.plugins.len();
        for &p in plugin.default_ports() {
            self.default_ports.entry(p).or_insert(idx);
        }
        self.plugins.push(plugin);
        idx
    }

    /// Route `port` to the plugin named `name`, overriding defaults.
    pub fn set_port(&mut self, name: &str, port: u16) -> Result<(), RegistryError> {
        let idx = self
            .index_of(name)
            .ok_or_else(|| RegistryError::UnknownProtocol {
                name: name.to_string(),
                known: self.names().join(","),
            })?;
        self.user_ports.insert(port, idx);
        Ok(())
    }

    /// Enable or disable probing of connections on unknown ports.
    pub fn set_probing(&mut self, on: bool) {
        self.probing = on;
    }

    /// Is probing enabled?
    pub fn probing(&self) -> bool {
        self.probing && !self.plugins.is_empty()
    }

    /// Index of the plugin named `name` (case-insensitive; the common names `redis`, `mariadb`,
    /// `cassandra`, `scylla` and `oracle` are accepted for `resp`, `mysql`, `cql` and `tns`).
    pub fn index_of(&self, name: &str) -> Option<PluginIndex> {
        let name = match name.to_ascii_lowercase().as_str() {
            "redis" => "resp",
            "mariadb" => "mysql",
            "cassandra" | "scylla" | "scylladb" => "cql",
            "oracle" => "tns",
            _ => name,
        };
        self.plugins
            .iter()
            .position(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// Registered plugin names, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.plugins.iter().map(|p| p.name()).collect()
    }

    /// The plugin at `idx`.
    pub fn plugin(&self, idx: PluginIndex) -> &Arc<dyn TcpProtocolPlugin> {
        &self.plugins[idx]
    }

    /// Number of plugins.
    pub fn len(&self) -> usize {
        self.plugins.len()
    }

    /// True when no plugin is registered.
    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }

    /// Plugin serving `port`: user override first, then default ports.
    pub fn by_port(&self, port: u16) -> Option<PluginIndex> {
        self.user_ports
            .get(&port)
            .or_else(|| self.default_ports.get(&port))
            .copied()
    }

    /// Every port routed to a plugin (overrides and defaults), sorted.
    pub fn server_ports(&self) -> Vec<u16> {
        let mut v: Vec<u16> = self
            .user_ports
            .keys()
            .chain(self.default_ports.keys())
            .copied()
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Server ports (overrides and defaults) of plugins that keep state across connections
    /// ([`crate::TcpProtocolPlugin::shares_state_across_connections`]). The multi-threaded
    /// engine keeps all connections on these ports in one worker.
    pub fn pinned_ports(&self) -> Vec<u16> {
        let mut v: Vec<u16> = self
            .user_ports
            .iter()
            .chain(self.default_ports.iter())
            .filter(|(_, &i)| self.plugins[i].shares_state_across_connections())
            .map(|(&p, _)| p)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Is `port` a known server port (override or default)?
    pub fn is_server_port(&self, port: u16) -> bool {
        self.by_port(port).is_some()
    }

    /// Ask every plugin, in order, whether `data` (first bytes in `dir`) is theirs.
    pub fn probe(&self, dir: Direction, data: &[u8]) -> ProbeOutcome {
        let mut need_more = false;
        for (i, p) in self.plugins.iter().enumerate() {
            match p.probe(dir, data) {
                ProbeResult::Match => return ProbeOutcome::Match(i),
                ProbeResult::NeedMore => need_more = true,
                ProbeResult::NoMatch => {}
            }
        }
        if need_more {
            ProbeOutcome::NeedMore
        } else {
            ProbeOutcome::NoMatch
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::{ConnectionInfo, ProtocolSession};

    struct Fake(&'static str, &'static [u16], u8);
    impl TcpProtocolPlugin for Fake {
        fn name(&self) -> &'static str {
            self.0
        }
        fn default_ports(&self) -> &'static [u16] {
            self.1
        }
        fn probe(&self, _dir: Direction, data: &[u8]) -> ProbeResult {
            match data.first() {
                None => ProbeResult::NeedMore,
                Some(&b) if b == self.2 => ProbeResult::Match,
                Some(_) => ProbeResult::NoMatch,
            }
        }
        fn new_session(&self, _c: &ConnectionInfo) -> Box<dyn ProtocolSession> {
            unimplemented!("not used in registry tests")
        }
    }

    struct Shared;
    impl TcpProtocolPlugin for Shared {
        fn name(&self) -> &'static str {
            "shared"
        }
        fn default_ports(&self) -> &'static [u16] {
            &[9042]
        }
        fn probe(&self, _dir: Direction, _data: &[u8]) -> ProbeResult {
            ProbeResult::NoMatch
        }
        fn new_session(&self, _c: &ConnectionInfo) -> Box<dyn ProtocolSession> {
            unimplemented!("not used in registry tests")
        }
        fn shares_state_across_connections(&self) -> bool {
            true
        }
    }

    #[test]
    fn default_is_new() {
        let mut a = Registry::default();
        let mut b = Registry::new();
        a.register(Arc::new(Fake("a", &[1], b'a')));
        b.register(Arc::new(Fake("a", &[1], b'a')));
        assert!(a.probing() && b.probing());
        assert_eq!(a.index_of("REDIS"), None);
        let mut r = Registry::new();
        r.register(Arc::new(Fake("resp", &[6379], b'*')));
        assert_eq!(r.index_of("redis"), Some(0), "alias");
    }

    #[test]
    fn pinned_ports_are_those_of_plugins_sharing_state() {
        let mut r = Registry::new();
        r.register(Arc::new(Fake("a", &[1, 2], b'a')));
        assert!(r.pinned_ports().is_empty());
        r.register(Arc::new(Shared));
        r.set_port("shared", 19042).unwrap();
        assert_eq!(r.pinned_ports(), vec![9042, 19042]);
    }

    #[test]
    fn overrides_defaults_and_probe_order() {
        let mut r = Registry::new();
        r.register(Arc::new(Fake("a", &[1, 2], b'a')));
        r.register(Arc::new(Fake("b", &[2, 3], b'b')));
        assert_eq!(
            r.by_port(2),
            Some(0),
            "first registered keeps a shared default port"
        );
        assert_eq!(r.by_port(3), Some(1));
        r.set_port("B", 2).unwrap();
        assert_eq!(r.by_port(2), Some(1), "user override wins");
        assert_eq!(r.server_ports(), vec![1, 2, 3]);
        assert!(matches!(
            r.set_port("zz", 9),
            Err(RegistryError::UnknownProtocol { .. })
        ));
        assert_eq!(
            r.probe(Direction::ClientToServer, b"bx"),
            ProbeOutcome::Match(1)
        );
        assert_eq!(
            r.probe(Direction::ClientToServer, b"zz"),
            ProbeOutcome::NoMatch
        );
        assert_eq!(
            r.probe(Direction::ClientToServer, b""),
            ProbeOutcome::NeedMore
        );
    }
}
