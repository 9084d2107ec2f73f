//! Decoding of client commands (arguments, SQL, prepared-statement parameters).

use super::*;

impl Logic {
    pub(super) fn decode_command(
        &mut self,
        cmd: Command,
        body: &[u8],
        p: &Packet<'_>,
        r: &mut Pending,
        out: &mut dyn EventSink,
    ) {
        let maxq = self.max_q();
        let set_query = |r: &mut Pending, sql: &[u8]| {
            let q = text(sql, maxq);
            if sql.len() > maxq {
                push_note(
                    &mut r.notes,
                    Note::Truncated {
                        field: "query",
                        len: sql.len() as u64,
                    },
                );
            }
            r.query = q;
        };
        match cmd {
            Command::QUERY => {
                let mut sql = body;
                if self.caps & cap::QUERY_ATTRIBUTES != 0 {
                    let mut c = Cur::new(body);
                    if let (Some(n), Some(_sets)) = (c.lenenc(), c.lenenc()) {
                        let n = n as usize;
                        if n > 0 && n <= self.cfg.max_params {
                            let b = Block {
                                count: n,
                                known_types: None,
                                names: true,
                                long_data: &[],
                                max_value: self.cfg.max_value,
                                max_params: self.cfg.max_params,
                            };
                            if let Ok(d) = decode_block(&mut c, &b) {
                                if self.full {
                                    r.request.attributes = Some(d.params);
                                }
                            }
                        }
                        sql = c.rest;
                    }
                }
                set_query(r, sql);
                if p.truncated() {
                    push_note(
                        &mut r.notes,
                        Note::Truncated {
                            field: "query",
                            len: p.len - 1,
                        },
                    );
                }
            }
            Command::INIT_DB | Command::CREATE_DB | Command::DROP_DB => {
                r.request.arg = Some(text(body, 128));
                r.query = text(body, 128);
            }
            Command::FIELD_LIST => {
                let mut c = Cur::new(body);
                let t = c.nul_str();
                r.request.arg = Some(text(t, 128));
                r.query = text(t, 128);
            }
            Command::PROCESS_KILL => {
                let id = Cur::new(body).u32();
                r.request.arg = id.map(|i| i.to_string());
            }
            Command::REFRESH | Command::SHUTDOWN => {
                r.request.arg = body.first().map(|b| format!("{b:#04x}"));
            }
            Command::SET_OPTION => {
                r.request.arg = Cur::new(body).u16().map(|o| match o {
                    0 => "MULTI_STATEMENTS_ON".to_string(),
                    1 => "MULTI_STATEMENTS_OFF".to_string(),
                    n => n.to_string(),
                });
            }
            Command::CHANGE_USER => {
                let mut c = Cur::new(body);
                r.request.user = Some(text(c.nul_str(), 128));
                if self.caps & cap::SECURE_CONNECTION != 0 {
                    let n = c.u8().unwrap_or(0) as usize;
                    c.take(n.min(c.rest.len()));
                } else {
                    c.nul_str();
                }
                let db = c.nul_str();
                if !db.is_empty() {
                    r.request.database = Some(text(db, 128));
                }
                c.u16();
                if self.caps & cap::PLUGIN_AUTH != 0 && !c.rest.is_empty() {
                    r.request.auth_plugin = Some(text(c.nul_str(), 64));
                }
            }
            Command::STMT_PREPARE => {
                set_query(r, body);
                r.prepare_sql = Some(r.query.clone());
                if !p.truncated() {
                    r.prepare_params = Some(wire::count_placeholders(body) as u32);
                }
            }
            Command::STMT_EXECUTE => self.decode_execute(body, r),
            Command::STMT_BULK_EXECUTE => self.decode_bulk(body, r),
            Command::STMT_SEND_LONG_DATA => {
                let mut c = Cur::new(body);
                if let (Some(id), Some(pi)) = (c.u32(), c.u16()) {
                    r.request.statement_id = Some(id);
                    r.request.param_index = Some(pi);
                    let len = p.len.saturating_sub(7);
                    r.request.long_data_bytes = Some(len);
                    let id = self.resolve(id, true);
                    let maxv = self.cfg.max_value;
                    if let Some(s) = self.stmts.get_mut(&id) {
                        r.query = s.sql.clone();
                        r.fingerprint = Some(s.fingerprint.clone());
                        let i = usize::from(pi);
                        if i < s.long_data.len() {
                            let ld = s.long_data[i].get_or_insert_with(LongData::default);
                            ld.len += len;
                            let room = maxv.saturating_sub(ld.prefix.len()).min(c.rest.len());
                            ld.prefix.extend_from_slice(&c.rest[..room]);
                            self.stmt_bytes += room;
                        }
                    }
                }
            }
            Command::STMT_CLOSE | Command::STMT_RESET | Command::STMT_FETCH => {
                let mut c = Cur::new(body);
                if let Some(id) = c.u32() {
                    r.request.statement_id = Some(id);
                    let id = self.resolve(id, cmd != Command::STMT_CLOSE);
                    if let Some(s) = self.stmts.get_mut(&id) {
                        r.query = s.sql.clone();
                        r.fingerprint = Some(s.fingerprint.clone());
                        if cmd == Command::STMT_RESET {
                            s.long_data.iter_mut().for_each(|l| *l = None);
                        }
                    }
                    if cmd == Command::STMT_CLOSE {
                        if let Some(s) = self.stmts.remove(&id) {
                            self.stmt_bytes = self.stmt_bytes.saturating_sub(s.cost());
                        }
                    }
                }
                if cmd == Command::STMT_FETCH {
                    r.request.rows = c.u32().map(u64::from);
                    r.binary = true;
                }
            }
            Command::BINLOG_DUMP | Command::BINLOG_DUMP_GTID => {
                let mut c = Cur::new(body);
                let summary = if cmd == Command::BINLOG_DUMP {
                    let pos = c.u32().unwrap_or(0);
                    c.u16();
                    let sid = c.u32().unwrap_or(0);
                    format!(
                        "BINLOG_DUMP {} pos {pos} server_id {sid}",
                        text(c.rest, 128)
                    )
                } else {
                    c.u16();
                    let sid = c.u32().unwrap_or(0);
                    format!("BINLOG_DUMP_GTID server_id {sid}")
                };
                self.message(C2S, p.ts, "binlog_dump", summary, out);
                self.phase = Phase::Replication;
            }
            _ => {
                if !body.is_empty() && self.full {
                    r.request.arg = Some(text(body, 64));
                }
            }
        }
        if !r.query.is_empty() && cmd != Command::INIT_DB && cmd != Command::FIELD_LIST {
            r.request.statement_id.get_or_insert(0);
            if r.request.statement_id == Some(0)
                && !matches!(
                    cmd,
                    Command::STMT_EXECUTE
                        | Command::STMT_CLOSE
                        | Command::STMT_RESET
                        | Command::STMT_FETCH
                        | Command::STMT_SEND_LONG_DATA
                        | Command::STMT_BULK_EXECUTE
                )
            {
                r.request.statement_id = None;
            }
        }
    }

