//! Binary-protocol values: the parameters of COM_STMT_EXECUTE / COM_STMT_BULK_EXECUTE and the
//! query attributes of COM_QUERY (CLIENT_QUERY_ATTRIBUTES).

use crate::wire::{type_name, Cur};
use serde::Serialize;

/// A decoded parameter value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    UInt(u64),
    /// FLOAT or DOUBLE.
    Float(f64),
    /// Everything else, as text (dates as `YYYY-MM-DD[ hh:mm:ss[.ffffff]]`, TIME as
    /// `[-]hhh:mm:ss[.ffffff]`, bytes that are not UTF-8 as `\xNN`).
    Text(String),
}

/// One parameter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Param {
    /// Type name (`LONGLONG`, `VAR_STRING`, …).
    #[serde(rename = "type")]
    pub ty: &'static str,
    /// The UNSIGNED flag was set.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unsigned: bool,
    /// Query-attribute name (CLIENT_QUERY_ATTRIBUTES).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The value (`null` when redacted or not decodable).
    pub value: Value,
    /// Full length of a string value that was cut to the output limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub len: Option<u64>,
    /// The value came from COM_STMT_SEND_LONG_DATA.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub long_data: bool,
}

/// Long data sent for one parameter before an execute: total length and a kept prefix.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LongData {
    /// Total bytes sent.
    pub len: u64,
    /// Kept prefix.
    pub prefix: Vec<u8>,
}

/// Why a parameter block could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamError {
    /// The packet ended early (or only a prefix was kept).
    Short,
    /// Types were not sent and none are known from an earlier execute.
    NoTypes,
}

/// Decode one value of type `t` from `c`.
pub fn decode_value(
    c: &mut Cur<'_>,
    t: u8,
    unsigned: bool,
    max: usize,
) -> Option<(Value, Option<u64>)> {
    let v = match t {
        0x01 => {
            let b = c.u8()?;
            if unsigned {
                Value::UInt(u64::from(b))
            } else {
                Value::Int(i64::from(b as i8))
            }
        }
        0x02 | 0x0d => {
            let b = c.u16()?;
            if unsigned || t == 0x0d {
                Value::UInt(u64::from(b))
            } else {
                Value::Int(i64::from(b as i16))
            }
        }
        0x03 | 0x09 => {
            let b = c.u32()?;
            if unsigned {
                Value::UInt(u64::from(b))
            } else {
                Value::Int(i64::from(b as i32))
            }
        }
        0x08 => {
            let b = c.u64()?;
            if unsigned {
                Value::UInt(b)
            } else {
                Value::Int(b as i64)
            }
        }
        0x04 => Value::Float(f64::from(f32::from_bits(c.u32()?))),
        0x05 => Value::Float(f64::from_bits(c.u64()?)),
        0x06 => Value::Null,
        0x07 | 0x0a | 0x0c | 0x0e | 0x11 | 0x12 => Value::Text(datetime(c, t)?),
        0x0b | 0x13 => Value::Text(time(c)?),
        _ => {
            let s = c.lenenc_bytes()?;
            let n = s.len() as u64;
            let keep = s.len().min(max);
            let v = Value::Text(crate::wire::text(&s[..keep], max));
            return Some((v, (s.len() > keep).then_some(n)));
        }
    };
    Some((v, None))
}

fn datetime(c: &mut Cur<'_>, t: u8) -> Option<String> {
    let n = c.u8()?;
    let b = c.take(usize::from(n))?;
    let mut d = Cur::new(b);
    let (y, mo, da) = match n {
        0 => (0, 0, 0),
        _ => (d.u16()?, d.u8()?, d.u8()?),
    };
    let date = format!("{y:04}-{mo:02}-{da:02}");
    if t == 0x0a || t == 0x0e {
        return Some(date);
    }
    let (h, mi, s) = if n >= 7 {
        (d.u8()?, d.u8()?, d.u8()?)
    } else {
        (0, 0, 0)
    };
    let us = if n >= 11 { d.u32()? } else { 0 };
    Some(if us != 0 {
        format!("{date} {h:02}:{mi:02}:{s:02}.{us:06}")
    } else {
        format!("{date} {h:02}:{mi:02}:{s:02}")
    })
}

