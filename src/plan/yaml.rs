//! A small YAML writer in block style (what CI pipeline files look like), keys in the order
//! given.
//!
//! Scalars are written as JSON, which YAML reads unchanged (a JSON string is a YAML
//! double-quoted scalar): no value can be misread as a number, a bool, a comment or a key,
//! whatever it holds.

use serde_json::Value;

/// A YAML value: a mapping (in order), a sequence, or a scalar.
#[derive(Debug, Clone)]
pub enum Node {
    Map(Vec<(String, Node)>),
    Seq(Vec<Node>),
    Leaf(Value),
}

impl Node {
    /// A mapping from `(key, value)` pairs, in order.
    pub fn map<const N: usize>(entries: [(&str, Node); N]) -> Node {
        Node::Map(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    }

    /// A scalar.
    pub fn leaf(v: impl Into<Value>) -> Node {
        Node::Leaf(v.into())
    }

    /// Whether it is written as a block (a non-empty mapping or sequence).
    fn is_block(&self) -> bool {
        match self {
            Node::Map(m) => !m.is_empty(),
            Node::Seq(s) => !s.is_empty(),
            Node::Leaf(_) => false,
        }
    }

    /// As a YAML document.
    pub fn to_yaml(&self) -> String {
        let mut out = String::new();
        match self {
            Node::Map(m) if self.is_block() => map(m, 0, false, &mut out),
            Node::Seq(s) if self.is_block() => seq(s, 0, &mut out),
            _ => {
                out.push_str(&flow(self));
                out.push('\n');
            }
        }
        out
    }
}

/// The entries of `m`, each on its own line at `indent`; `after_dash`: the first one
/// follows the `- ` of a sequence item already written.
fn map(m: &[(String, Node)], indent: usize, after_dash: bool, out: &mut String) {
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 || !after_dash {
            out.push_str(&" ".repeat(indent));
        }
        out.push_str(&key(k));
        out.push(':');
        if v.is_block() {
            out.push('\n');
            block(v, indent + 2, out);
        } else {
            out.push(' ');
            out.push_str(&flow(v));
            out.push('\n');
        }
    }
}

/// The items of `s`, each `- ` at `indent`.
fn seq(s: &[Node], indent: usize, out: &mut String) {
    for v in s {
        out.push_str(&" ".repeat(indent));
        out.push_str("- ");
        match v {
            Node::Map(m) if v.is_block() => map(m, indent + 2, true, out),
            Node::Seq(_) if v.is_block() => {
                out.push('\n');
                seq_of(v, indent + 2, out);
            }
            _ => {
                out.push_str(&flow(v));
                out.push('\n');
            }
        }
    }
}

/// A block mapping or sequence at `indent`.
fn block(v: &Node, indent: usize, out: &mut String) {
    match v {
        Node::Map(m) => map(m, indent, false, out),
        _ => seq_of(v, indent, out),
    }
}

fn seq_of(v: &Node, indent: usize, out: &mut String) {
    if let Node::Seq(s) = v {
        seq(s, indent, out);
    }
}

/// A key: bare when it is a plain word, else quoted.
fn key(k: &str) -> String {
    let plain = k.starts_with(|c: char| c.is_ascii_alphabetic())
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        k.to_string()
    } else {
        json(&Value::from(k))
    }
}

/// A scalar or an empty collection in flow style.
fn flow(v: &Node) -> String {
    match v {
        Node::Leaf(x) => json(x),
        Node::Map(_) => "{}".into(),
        Node::Seq(_) => "[]".into(),
    }
}

fn json(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The same value as a node (keys in the JSON map's order).
    fn node(v: &Value) -> Node {
        match v {
            Value::Object(m) => Node::Map(m.iter().map(|(k, v)| (k.clone(), node(v))).collect()),
            Value::Array(a) => Node::Seq(a.iter().map(node).collect()),
            x => Node::Leaf(x.clone()),
        }
    }

    #[test]
    fn reads_back_as_the_same_value() {
        let tricky = [
            "yes",
            "no",
            "null",
            "~",
            "1.0",
            "0x1F",
            "- item",
            "a: b",
            "# not a comment",
            "line\nbreak",
            "quote \" and \\",
            "tab\there",
            "ünï",
            "",
            "*alias",
            "&anchor",
            "{flow}",
            "[flow]",
            "@at",
            "%pct",
            "'single'",
            "\u{1}",
        ];
        let v = json!({
            "steps": [
                {
                    "label": "L2 mock-smoke",
                    "command": "shakedown run 'a b.toml'",
                    "agents": { "queue": "cpu" },
                    "artifact_paths": ["shakedown-runs/**/*"],
                    "soft_fail": false,
                    "empty": [],
                    "none": {},
                    "n": 3,
                    "x": null,
                    "nested": [[1, 2], [], [{ "a": 1, "b": [true] }]]
                },
                "plain",
                tricky,
                { "odd key: #1": tricky, "-dash": { "deep": [{}] } }
            ],
            "9lives": 1.5
        });
        let text = node(&v).to_yaml();
        let back: Value = serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back, v, "{text}");
    }

    #[test]
    fn keys_stay_in_order() {
        let n = Node::map([(
            "steps",
            Node::Seq(vec![Node::map([
                ("label", Node::leaf("a")),
                ("agents", Node::map([("queue", Node::leaf("cpu"))])),
            ])]),
        )]);
        assert_eq!(
            n.to_yaml(),
            "steps:\n  - label: \"a\"\n    agents:\n      queue: \"cpu\"\n"
        );
    }
}
