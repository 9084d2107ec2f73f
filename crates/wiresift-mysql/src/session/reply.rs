//! The server's reply to the front request, packet by packet.

use super::*;

impl Logic {
    /// One packet of the front request's response.
    pub(super) fn response_packet(&mut self, p: &Packet<'_>, out: &mut dyn EventSink) {
        let caps = self.caps;
        let max_cols = self.cfg.max_columns;
        let full = self.full;
        let progress = caps & cap::MARIADB_PROGRESS != 0;
        let Some(f) = self.pending.front_mut() else {
            return;
        };
        if f.state == RState::Infile {
            // The server does not speak while the client streams the file.
            self.anomaly(
                S2C,
                p.ts,
                "server packet during LOCAL INFILE upload".into(),
                out,
            );
            return;
        }
        f.resp_bytes += p.wire_len();
        f.end = p.end;
        f.has_response = true;
        if p.seq != f.expect_seq && f.command != "UNKNOWN" {
            push_note(
                &mut f.notes,
                Note::Text {
                    text: format!(
                        "reply packet sequence id {} (expected {})",
                        p.seq, f.expect_seq
                    ),
                },
            );
        }
        f.expect_seq = p.last_seq.wrapping_add(1);
        let first = p.data.first().copied();
        let shape = f.cmd.map_or(Shape::Results, shape);
        let mut done = false;
        if first == Some(0xff)
            && matches!(
                f.state,
                RState::Start
                    | RState::Rows
                    | RState::FieldList
                    | RState::Auth
                    | RState::AfterColumns
            )
        {
            if progress && p.data.get(1..3) == Some(&[0xff, 0xff]) {
                return;
            }
            let mut tmp = std::mem::replace(f, Pending::new("", None, p.ts));
            self.apply_err(&mut tmp, p);
            let f = self.pending.front_mut().expect("front");
            *f = tmp;
            self.end_front(out);
            return;
        }
        match f.state.clone() {
            RState::Start => match shape {
                Shape::Statistics => {
                    f.status = Status::Ok;
                    f.response.statistics = Some(text(p.data, 512));
                    done = true;
                }
                Shape::Prepare => {
                    if let Some((id, cols, params, warnings)) =
                        wire::parse_prepare_ok(p.data).filter(|_| p.len >= 12)
                    {
                        f.status = Status::Ok;
                        f.response.statement_id = Some(id);
                        f.response.param_count = Some(params);
                        f.response.column_count = Some(u64::from(cols));
                        f.response.warnings = Some(warnings);
                        f.prepare_params = Some(u32::from(params));
                        f.state = RState::Prepare {
                            params: u32::from(params),
                            cols: u32::from(cols),
                            eof_after_params: false,
                        };
                        if params == 0 && cols == 0 {
                            done = true;
                        }
                    } else {
                        f.status = Status::Ok;
                        done = true;
                    }
                }
                Shape::Auth => {}
                Shape::FieldList => {
                    if first == Some(0xfe) && p.len < 9 {
                        f.status = Status::Ok;
                        done = true;
                    } else {
                        f.state = RState::FieldList;
                        f.response.column_count = Some(1);
                        push_col(f, p.data, caps, max_cols, full);
                    }
                }
                Shape::Simple | Shape::NoReply | Shape::Binlog => {
                    f.status = Status::Ok;
                    apply_ok_or_eof(f, p.data, caps);
                    done = true;
                }
                Shape::Results
                    if f.cmd.is_none()
                        && first == Some(0)
                        && p.len == 12
                        && wire::parse_prepare_ok(p.data)
                            .is_some_and(|(_, c, n, _)| c > 0 || n > 0) =>
                {
                    // An orphan PREPARE_OK (server-only capture).
                    let (id, cols, params, _) = wire::parse_prepare_ok(p.data).unwrap_or_default();
                    f.command = "STMT_PREPARE";
                    f.response.statement_id = Some(id);
                    f.response.param_count = Some(params);
                    f.response.column_count = Some(u64::from(cols));
                    f.state = RState::Prepare {
                        params: u32::from(params),
                        cols: u32::from(cols),
                        eof_after_params: false,
                    };
                }
                Shape::Results | Shape::Rows => match first {
                    Some(0x00) if shape == Shape::Rows => {
                        f.cur_set.rows += 1;
                        f.state = RState::Rows;
                    }
                    Some(0x00) | Some(0xfe) => {
                        f.status = Status::Ok;
                        let more = apply_ok_or_eof(f, p.data, caps);
                        f.sets += 1;
                        f.cur_set.affected_rows = f.response.affected_rows;
                        done = !more;
                        close_set(f);
                    }
                    Some(0xfb) if shape == Shape::Results && p.len > 1 => {
                        f.request.infile = Some(text(&p.data[1..], 256));
                        f.state = RState::Infile;
                    }
                    _ if shape == Shape::Rows => {
                        f.cur_set.rows += 1;
                        f.state = RState::Rows;
                    }
                    _ => {
                        let mut c = Cur::new(p.data);
                        let n = c.lenenc().unwrap_or(0);
                        f.cur_set.columns = n;
                        if f.sets == 0 {
                            f.response.column_count = Some(n);
                        }
                        // A trailing metadata-follows byte (optional metadata / MariaDB cache).
                        let no_meta = c.rest.first() == Some(&0);
                        f.state = if n == 0 || no_meta {
                            RState::AfterColumns
                        } else {
                            RState::Columns { left: n }
                        };
                    }
                },
            },
            RState::Columns { left } => {
                if f.sets == 0 {
                    push_col(f, p.data, caps, max_cols, full);
                }
                f.state = if left <= 1 {
                    RState::AfterColumns
                } else {
                    RState::Columns { left: left - 1 }
                };
            }
            RState::AfterColumns => {
                if first == Some(0xfe) && p.len == 5 {
                    let (_, st) = wire::parse_eof(p.data).unwrap_or((0, 0));
                    if st & status::CURSOR_EXISTS != 0
                        && f.binary
                        && f.cmd == Some(Command::STMT_EXECUTE)
                    {
                        f.status = Status::Ok;
                        f.response.cursor = Some(true);
                        f.response.status_flags = Some(st);
                        f.sets += 1;
                        close_set(f);
                        done = true;
                    } else {
                        f.state = RState::Rows;
                    }
                } else if first == Some(0xfe) && p.len < 0xFF_FFFF {
                    let more = apply_ok_or_eof(f, p.data, caps);
                    f.status = Status::Ok;
                    f.sets += 1;
                    close_set(f);
                    done = !more;
                } else {
                    f.cur_set.rows += 1;
                    f.state = RState::Rows;
                }
            }
            RState::Rows => {
                // A text row starting with 0xFE (an 8-byte length) is at least 16 MiB long.
                if first == Some(0xfe) && p.len < 0xFF_FFFF {
                    let more = apply_ok_or_eof(f, p.data, caps);
                    f.status = Status::Ok;
                    f.sets += 1;
                    close_set(f);
                    done = !more;
                } else {
                    f.cur_set.rows += 1;
                }
            }
            RState::FieldList => {
                if first == Some(0xfe) && p.len < 9 {
                    f.status = Status::Ok;
                    done = true;
                } else {
                    *f.response.column_count.get_or_insert(0) += 1;
                    push_col(f, p.data, caps, max_cols, full);
                }
            }
            RState::Prepare {
                params,
                cols,
                eof_after_params,
            } => {
                if first == Some(0xfe) && p.len < 9 {
                    // An EOF after the parameter or column definitions.
                    if params == 0 && cols == 0 {
                        done = true;
                    } else if params == 0 && !eof_after_params {
                        f.state = RState::Prepare {
                            params,
                            cols,
                            eof_after_params: true,
                        };
                    }
                } else if params > 0 {
                    f.state = RState::Prepare {
                        params: params - 1,
                        cols,
                        eof_after_params,
                    };
                    if params == 1 && cols == 0 && caps & cap::DEPRECATE_EOF != 0 {
                        done = true;
                    }
                } else if cols > 0 {
                    push_col(f, p.data, caps, max_cols, full);
                    f.state = RState::Prepare {
                        params,
                        cols: cols - 1,
                        eof_after_params: true,
                    };
                    if cols == 1 && caps & cap::DEPRECATE_EOF != 0 {
                        done = true;
                    }
                }
                if let RState::Prepare {
                    params: 0, cols: 0, ..
                } = f.state
                {
                    if caps & cap::DEPRECATE_EOF != 0 {
                        done = true;
                    }
                }
            }
            RState::Auth => match first {
                Some(0x00) => {
                    f.status = Status::Ok;
                    apply_ok_or_eof(f, p.data, caps);
                    done = true;
                }
                Some(0xfe) => {
                    let mut c = Cur::new(&p.data[1..]);
                    f.response.auth_plugin = Some(text(c.nul_str(), 64));
                    f.response
                        .auth_steps
                        .get_or_insert_with(Vec::new)
                        .push("auth_switch");
                }
                _ => {
                    let steps = f.response.auth_steps.get_or_insert_with(Vec::new);
                    if steps.len() < 8 {
                        steps.push("more_data");
                    }
                }
            },
            RState::Infile | RState::Done => {}
        }
        if done {
            self.end_front(out);
        }
    }
}

