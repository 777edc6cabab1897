//! A parsed suite file as one tree for both formats, remembering where every key and element stands.
//!
//! Validation walks this tree instead of a `serde_json::Value` so that every error, including
//! those found long after parsing (a cycle, an unknown fault parameter), can name `file:line:col`.

use super::load::SuiteError;
use std::path::Path;
use std::rc::Rc;

/// The syntax of a suite file, chosen by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.toml`
    Toml,
    /// `.json`
    Json,
}

impl Format {
    /// The format a path's extension names, if any.
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()? {
            "toml" => Some(Format::Toml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// A position in a source file; line and column are 1-based, the column counts characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Loc {
    pub file: Rc<Path>,
    pub line: usize,
    pub col: usize,
}

/// A value and where it stands: the key's position for a table entry, the element's for an array element.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub at: Loc,
    pub val: Val,
}

/// A value of either format.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    Str(String),
    /// Wide enough for TOML's i64 and JSON's u64.
    Int(i128),
    Float(f64),
    Bool(bool),
    /// JSON only.
    Null,
    /// TOML only; kept so that it can be rejected where it stands.
    Datetime(String),
    Array(Vec<Node>),
    /// Entries in source order.
    Table(Vec<(String, Node)>),
}

impl Node {
    /// The entry `key` of a table (`None` for other values too).
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.val {
            Val::Table(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, n)| n),
            _ => None,
        }
    }

    /// The child a path segment names: a table key, or an array index in decimal.
    pub fn child(&self, seg: &str) -> Option<&Node> {
        match &self.val {
            Val::Table(_) => self.get(seg),
            Val::Array(items) => seg.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        }
    }

    /// The node at `path`, or the deepest node on the way there that exists.
    pub fn find<S: AsRef<str>>(&self, path: &[S]) -> &Node {
        let mut node = self;
        for seg in path {
            match node.child(seg.as_ref()) {
                Some(next) => node = next,
                None => break,
            }
        }
        node
    }
}

/// Offsets of line starts, to turn byte offsets into line:col.
struct Lines<'a> {
    text: &'a str,
    starts: Vec<usize>,
    file: Rc<Path>,
}

impl<'a> Lines<'a> {
    fn new(file: &Rc<Path>, text: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Lines {
            text,
            starts,
            file: file.clone(),
        }
    }

    fn loc(&self, offset: usize) -> Loc {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        // Count characters, not bytes, so columns match what an editor shows.
        let col = match self.text.get(start..offset) {
            Some(s) => s.chars().count() + 1,
            None => offset - start + 1,
        };
        Loc {
            file: self.file.clone(),
            line,
            col,
        }
    }

    /// The offset of a 1-based line and byte column (as serde_json reports them).
    fn offset(&self, line: usize, byte_col: usize) -> usize {
        let start = self
            .starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(self.text.len());
        let mut off = (start + byte_col.saturating_sub(1)).min(self.text.len());
        while !self.text.is_char_boundary(off) {
            off -= 1;
        }
        off
    }
}

/// Parse `text` as `format` into a located tree; syntax errors are located by the parser.
pub(crate) fn parse(file: &Rc<Path>, text: &str, format: Format) -> Result<Node, SuiteError> {
    // Editors do not count a byte-order mark as a column, and serde_json rejects it.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines = Lines::new(file, text);
    match format {
        Format::Toml => parse_toml(&lines),
        Format::Json => parse_json(&lines),
    }
}

fn parse_toml(lines: &Lines) -> Result<Node, SuiteError> {
    let doc = toml_edit::Document::parse(lines.text).map_err(|e| {
        let at = lines.loc(e.span().map_or(0, |s| s.start));
        SuiteError::at(&at, format!("TOML syntax error: {}", one_line(e.message())))
    })?;
    Ok(toml_table(lines, doc.as_table(), lines.loc(0)))
}

