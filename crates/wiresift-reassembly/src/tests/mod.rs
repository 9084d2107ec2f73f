//! Scenario tests over synthetic segments, and the model-based proptest (`model.rs`).

use wiresift_core::{CloseReason, ConnectionId, Direction, Duration, Endpoint, Timestamp};
use wiresift_net::{TcpFlags, TcpSegment};

use crate::{ConnStats, GapReason, Reassembler, ReassemblyConfig, RoleHint, RoleSource};
use crate::{StreamEvent, StreamSink};

mod chaos;
mod model;
mod scenarios;

pub(crate) const SYN: u8 = TcpFlags::SYN;
pub(crate) const ACK: u8 = TcpFlags::ACK;
pub(crate) const FIN: u8 = TcpFlags::FIN;
pub(crate) const RST: u8 = TcpFlags::RST;
pub(crate) const PSH: u8 = TcpFlags::PSH;

pub(crate) const C2S: Direction = Direction::ClientToServer;
pub(crate) const S2C: Direction = Direction::ServerToClient;

pub(crate) fn ep(s: &str) -> Endpoint {
    Endpoint(s.parse().expect("test endpoint"))
}

pub(crate) fn ms(n: u64) -> Timestamp {
    Timestamp(1_700_000_000_000_000_000 + n * 1_000_000)
}

/// An owned copy of a [`StreamEvent`], for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ev {
    Open {
        id: u64,
        client: Endpoint,
        server: Endpoint,
        midstream: bool,
        role: RoleSource,
    },
    Data {
        id: u64,
        dir: Direction,
        ts: Timestamp,
        data: Vec<u8>,
        held: Duration,
    },
    Gap {
        id: u64,
        dir: Direction,
        len: u64,
        reason: GapReason,
    },
    Stall {
        id: u64,
        dir: Direction,
        delay: Duration,
    },
    Fin {
        id: u64,
        dir: Direction,
    },
    Rst {
        id: u64,
        dir: Direction,
    },
    Close {
        id: u64,
        reason: CloseReason,
        stats: ConnStats,
    },
}

/// Records every event; answers `classify` with `hint`.
#[derive(Debug)]
pub(crate) struct Rec {
    pub ev: Vec<Ev>,
    pub hint: RoleHint,
    pub classify_calls: usize,
    /// Connection ids (frame indices) in opening order: events record the ordinal (1 = the
    /// first connection opened), so scenarios read "connection 2" whatever its first frame.
    pub ids: Vec<u64>,
}

impl Default for Rec {
    fn default() -> Self {
        Rec {
            ev: Vec::new(),
            hint: RoleHint::Unknown,
            classify_calls: 0,
            ids: Vec::new(),
        }
    }
}

impl StreamSink for Rec {
    fn on_event(&mut self, ev: StreamEvent<'_>) {
        if let StreamEvent::Open { info, .. } = &ev {
            assert!(
                self.ids.last().is_none_or(|&l| l < info.id.0),
                "connection ids increase in opening order"
            );
            self.ids.push(info.id.0);
        }
        let ids = &self.ids;
        let id = |c: ConnectionId| {
            ids.iter()
                .position(|&i| i == c.0)
                .map_or(0, |p| p as u64 + 1)
        };
        let e = match ev {
            StreamEvent::Open { info, role } => Ev::Open {
                id: id(info.id),
                client: info.client,
                server: info.server,
                midstream: info.midstream,
                role,
            },
            StreamEvent::Data { conn, chunk } => {
                assert!(!chunk.data.is_empty(), "empty Data event");
                Ev::Data {
                    id: id(conn),
                    dir: chunk.dir,
                    ts: chunk.ts,
                    data: chunk.data.to_vec(),
                    held: chunk.held,
                }
            }
            StreamEvent::Gap { conn, gap, reason } => {
                let len = gap.len.expect("gaps have a length");
                assert!(len > 0, "empty gap");
                Ev::Gap {
                    id: id(conn),
                    dir: gap.dir,
                    len,
                    reason,
                }
            }
            StreamEvent::Stall {
                conn, dir, delay, ..
            } => Ev::Stall {
                id: id(conn),
                dir,
                delay,
            },
            StreamEvent::Fin { conn, dir, .. } => Ev::Fin { id: id(conn), dir },
            StreamEvent::Rst { conn, dir, .. } => Ev::Rst { id: id(conn), dir },
            StreamEvent::Close {
                conn,
                reason,
                stats,
                ..
            } => Ev::Close {
                id: id(conn),
                reason,
                stats: stats.clone(),
            },
        };
        self.ev.push(e);
    }

    fn classify(&mut self, _seg: &TcpSegment<'_>) -> RoleHint {
        self.classify_calls += 1;
        self.hint
    }
}

/// A piece of one direction's output: bytes or a gap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Bytes(Vec<u8>),
    Gap(u64, GapReason),
}

impl Rec {
    /// Delivered bytes of one direction, concatenated.
    pub fn stream(&self, id: u64, dir: Direction) -> Vec<u8> {
        let mut v = Vec::new();
        for e in &self.ev {
            if let Ev::Data {
                id: i,
                dir: d,
                data,
                ..
            } = e
            {
                if *i == id && *d == dir {
                    v.extend_from_slice(data);
                }
            }
        }
        v
    }

