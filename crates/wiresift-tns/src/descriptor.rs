//! Connect descriptors: `(DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(HOST=h)(PORT=1521))
//! (CONNECT_DATA=(SERVICE_NAME=s)(CID=(PROGRAM=p)(HOST=h)(USER=u))))`, and the `(ERR=nnnnn)`
//! of REFUSE data.
//!
//! The parser walks the nested `(KEY=VALUE)` pairs with a bounded depth and keeps the first
//! value of each field it knows, by path (a `HOST` under `CID` is the client's host, under
//! `ADDRESS` the server's). Anything else is ignored; a descriptor that does not parse still
//! keeps its raw text (bounded) in the request.

use serde::Serialize;

/// The fields of a connect descriptor that the transaction reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConnectData {
    /// `SERVICE_NAME`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// `SID`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// `INSTANCE_NAME`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_name: Option<String>,
    /// `SERVER` (DEDICATED, SHARED, POOLED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// `CID.PROGRAM`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
    /// `CID.HOST`: the client's host name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_host: Option<String>,
    /// `CID.USER`: the client's OS user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_user: Option<String>,
    /// The first `ADDRESS`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
}

/// `(ADDRESS=(PROTOCOL=…)(HOST=…)(PORT=…))`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Address {
    /// `PROTOCOL`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// `HOST`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// `PORT`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
}

const MAX_DEPTH: usize = 16;
const MAX_VALUE: usize = 256;

/// Visit every `KEY=VALUE` leaf with the upper-cased keys of its enclosing pairs.
fn walk(text: &str, mut f: impl FnMut(&[String], &str, &str)) {
    let b = text.as_bytes();
    let mut path: Vec<String> = Vec::new();
    let mut i = 0usize;
    while i < b.len() {
        match b[i] {
            b'(' => {
                // Read KEY up to '='.
                let ks = i + 1;
                let Some(eq) = b[ks..]
                    .iter()
                    .position(|&c| c == b'=' || c == b'(' || c == b')')
                else {
                    return;
                };
                if b[ks + eq] != b'=' {
                    i = ks + eq;
                    continue;
                }
                let key = text[ks..ks + eq].trim().to_ascii_uppercase();
                let vs = ks + eq + 1;
                // A nested value starts with '(' (after blanks); a leaf runs to ')'.
                let rest = &b[vs..];
                let lead = rest.iter().take_while(|c| c.is_ascii_whitespace()).count();
                if rest.get(lead) == Some(&b'(') {
                    if path.len() >= MAX_DEPTH {
                        return;
                    }
                    path.push(key);
                    i = vs + lead;
                } else {
                    let end = rest.iter().position(|&c| c == b')').unwrap_or(rest.len());
                    let val = text.get(vs..vs + end).unwrap_or("").trim();
                    f(&path, &key, val);
                    i = vs + end + 1;
                }
            }
            b')' => {
                path.pop();
                i += 1;
            }
            _ => i += 1,
        }
    }
}

fn bounded(s: &str) -> String {
    s.chars().take(MAX_VALUE).collect()
}

/// Parse a connect descriptor.
pub fn parse(text: &str) -> ConnectData {
    let mut cd = ConnectData::default();
    let mut addr: Option<Address> = None;
    let mut addr_done = false;
    walk(text, |path, key, val| {
        let parent = path.last().map(String::as_str).unwrap_or("");
        let set = |slot: &mut Option<String>| {
            if slot.is_none() {
                *slot = Some(bounded(val));
            }
        };
        match (parent, key) {
            ("CID", "PROGRAM") => set(&mut cd.program),
            ("CID", "HOST") => set(&mut cd.client_host),
            ("CID", "USER") => set(&mut cd.client_user),
            ("ADDRESS", k) if !addr_done => {
                let a = addr.get_or_insert_with(Address::default);
                match k {
                    "PROTOCOL" => set(&mut a.protocol),
                    "HOST" => set(&mut a.host),
                    "PORT" => {
                        set(&mut a.port);
                        addr_done = true;
                    }
                    _ => {}
                }
            }
            (_, "SERVICE_NAME") => set(&mut cd.service_name),
            (_, "SID") => set(&mut cd.sid),
            (_, "INSTANCE_NAME") => set(&mut cd.instance_name),
            (_, "SERVER") => set(&mut cd.server),
            _ => {}
        }
    });
    cd.address = addr;
    cd
}

/// The `(ERR=nnnnn)` code of REFUSE data (or of any descriptor), as a number.
pub fn err_code(text: &str) -> Option<u32> {
    let mut code = None;
    walk(text, |_, key, val| {
        if code.is_none() && key == "ERR" {
            code = val.parse().ok();
        }
    });
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_fields() {
        let cd = parse("(DESCRIPTION=(CONNECT_DATA=(SID=igor)(CID=(PROGRAM=sqlplus@kali)(HOST=kali)(USER=root)))(ADDRESS=(PROTOCOL=TCP)(HOST=10.0.72.139)(PORT=1521)))");
        assert_eq!(cd.sid.as_deref(), Some("igor"));
        assert_eq!(cd.program.as_deref(), Some("sqlplus@kali"));
        assert_eq!(cd.client_host.as_deref(), Some("kali"));
        assert_eq!(cd.client_user.as_deref(), Some("root"));
        let a = cd.address.unwrap();
        assert_eq!(a.host.as_deref(), Some("10.0.72.139"));
        assert_eq!(a.port.as_deref(), Some("1521"));
        assert_eq!(a.protocol.as_deref(), Some("TCP"));
        let cd = parse("(DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(HOST=h)(PORT=1))(CONNECT_DATA=(SERVICE_NAME=svc)(SERVER=DEDICATED)(INSTANCE_NAME=i1)))");
        assert_eq!(cd.service_name.as_deref(), Some("svc"));
        assert_eq!(cd.server.as_deref(), Some("DEDICATED"));
        assert_eq!(cd.instance_name.as_deref(), Some("i1"));
        assert_eq!(cd.client_host, None);
    }

    #[test]
    fn refuse_err() {
        assert_eq!(
            err_code("(DESCRIPTION=(TMP=)(VSNNUM=0)(ERR=12514)(ERROR_STACK=(ERROR=(CODE=12514)(EMFI=4))))"),
            Some(12514)
        );
        assert_eq!(err_code("(ERR=x)"), None);
        assert_eq!(err_code("(((((("), None);
    }

    #[test]
    fn hostile_text_is_bounded() {
        let deep = "(A=".repeat(10_000);
        assert_eq!(parse(&deep), ConnectData::default());
        let _ = parse(")))(=)(=(=))(SID=");
    }
}
