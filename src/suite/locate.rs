//! Locating key paths in suite source text.

use super::tree::{self, Format};
use std::path::Path;
use std::rc::Rc;

/// Where the key (or array element) at `path` stands in `text`, as 1-based `(line, col)`.
///
/// Path segments are table keys or decimal array indexes, e.g. `["fault", "1", "use"]`.
/// A path that does not exist resolves to the deepest part of it that does; text that
/// does not parse resolves to where the syntax error is.
pub fn locate<S: AsRef<str>>(text: &str, format: Format, path: &[S]) -> (usize, usize) {
    let file: Rc<Path> = Rc::from(Path::new(""));
    match tree::parse(&file, text, format) {
        Ok(root) => {
            let at = &root.find(path).at;
            (at.line, at.col)
        }
        Err(e) => (e.line, e.col),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOML: &str = r#"[suite]
name = "x"

[service.api]
command = ["a", "{port.nope}"]
ready = { http = "/h", within = "3s" }
after = ["cache"]

[load]
  rate = 5

[[fault]]
kind = "process.kill"

[[fault]]
use = "k"
"#;

    const JSON: &str = r#"{
  "suite": {"name": "x"},
  "service": {
    "api": {
      "command": ["a", "{port.nope}"],
      "ready": {"http": "/h", "within": "3s"},
      "after": ["cache"]
    }
  },
  "load": {
      "rate": 5
  },
  "fault": [
    {"kind": "process.kill"},
    {"use": "k"}
  ]
}"#;

    #[test]
    fn toml_paths() {
        let at = |p: &[&str]| locate(TOML, Format::Toml, p);
        assert_eq!(at(&[]), (1, 1));
        assert_eq!(at(&["suite"]), (1, 2));
        assert_eq!(at(&["suite", "name"]), (2, 1));
        assert_eq!(at(&["service", "api"]), (4, 10));
        assert_eq!(at(&["service", "api", "command", "1"]), (5, 17));
        assert_eq!(at(&["service", "api", "ready", "within"]), (6, 24));
        assert_eq!(at(&["service", "api", "after", "0"]), (7, 10));
        assert_eq!(at(&["load", "rate"]), (10, 3));
        assert_eq!(at(&["fault", "0"]), (12, 1));
        assert_eq!(at(&["fault", "1", "use"]), (16, 1));
        // Missing tails stop at the deepest existing node.
        assert_eq!(at(&["load", "nope", "deeper"]), (9, 2));
        assert_eq!(at(&["fault", "7"]), (12, 3));
    }

    #[test]
    fn json_paths() {
        let at = |p: &[&str]| locate(JSON, Format::Json, p);
        assert_eq!(at(&[]), (1, 1));
        assert_eq!(at(&["suite", "name"]), (2, 13));
        assert_eq!(at(&["service", "api"]), (4, 5));
        assert_eq!(at(&["service", "api", "command", "1"]), (5, 24));
        assert_eq!(at(&["service", "api", "ready", "within"]), (6, 31));
        assert_eq!(at(&["service", "api", "after", "0"]), (7, 17));
        assert_eq!(at(&["load", "rate"]), (11, 7));
        assert_eq!(at(&["fault", "0"]), (14, 5));
        assert_eq!(at(&["fault", "1", "use"]), (15, 6));
        assert_eq!(at(&["load", "nope"]), (10, 3));
    }

    #[test]
    fn unparsable_text_points_at_the_syntax_error() {
        assert_eq!(locate("[a]\nb = = 1\n", Format::Toml, &["a", "b"]), (2, 5));
        assert_eq!(locate("{\"a\": }", Format::Json, &["a"]), (1, 7));
    }
}
