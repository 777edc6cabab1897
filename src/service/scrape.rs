//! Chosen series of a service's Prometheus text (`/metrics`), as a soak samples them.

use std::collections::BTreeMap;

/// The value of each series of `names` in Prometheus exposition `text`, summed over its label
/// sets (`vllm:request_success_total` over every `finished_reason`); a name the text lacks is
/// left out. Lines are read one by one: a malformed line is skipped, never an error.
pub fn values(text: &str, names: &[&str]) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name_end = line.find(['{', ' ', '\t']).unwrap_or(line.len());
        let name = &line[..name_end];
        if !names.contains(&name) {
            continue;
        }
        // After the labels (which may hold spaces inside quotes): value [timestamp].
        let rest = match line[name_end..].starts_with('{') {
            true => line.rfind('}').map_or("", |i| &line[i + 1..]),
            false => &line[name_end..],
        };
        let Some(v) = rest
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        else {
            continue;
        };
        if v.is_finite() {
            *out.entry(name.to_string()).or_insert(0.0) += v;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_label_sets_and_skips_the_rest() {
        let text = "# HELP x y\n# TYPE a counter\n\
                    a{model_name=\"m\",r=\"stop\"} 3\n\
                    a{model_name=\"m o}\",r=\"length\"} 4 1700000000\n\
                    b 2.5\n\
                    c{x=\"1\"} NaN\n\
                    garbage\n\
                    b_other 9\n";
        let v = values(text, &["a", "b", "c", "d"]);
        assert_eq!(v.get("a"), Some(&7.0));
        assert_eq!(v.get("b"), Some(&2.5));
        assert!(!v.contains_key("c") && !v.contains_key("d") && !v.contains_key("b_other"));
    }
}