fn time(c: &mut Cur<'_>) -> Option<String> {
    let n = c.u8()?;
    let b = c.take(usize::from(n))?;
    if n == 0 {
        return Some("00:00:00".into());
    }
    let mut d = Cur::new(b);
    let neg = d.u8()? != 0;
    let days = d.u32()?;
    let (h, mi, s) = (d.u8()?, d.u8()?, d.u8()?);
    let us = if n >= 12 { d.u32()? } else { 0 };
    let hours = u64::from(days) * 24 + u64::from(h);
    let sign = if neg { "-" } else { "" };
    Some(if us != 0 {
        format!("{sign}{hours:02}:{mi:02}:{s:02}.{us:06}")
    } else {
        format!("{sign}{hours:02}:{mi:02}:{s:02}")
    })
}

/// A parameter block: NULL bitmap, new-params-bound flag, types (and names), values.
pub struct Block<'a> {
    /// Number of parameters.
    pub count: usize,
    /// Types from an earlier execute (type, unsigned), used when this one does not bind.
    pub known_types: Option<&'a [(u8, bool)]>,
    /// With query-attribute names after each type.
    pub names: bool,
    /// Long data per parameter index.
    pub long_data: &'a [Option<LongData>],
    /// Keep at most this many bytes per string value.
    pub max_value: usize,
    /// Decode at most this many parameters (the rest are counted).
    pub max_params: usize,
}

/// What a parameter block held.
#[derive(Debug, Default)]
pub struct Decoded {
    /// The decoded parameters (at most `max_params`).
    pub params: Vec<Param>,
    /// The types were sent in this execute (new-params-bound = 1).
    pub bound: bool,
    /// The types in force (to remember for the next execute).
    pub types: Vec<(u8, bool)>,
}

