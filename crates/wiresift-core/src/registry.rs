//! Which plugin handles which connection.
//!
//! Lookup order for a connection:
//! 1. a user port override ([`Registry::set_port`], `--port resp=7101`);
//! 2. the plugins' default ports ([`TcpProtocolPlugin::default_ports`]): a port claimed by two
//!    plugins goes to the one of higher priority, between equal priorities to the one
//!    registered first;
//! 3. probing ([`Registry::probe`]), when neither names a plugin: the first bytes of each
//!    direction are offered to every plugin in *probe order* — highest priority first, equal
//!    priorities in registration order — and the first [`ProbeResult::Match`] wins, with one
//!    rule for priorities: while a plugin of a higher priority answers
//!    [`ProbeResult::NeedMore`], a match of a lower priority does not count yet (the answer is
//!    `NeedMore`), so a plugin registered with a higher priority sees enough bytes to decide.
//!    The engine probes again as more bytes arrive, in either direction, up to its probe
//!    budget (`EngineConfig::probe_budget`, 2 KiB), after which the connection is counted as
//!    unidentified.
//!
//! [`Registry::register`] gives priority 0 (every built-in plugin has it);
//! [`Registry::register_with_priority`] any other, and [`Registry::register_first`] one above
//! every plugin registered so far. An embedder's plugin that must win over a built-in one for
//! the same bytes (a memcached plugin over RESP's inline commands, a dialect of a built-in
//! protocol) is registered with [`Registry::register_first`]:
//!
//! ```
//! # use std::sync::Arc;
//! # use wiresift_core::{ConnectionInfo, Direction, ProbeResult, ProtocolSession, Registry, TcpProtocolPlugin};
//! # use wiresift_core::registry::ProbeOutcome;
//! struct Mine;
//! impl TcpProtocolPlugin for Mine {
//!     fn name(&self) -> &'static str { "mine" }
//!     fn default_ports(&self) -> &'static [u16] { &[] }
//!     fn probe(&self, _dir: Direction, data: &[u8]) -> ProbeResult {
//!         if data.starts_with(b"get ") { ProbeResult::Match } else { ProbeResult::NoMatch }
//!     }
//!     fn new_session(&self, _c: &ConnectionInfo) -> Box<dyn ProtocolSession> { unimplemented!() }
//! }
//! # struct Builtin;
//! # impl TcpProtocolPlugin for Builtin {
//! #     fn name(&self) -> &'static str { "builtin" }
//! #     fn default_ports(&self) -> &'static [u16] { &[] }
//! #     fn probe(&self, _dir: Direction, _data: &[u8]) -> ProbeResult { ProbeResult::Match }
//! #     fn new_session(&self, _c: &ConnectionInfo) -> Box<dyn ProtocolSession> { unimplemented!() }
//! # }
//! let mut registry = Registry::new();
//! registry.register(Arc::new(Builtin)); // matches everything
//! let mine = registry.register_first(Arc::new(Mine));
//! assert_eq!(registry.probe(Direction::ClientToServer, b"get k\r\n"), ProbeOutcome::Match(mine));
//! assert_eq!(registry.probe_order(), &[1, 0]);
//! ```

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
    /// Priority of each plugin (same index as `plugins`).
    priorities: Vec<i32>,
    /// Plugin indices in probe order: priority descending, then registration order.
    probe_order: Vec<PluginIndex>,
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
            .field("priorities", &self.priorities)
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
            priorities: Vec::new(),
            probe_order: Vec::new(),
            default_ports: HashMap::new(),
            user_ports: HashMap::new(),
            probing: true,
        }
    }

    /// Add a plugin and its default ports with priority 0 (see the module documentation): it
    /// is probed after the plugins registered before it with the same priority, and a default
    /// port already claimed keeps its plugin.
    pub fn register(&mut self, plugin: Arc<dyn TcpProtocolPlugin>) -> PluginIndex {
        self.register_with_priority(plugin, 0)
    }

    /// Add a plugin with a priority: plugins of higher priority are probed first, and take a
    /// default port from a plugin of lower priority (equal priorities: registration order).
    /// Built-in plugins have priority 0.
    pub fn register_with_priority(
        &mut self,
        plugin: Arc<dyn TcpProtocolPlugin>,
        priority: i32,
    ) -> PluginIndex {
        let idx = self.plugins.len();
        for &p in plugin.default_ports() {
            match self.default_ports.get(&p) {
                Some(&owner) if self.priorities[owner] >= priority => {}
                _ => {
                    self.default_ports.insert(p, idx);
                }
            }
        }
        self.plugins.push(plugin);
        self.priorities.push(priority);
        // After every plugin of the same or a higher priority.
        let at = self
            .probe_order
            .iter()
            .position(|&i| self.priorities[i] < priority)
            .unwrap_or(self.probe_order.len());
        self.probe_order.insert(at, idx);
        idx
    }

    /// Add a plugin ahead of every plugin registered so far: its priority is one above the
    /// highest so far (at least 1), so it is probed first and takes the default ports it
    /// shares with them. For an embedder's plugin that must win over a built-in one.
    pub fn register_first(&mut self, plugin: Arc<dyn TcpProtocolPlugin>) -> PluginIndex {
        let top = self.priorities.iter().copied().max().unwrap_or(0);
        self.register_with_priority(plugin, top.saturating_add(1).max(1))
    }

    /// The priority the plugin at `idx` was registered with.
    pub fn priority(&self, idx: PluginIndex) -> i32 {
        self.priorities[idx]
    }

    /// Plugin indices in the order [`Registry::probe`] asks them.
    pub fn probe_order(&self) -> &[PluginIndex] {
        &self.probe_order
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

    /// Ask every plugin, in probe order, whether `data` (first bytes in `dir`) is theirs: the
    /// first match wins, unless a plugin of a higher priority still needs more bytes (see the
    /// module documentation).
    pub fn probe(&self, dir: Direction, data: &[u8]) -> ProbeOutcome {
        // Priority of the first plugin that needed more bytes.
        let mut need_more: Option<i32> = None;
        for &i in &self.probe_order {
            let prio = self.priorities[i];
            match self.plugins[i].probe(dir, data) {
                ProbeResult::Match => {
                    return match need_more {
                        Some(q) if q > prio => ProbeOutcome::NeedMore,
                        _ => ProbeOutcome::Match(i),
                    }
                }
                ProbeResult::NeedMore => {
                    need_more.get_or_insert(prio);
                }
                ProbeResult::NoMatch => {}
            }
        }
        if need_more.is_some() {
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
    fn default_and_new_are_the_same() {
        let a = Registry::default();
        let b = Registry::new();
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        assert_eq!(a.probing, b.probing);
        assert!(a.probing, "probing is on in both");
        assert!(a.is_empty() && a.probe_order().is_empty());
    }

    /// Matches when the data starts with its byte, needs more on an empty input and on `?`.
    struct Picky(&'static str, u8);
    impl TcpProtocolPlugin for Picky {
        fn name(&self) -> &'static str {
            self.0
        }
        fn default_ports(&self) -> &'static [u16] {
            &[2]
        }
        fn probe(&self, _dir: Direction, data: &[u8]) -> ProbeResult {
            match data.first() {
                None | Some(b'?') => ProbeResult::NeedMore,
                Some(&b) if b == self.1 => ProbeResult::Match,
                Some(_) => ProbeResult::NoMatch,
            }
        }
        fn new_session(&self, _c: &ConnectionInfo) -> Box<dyn ProtocolSession> {
            unimplemented!("not used in registry tests")
        }
    }

    #[test]
    fn priorities_decide_probe_order_and_shared_ports() {
        let mut r = Registry::new();
        let a = r.register(Arc::new(Fake("a", &[1, 2], b'x')));
        let b = r.register(Arc::new(Fake("b", &[2], b'x')));
        // Equal priorities: registration order.
        assert_eq!(
            r.probe(Direction::ClientToServer, b"x"),
            ProbeOutcome::Match(a)
        );
        assert_eq!(r.by_port(2), Some(a));
        // An embedder's plugin registered first wins the probe and the shared port.
        let e = r.register_first(Arc::new(Picky("e", b'x')));
        assert_eq!(r.priority(e), 1);
        assert_eq!(r.probe_order(), &[e, a, b]);
        assert_eq!(
            r.probe(Direction::ClientToServer, b"x"),
            ProbeOutcome::Match(e)
        );
        assert_eq!(r.by_port(2), Some(e));
        assert_eq!(r.by_port(1), Some(a));
        // While it needs more bytes, lower priorities' matches wait.
        let q = r.register_with_priority(Arc::new(Fake("q", &[], b'?')), 0);
        assert_eq!(
            r.probe(Direction::ClientToServer, b"?"),
            ProbeOutcome::NeedMore
        );
        assert_eq!(r.probe_order(), &[e, a, b, q]);
        // A second register_first goes before the first one; negative priorities go last.
        let f = r.register_first(Arc::new(Fake("f", &[], b'f')));
        let z = r.register_with_priority(Arc::new(Fake("z", &[], b'x')), -5);
        assert_eq!(r.priority(f), 2);
        assert_eq!(r.probe_order(), &[f, e, a, b, q, z]);
        // Indices stay registration indices.
        assert_eq!(r.names(), vec!["a", "b", "e", "q", "f", "z"]);
        // Within one priority, an earlier NeedMore does not hold a later match back.
        let mut r = Registry::new();
        let p = r.register(Arc::new(Picky("p", b'x')));
        let m = r.register(Arc::new(Fake("m", &[], b'?')));
        assert_eq!(
            r.probe(Direction::ClientToServer, b"?"),
            ProbeOutcome::Match(m)
        );
        assert_eq!(
            r.probe(Direction::ClientToServer, b"x"),
            ProbeOutcome::Match(p)
        );
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
