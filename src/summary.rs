//! The human-readable end-of-run summary the examples print on stderr.

use crate::engine::RunSummary;
use serde_json::Value;
use std::fmt::Write;

/// Render every counter of `s`, one section per layer, omitting zeros (a counter that is absent
/// was zero). Maps of counters (e.g. closes by reason) are flattened as `name.key`.
pub fn render(s: &RunSummary) -> String {
    render_sections(s, &["decode", "reassembly", "dissect"])
}

/// [`render`] limited to some sections (`decode`, `reassembly`, `dissect`): a run without
/// plugins has nothing to say about dissection.
pub fn render_sections(s: &RunSummary, sections: &[&str]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "wiresift summary: {} capture bytes", s.capture_bytes);
    let v = serde_json::to_value(s).unwrap_or(Value::Null);
    for &section in sections {
        let mut items = Vec::new();
        flatten("", &v[section], &mut items);
        let _ = write!(out, "  {section}:");
        if items.is_empty() {
            out.push_str(" (nothing)");
        }
        for (k, n) in items {
            let _ = write!(out, " {k}={n}");
        }
        out.push('\n');
    }
    // The capture error is not repeated here: the caller says it once, with its verdict.
    out
}

fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, x, out);
            }
        }
        Value::Number(n) if n.as_f64() != Some(0.0) => {
            out.push((prefix.to_string(), n.to_string()))
        }
        Value::Bool(true) => out.push((prefix.to_string(), "true".into())),
        Value::Array(a) if !a.is_empty() => {
            let parts: Vec<String> = a.iter().map(|x| x.to_string()).collect();
            out.push((prefix.to_string(), parts.join(",")))
        }
        Value::String(s) if !s.is_empty() => out.push((prefix.to_string(), s.clone())),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flatten_skips_zeros_and_nests() {
        let v = serde_json::json!({"a": 0, "b": 3, "c": {"x": 1, "y": 0}});
        let mut items = Vec::new();
        flatten("", &v, &mut items);
        assert_eq!(
            items,
            vec![
                ("b".to_string(), "3".to_string()),
                ("c.x".to_string(), "1".to_string())
            ]
        );
    }
}