    /// Data and gaps of one direction in order, adjacent bytes merged.
    pub fn pieces(&self, id: u64, dir: Direction) -> Vec<Piece> {
        let mut v: Vec<Piece> = Vec::new();
        for e in &self.ev {
            match e {
                Ev::Data {
                    id: i,
                    dir: d,
                    data,
                    ..
                } if *i == id && *d == dir => {
                    if let Some(Piece::Bytes(b)) = v.last_mut() {
                        b.extend_from_slice(data);
                    } else {
                        v.push(Piece::Bytes(data.clone()));
                    }
                }
                Ev::Gap {
                    id: i,
                    dir: d,
                    len,
                    reason,
                } if *i == id && *d == dir => v.push(Piece::Gap(*len, *reason)),
                _ => {}
            }
        }
        v
    }

    pub fn gaps(&self) -> Vec<(u64, Direction, u64, GapReason)> {
        self.ev
            .iter()
            .filter_map(|e| match e {
                Ev::Gap {
                    id,
                    dir,
                    len,
                    reason,
                } => Some((*id, *dir, *len, *reason)),
                _ => None,
            })
            .collect()
    }

    pub fn stalls(&self) -> Vec<Duration> {
        self.ev
            .iter()
            .filter_map(|e| match e {
                Ev::Stall { delay, .. } => Some(*delay),
                _ => None,
            })
            .collect()
    }

    pub fn closes(&self) -> Vec<(u64, CloseReason, ConnStats)> {
        self.ev
            .iter()
            .filter_map(|e| match e {
                Ev::Close { id, reason, stats } => Some((*id, *reason, stats.clone())),
                _ => None,
            })
            .collect()
    }

    pub fn opens(&self) -> Vec<Ev> {
        self.ev
            .iter()
            .filter(|e| matches!(e, Ev::Open { .. }))
            .cloned()
            .collect()
    }

    pub fn data_events(&self) -> Vec<(u64, Direction, Vec<u8>, Duration)> {
        self.ev
            .iter()
            .filter_map(|e| match e {
                Ev::Data {
                    id,
                    dir,
                    data,
                    held,
                    ..
                } => Some((*id, *dir, data.clone(), *held)),
                _ => None,
            })
            .collect()
    }
}

/// A reassembler, a recorder, and one client/server pair.
pub(crate) struct T {
    pub r: Reassembler,
    pub rec: Rec,
    pub c: Endpoint,
    pub s: Endpoint,
}

impl T {
    pub fn new() -> Self {
        Self::with(ReassemblyConfig::default())
    }

    pub fn with(cfg: ReassemblyConfig) -> Self {
        T {
            r: Reassembler::new(cfg),
            rec: Rec::default(),
            c: ep("10.0.0.1:40000"),
            s: ep("10.0.0.2:6379"),
        }
    }

    /// Defaults, but holes time out after 2 s (the timing tests count from there).
    pub fn two_second_holes() -> Self {
        Self::with(ReassemblyConfig {
            hole_timeout: Duration::from_secs(2),
            ..ReassemblyConfig::default()
        })
    }

    /// Send a segment; `payload_len` defaults to the data length.
    #[allow(clippy::too_many_arguments)]
    pub fn seg_full(
        &mut self,
        from_client: bool,
        t: Timestamp,
        seq: u32,
        ack: Option<u32>,
        flags: u8,
        data: &[u8],
        payload_len: Option<u32>,
    ) {
        let (src, dst) = if from_client {
            (self.c, self.s)
        } else {
            (self.s, self.c)
        };
        let seg = TcpSegment {
            ts: t,
            src,
            dst,
            seq,
            ack: ack.unwrap_or(0),
            flags: TcpFlags(flags | if ack.is_some() { ACK } else { 0 }),
            window: 65535,
            payload: data,
            payload_len: payload_len.unwrap_or(data.len() as u32),
        };
        self.r.process(&seg, &mut self.rec);
    }

    /// Client segment at `t_ms`.
    pub fn c(&mut self, t_ms: u64, seq: u32, ack: Option<u32>, flags: u8, data: &[u8]) {
        self.seg_full(true, ms(t_ms), seq, ack, flags, data, None);
    }

    /// Server segment at `t_ms`.
    pub fn s(&mut self, t_ms: u64, seq: u32, ack: Option<u32>, flags: u8, data: &[u8]) {
        self.seg_full(false, ms(t_ms), seq, ack, flags, data, None);
    }

    /// Three-way handshake at t=0..2 ms; client data starts at `cisn + 1`, server at `sisn + 1`.
    pub fn handshake(&mut self, cisn: u32, sisn: u32) {
        self.c(0, cisn, None, SYN, b"");
        self.s(1, sisn, Some(cisn.wrapping_add(1)), SYN, b"");
        self.c(2, cisn.wrapping_add(1), Some(sisn.wrapping_add(1)), 0, b"");
    }

    pub fn finish(&mut self) {
        self.r.finish(&mut self.rec);
    }
}