    /// Statement id 0xFFFFFFFF means "the last prepared" (MariaDB pipelining). With `bind`, an
    /// unknown id right after an unanswered PREPARE is that statement's (client-only captures;
    /// not for STMT_CLOSE, which clients also send for statements closed before).
    fn resolve(&mut self, id: u32, bind: bool) -> u32 {
        let id = if id == u32::MAX {
            self.last_prepared.unwrap_or(id)
        } else {
            id
        };
        if !self.stmts.contains_key(&id) && bind {
            if let Some((sql, params)) = self.unbound_prepare.take() {
                self.add_stmt(id, sql, params, true);
                self.last_prepared = Some(id);
            }
        }
        id
    }

    fn decode_execute(&mut self, body: &[u8], r: &mut Pending) {
        let mut c = Cur::new(body);
        let (Some(id), Some(flags), Some(_iter)) = (c.u32(), c.u8(), c.u32()) else {
            return;
        };
        r.binary = true;
        r.request.statement_id = Some(id);
        r.request.flags = Some(u16::from(flags));
        let id = self.resolve(id, true);
        let full = self.full;
        let qa = self.caps & cap::QUERY_ATTRIBUTES != 0;
        let Some(s) = self.stmts.get_mut(&id) else {
            push_note(&mut r.notes, Note::Text { text: format!("statement {id} was prepared before the capture (or evicted): parameters not decoded") });
            return;
        };
        r.query = s.sql.clone();
        r.fingerprint = Some(s.fingerprint.clone());
        if s.predicted {
            push_note(
                &mut r.notes,
                Note::Text {
                    text:
                        "statement id bound to the PREPARE before it (server replies not captured)"
                            .into(),
                },
            );
        }
        let mut count = s.params as usize;
        if qa && flags & 0x08 != 0 {
            match c.lenenc() {
                Some(n) => count = n as usize,
                None => return,
            }
        }
        r.request.param_count = Some(count as u32);
        if count == 0 {
            s.long_data.iter_mut().for_each(|l| *l = None);
            return;
        }
        if count > self.cfg.max_params {
            push_note(
                &mut r.notes,
                Note::Text {
                    text: format!("{count} parameters: above the decoding limit"),
                },
            );
            return;
        }
        let b = Block {
            count,
            known_types: s.types.as_deref(),
            names: qa,
            long_data: &s.long_data,
            max_value: self.cfg.max_value,
            max_params: self.cfg.max_params,
        };
        match decode_block(&mut c, &b) {
            Ok(d) => {
                r.request.new_params_bound = Some(d.bound);
                if d.bound {
                    self.stmt_bytes += d.types.len() * 2;
                    s.types = Some(d.types);
                }
                for p in &d.params {
                    if let Some(len) = p.len {
                        push_note(&mut r.notes, Note::Truncated { field: "param", len });
                    }
                }
                if full {
                    r.request.params = Some(d.params);
                }
            }
            Err(ParamError::NoTypes) => push_note(&mut r.notes, Note::Text { text: "parameter types were bound by an execute before the capture: values not decoded".into() }),
            Err(ParamError::Short) => push_note(&mut r.notes, Note::Text { text: "parameter block cut short (packet truncated to the kept prefix)".into() }),
        }
        s.long_data.iter_mut().for_each(|l| *l = None);
    }