fn toml_table(lines: &Lines, t: &toml_edit::Table, at: Loc) -> Node {
    let entries = t
        .iter()
        .map(|(k, item)| {
            let kat = t
                .key(k)
                .and_then(|k| k.span())
                .map_or_else(|| at.clone(), |s| lines.loc(s.start));
            (k.to_string(), toml_item(lines, item, kat))
        })
        .collect();
    Node {
        at,
        val: Val::Table(entries),
    }
}

fn toml_item(lines: &Lines, item: &toml_edit::Item, at: Loc) -> Node {
    use toml_edit::Item;
    match item {
        Item::Table(t) => toml_table(lines, t, at),
        Item::ArrayOfTables(a) => {
            let items = a
                .iter()
                .map(|t| {
                    // Each element stands at its `[[name]]` header.
                    let eat = t.span().map_or_else(|| at.clone(), |s| lines.loc(s.start));
                    toml_table(lines, t, eat)
                })
                .collect();
            Node {
                at,
                val: Val::Array(items),
            }
        }
        Item::Value(v) => toml_value(lines, v, at),
        // `Table::iter` skips these; an empty table is the closest meaning.
        Item::None => Node {
            at,
            val: Val::Table(Vec::new()),
        },
    }
}

fn toml_value(lines: &Lines, v: &toml_edit::Value, at: Loc) -> Node {
    use toml_edit::Value;
    let val = match v {
        Value::String(s) => Val::Str(s.value().clone()),
        Value::Integer(i) => Val::Int(i128::from(*i.value())),
        Value::Float(f) => Val::Float(*f.value()),
        Value::Boolean(b) => Val::Bool(*b.value()),
        Value::Datetime(d) => Val::Datetime(d.value().to_string()),
        Value::Array(a) => Val::Array(
            a.iter()
                .map(|e| {
                    let eat = e.span().map_or_else(|| at.clone(), |s| lines.loc(s.start));
                    toml_value(lines, e, eat)
                })
                .collect(),
        ),
        Value::InlineTable(t) => Val::Table(
            t.iter()
                .map(|(k, e)| {
                    let kat = t
                        .key(k)
                        .and_then(|k| k.span())
                        .map_or_else(|| at.clone(), |s| lines.loc(s.start));
                    (k.to_string(), toml_value(lines, e, kat))
                })
                .collect(),
        ),
    };
    Node { at, val }
}

/// Parser messages can span lines; errors are one line.
fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

fn parse_json(lines: &Lines) -> Result<Node, SuiteError> {
    // serde_json judges the syntax (good messages); the scanner below then only sees valid JSON.
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(lines.text) {
        let at = lines.loc(lines.offset(e.line(), e.column()));
        let msg = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let msg = msg.strip_suffix(&suffix).unwrap_or(&msg);
        return Err(SuiteError::at(&at, format!("JSON syntax error: {msg}")));
    }
    let mut p = Json { lines, pos: 0 };
    p.ws();
    let at = lines.loc(p.pos);
    p.value(at)
}

/// A scanner over text already known to be valid JSON (so its own errors are only defensive).
struct Json<'a, 'b> {
    lines: &'b Lines<'a>,
    pos: usize,
}