/// Decode a parameter block from `c`.
pub fn decode_block(c: &mut Cur<'_>, b: &Block<'_>) -> Result<Decoded, ParamError> {
    let mut out = Decoded::default();
    if b.count == 0 {
        return Ok(out);
    }
    let bitmap = c.take(b.count.div_ceil(8)).ok_or(ParamError::Short)?;
    out.bound = c.u8().ok_or(ParamError::Short)? == 1;
    let mut names = Vec::new();
    if out.bound {
        // Types are 2 bytes per parameter, names one lenenc string each: bounded by the packet.
        for _ in 0..b.count {
            let t = c.u8().ok_or(ParamError::Short)?;
            let f = c.u8().ok_or(ParamError::Short)?;
            out.types.push((t, f & 0x80 != 0));
            if b.names {
                let n = c.lenenc_bytes().ok_or(ParamError::Short)?;
                names.push(crate::wire::text(n, 64));
            }
        }
    } else {
        match b.known_types {
            Some(t) if t.len() == b.count => out.types = t.to_vec(),
            _ => return Err(ParamError::NoTypes),
        }
    }
    for (i, &(t, unsigned)) in out.types.iter().enumerate() {
        let is_null = bitmap[i / 8] & (1 << (i % 8)) != 0;
        let long = b.long_data.get(i).and_then(Option::as_ref);
        let (value, len, long_data) = if is_null {
            (Value::Null, None, false)
        } else if let Some(ld) = long {
            let keep = ld.prefix.len().min(b.max_value);
            let v = Value::Text(crate::wire::text(&ld.prefix[..keep], b.max_value));
            (v, (ld.len > keep as u64).then_some(ld.len), true)
        } else {
            let (v, l) = decode_value(c, t, unsigned, b.max_value).ok_or(ParamError::Short)?;
            (v, l, false)
        };
        if out.params.len() < b.max_params {
            out.params.push(Param {
                ty: type_name(t),
                unsigned,
                name: names.get(i).cloned(),
                value,
                len,
                long_data,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(t: u8, unsigned: bool, bytes: &[u8]) -> Value {
        let mut c = Cur::new(bytes);
        let v = decode_value(&mut c, t, unsigned, 64).unwrap().0;
        assert!(c.rest.is_empty(), "type {t:#x} left {:?}", c.rest);
        v
    }

    #[test]
    fn every_type() {
        assert_eq!(one(0x01, false, &[0x80]), Value::Int(-128));
        assert_eq!(one(0x01, true, &[0xff]), Value::UInt(255));
        assert_eq!(one(0x02, false, &[0x00, 0x80]), Value::Int(-32768));
        assert_eq!(one(0x02, true, &[0xff, 0xff]), Value::UInt(65535));
        assert_eq!(
            one(0x03, false, &0x8000_0000u32.to_le_bytes()),
            Value::Int(-2147483648)
        );
        assert_eq!(
            one(0x03, true, &u32::MAX.to_le_bytes()),
            Value::UInt(4294967295)
        );
        assert_eq!(
            one(0x08, false, &i64::MIN.to_le_bytes()),
            Value::Int(i64::MIN)
        );
        assert_eq!(
            one(0x08, true, &u64::MAX.to_le_bytes()),
            Value::UInt(u64::MAX)
        );
        assert_eq!(one(0x04, false, &3.5f32.to_le_bytes()), Value::Float(3.5));
        assert_eq!(
            one(0x05, false, &(-1.0e-300f64).to_le_bytes()),
            Value::Float(-1.0e-300)
        );
        assert_eq!(one(0xf6, false, b"\x0512.34"), Value::Text("12.34".into()));
        assert_eq!(
            one(0x0a, false, &[4, 0xcf, 0x07, 12, 31]),
            Value::Text("1999-12-31".into())
        );
        assert_eq!(one(0x0a, false, &[0]), Value::Text("0000-00-00".into()));
        assert_eq!(
            one(0x0c, false, &[4, 0xd1, 0x07, 2, 3]),
            Value::Text("2001-02-03 00:00:00".into())
        );
        assert_eq!(
            one(0x07, false, &[7, 0xe4, 0x07, 6, 7, 8, 9, 10]),
            Value::Text("2020-06-07 08:09:10".into())
        );
        let mut dt11 = vec![11, 0xe8, 0x07, 1, 2, 3, 4, 5];
        dt11.extend_from_slice(&678901u32.to_le_bytes());
        assert_eq!(
            one(0x0c, false, &dt11),
            Value::Text("2024-01-02 03:04:05.678901".into())
        );
        assert_eq!(one(0x0b, false, &[0]), Value::Text("00:00:00".into()));
        assert_eq!(
            one(0x0b, false, &[8, 0, 0, 0, 0, 0, 23, 59, 58]),
            Value::Text("23:59:58".into())
        );
        let mut t12 = vec![12, 1, 2, 0, 0, 0, 3, 4, 5];
        t12.extend_from_slice(&600000u32.to_le_bytes());
        assert_eq!(
            one(0x0b, false, &t12),
            Value::Text("-51:04:05.600000".into())
        );
        assert_eq!(one(0x0d, false, &2024u16.to_le_bytes()), Value::UInt(2024));
        assert_eq!(one(0xfd, false, b"\x03abc"), Value::Text("abc".into()));
        assert_eq!(
            one(0xfc, false, b"\x02\x00\xff"),
            Value::Text("\0\\xff".into())
        );
        assert_eq!(
            one(0x10, false, b"\x02\x0a\x0b"),
            Value::Text("\n\x0b".into())
        );
        assert_eq!(one(0xf5, false, b"\x02{}"), Value::Text("{}".into()));
        assert_eq!(one(0x06, false, b""), Value::Null);
    }

    #[test]
    fn long_string_cut() {
        let mut c = Cur::new(b"\x0aabcdefghij");
        let (v, len) = decode_value(&mut c, 0xfd, false, 4).unwrap();
        assert_eq!((v, len), (Value::Text("abcd".into()), Some(10)));
    }

    #[test]
    fn block_with_nulls_and_reuse() {
        // 2 params: NULL, LONG 7; types bound.
        let data = [0b01, 1, 0x06, 0, 0x03, 0, 7, 0, 0, 0];
        let b = Block {
            count: 2,
            known_types: None,
            names: false,
            long_data: &[],
            max_value: 64,
            max_params: 64,
        };
        let d = decode_block(&mut Cur::new(&data), &b).unwrap();
        assert_eq!(d.params[0].value, Value::Null);
        assert_eq!(d.params[1].value, Value::Int(7));
        // Re-execute without types.
        let data2 = [0, 0, 1, 0, 2, 0, 0, 0];
        let types = d.types.clone();
        let b2 = Block {
            known_types: Some(&types),
            ..b
        };
        assert_eq!(
            decode_block(
                &mut Cur::new(&[0, 0, 5]),
                &Block {
                    known_types: None,
                    ..b2
                }
            )
            .unwrap_err(),
            ParamError::NoTypes
        );
        let d2 = decode_block(&mut Cur::new(&data2), &b2);
        // The first type is NULL (0x06): no value bytes; the LONG takes 4.
        let d2 = d2.unwrap();
        assert_eq!(d2.params[1].value, Value::Int(2 << 16 | 1));
        assert!(!d2.bound);
    }
}