    fn decode_bulk(&mut self, body: &[u8], r: &mut Pending) {
        let mut c = Cur::new(body);
        let (Some(id), Some(flags)) = (c.u32(), c.u16()) else {
            return;
        };
        r.request.statement_id = Some(id);
        r.request.flags = Some(flags);
        let id = self.resolve(id, true);
        let Some(s) = self.stmts.get_mut(&id) else {
            push_note(
                &mut r.notes,
                Note::Text {
                    text: format!(
                        "statement {id} was prepared before the capture: parameters not decoded"
                    ),
                },
            );
            return;
        };
        r.query = s.sql.clone();
        r.fingerprint = Some(s.fingerprint.clone());
        let n = s.params as usize;
        r.request.param_count = Some(n as u32);
        if n == 0 || n > self.cfg.max_params {
            return;
        }
        let mut types = Vec::new();
        if flags & 128 != 0 {
            for _ in 0..n {
                let (Some(t), Some(f)) = (c.u8(), c.u8()) else {
                    return;
                };
                types.push((t, f & 0x80 != 0));
            }
            s.types = Some(types.clone());
        } else if let Some(t) = &s.types {
            types = t.clone();
        } else {
            return;
        }
        let mut rows = 0u64;
        let mut first = Vec::new();
        'rows: while !c.rest.is_empty() {
            for &(t, u) in &types {
                let Some(ind) = c.u8() else { break 'rows };
                let v = if ind == 0 {
                    match crate::params::decode_value(&mut c, t, u, self.cfg.max_value) {
                        Some((v, _)) => v,
                        None => break 'rows,
                    }
                } else {
                    crate::params::Value::Null
                };
                if rows == 0 {
                    first.push(crate::params::Param {
                        ty: wire::type_name(t),
                        unsigned: u,
                        name: None,
                        value: v,
                        len: None,
                        long_data: false,
                    });
                }
            }
            rows += 1;
        }
        r.request.rows = Some(rows);
        if self.full {
            r.request.params = Some(first);
        }
    }
}