fn push_col(f: &mut Pending, data: &[u8], caps: u64, max: usize, full: bool) {
    if !full {
        return;
    }
    let cols = f.response.columns.get_or_insert_with(Vec::new);
    if cols.len() < max {
        if let Some(c) = wire::parse_column(data, caps) {
            cols.push(c);
        }
    }
}

/// Apply a terminating OK / EOF; returns whether more results follow.
fn apply_ok_or_eof(f: &mut Pending, data: &[u8], caps: u64) -> bool {
    let st = if data.first() == Some(&0xfe) && data.len() < 9 {
        let (w, st) = wire::parse_eof(data).unwrap_or((0, 0));
        if f.sets == 0 {
            f.response.warnings = Some(w);
        }
        st
    } else if let Some(ok) = parse_ok(data, caps) {
        f.cur_set.affected_rows = Some(ok.affected_rows);
        if f.sets == 0 || f.cur_set.columns == 0 {
            f.response.affected_rows = Some(ok.affected_rows);
            f.response.last_insert_id = Some(ok.last_insert_id);
            f.response.warnings = Some(ok.warnings);
            if !ok.info.is_empty() {
                f.response.info = Some(ok.info);
            }
        }
        ok.status
    } else {
        0
    };
    f.response.status_flags = Some(st);
    let more = st & status::MORE_RESULTS != 0;
    if more {
        f.state = RState::Start;
    }
    more
}

/// Record the result set just finished.
fn close_set(f: &mut Pending) {
    let set = std::mem::take(&mut f.cur_set);
    if f.sets == 1 {
        if set.columns > 0
            || f.response.column_count.is_some()
            || f.cmd == Some(Command::STMT_FETCH)
        {
            f.response.rows = Some(set.rows);
        }
    } else {
        let more = f.response.more_results.get_or_insert_with(Vec::new);
        if more.len() < 16 {
            more.push(set);
        }
    }
}