impl Json<'_, '_> {
    fn bytes(&self) -> &[u8] {
        self.lines.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn fail(&self) -> SuiteError {
        SuiteError::at(&self.lines.loc(self.pos), "JSON syntax error")
    }

    fn eat(&mut self, b: u8) -> Result<(), SuiteError> {
        self.ws();
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.fail())
        }
    }

    fn value(&mut self, at: Loc) -> Result<Node, SuiteError> {
        self.ws();
        let val = match self.peek() {
            Some(b'{') => self.object()?,
            Some(b'[') => self.array()?,
            Some(b'"') => Val::Str(self.string()?),
            Some(b't' | b'f' | b'n') => {
                let rest = &self.lines.text[self.pos..];
                let (val, len) = if rest.starts_with("true") {
                    (Val::Bool(true), 4)
                } else if rest.starts_with("false") {
                    (Val::Bool(false), 5)
                } else if rest.starts_with("null") {
                    (Val::Null, 4)
                } else {
                    return Err(self.fail());
                };
                self.pos += len;
                val
            }
            Some(_) => self.number()?,
            None => return Err(self.fail()),
        };
        Ok(Node { at, val })
    }

    fn object(&mut self) -> Result<Val, SuiteError> {
        self.eat(b'{')?;
        let mut entries: Vec<(String, Node)> = Vec::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Val::Table(entries));
        }
        loop {
            self.ws();
            let kat = self.lines.loc(self.pos);
            let key = self.string()?;
            if entries.iter().any(|(k, _)| *k == key) {
                // serde_json would keep the last silently; TOML rejects this, so JSON does too.
                return Err(SuiteError::at(
                    &kat,
                    format!("duplicate key `{key}`, expected each key once per object"),
                ));
            }
            self.eat(b':')?;
            let node = self.value(kat)?;
            entries.push((key, node));
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Val::Table(entries));
                }
                _ => return Err(self.fail()),
            }
        }
    }

    fn array(&mut self) -> Result<Val, SuiteError> {
        self.eat(b'[')?;
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Val::Array(items));
        }
        loop {
            self.ws();
            let at = self.lines.loc(self.pos);
            items.push(self.value(at)?);
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Val::Array(items));
                }
                _ => return Err(self.fail()),
            }
        }
    }

    fn string(&mut self) -> Result<String, SuiteError> {
        let start = self.pos;
        if self.peek() != Some(b'"') {
            return Err(self.fail());
        }
        let mut i = start + 1;
        let b = self.bytes();
        while i < b.len() && b[i] != b'"' {
            i += if b[i] == b'\\' { 2 } else { 1 };
        }
        let end = (i + 1).min(b.len());
        let s = serde_json::from_str::<String>(&self.lines.text[start..end])
            .map_err(|_| self.fail())?;
        self.pos = end;
        Ok(s)
    }

    fn number(&mut self) -> Result<Val, SuiteError> {
        let start = self.pos;
        while matches!(
            self.peek(),
            Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
        ) {
            self.pos += 1;
        }
        let n: serde_json::Number =
            serde_json::from_str(&self.lines.text[start..self.pos]).map_err(|_| self.fail())?;
        Ok(if let Some(i) = n.as_i64() {
            Val::Int(i128::from(i))
        } else if let Some(u) = n.as_u64() {
            Val::Int(i128::from(u))
        } else {
            Val::Float(n.as_f64().unwrap_or(f64::NAN))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> Rc<Path> {
        Rc::from(Path::new("t"))
    }

    #[test]
    fn json_tree_keeps_positions_and_rejects_duplicates() {
        let text = "{\n  \"a\": [1, {\"b\": \"é\"}],\n  \"c\": 2.5\n}";
        let root = parse(&file(), text, Format::Json).expect("valid");
        let b = root.find(&["a", "1", "b"]);
        assert_eq!((b.at.line, b.at.col), (2, 13));
        assert!(matches!(&b.val, Val::Str(s) if s == "é"));
        let c = root.find(&["c"]);
        assert_eq!((c.at.line, c.at.col), (3, 3));
        assert!(matches!(c.val, Val::Float(f) if f == 2.5));
        let e = parse(&file(), "{\"a\": 1,\n \"a\": 2}", Format::Json).expect_err("duplicate");
        assert_eq!((e.line, e.col), (2, 2));
    }

    #[test]
    fn syntax_errors_are_located() {
        let e = parse(&file(), "{\n  \"a\": 1,\n}", Format::Json).expect_err("trailing comma");
        assert_eq!((e.line, e.col), (3, 1), "{e}");
        let e = parse(&file(), "[a]\nb = \n", Format::Toml).expect_err("missing value");
        assert_eq!((e.line, e.col), (2, 5), "{e}");
        assert!(e.message.starts_with("TOML syntax error: "), "{e}");
    }
}
