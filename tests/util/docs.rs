//! The Markdown the docs tests read: which files, and their fenced code blocks.

use std::path::{Path, PathBuf};

/// A fenced code block: its language, the 1-based line its text starts on, and its text.
pub struct Block {
    pub file: PathBuf,
    pub lang: String,
    pub line: usize,
    pub text: String,
}

impl Block {
    /// Where the block's text starts, as `file:line`.
    pub fn at(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }
}

/// Every Markdown file with examples: `README.md` and everything under `docs/`.
pub fn markdown() -> Vec<PathBuf> {
    let mut out = vec![PathBuf::from("README.md")];
    let mut dirs = vec![PathBuf::from("docs")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("read docs").flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "md") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The fenced code blocks of the given Markdown files, in order.
pub fn blocks(files: &[PathBuf]) -> Vec<Block> {
    files.iter().flat_map(|f| blocks_of(f)).collect()
}

fn blocks_of(file: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("failed to read {}: {e}", file.display()));
    let mut out = Vec::new();
    // The open block and its fence's indentation (a block inside a list item is indented).
    let mut open: Option<(Block, usize)> = None;
    for (i, l) in text.lines().enumerate() {
        let body = l.trim_start_matches(' ');
        match (&mut open, body.strip_prefix("```")) {
            (None, Some(lang)) => {
                let block = Block {
                    file: file.to_path_buf(),
                    lang: lang.trim().to_string(),
                    line: i + 2,
                    text: String::new(),
                };
                open = Some((block, l.len() - body.len()))
            }
            (Some(_), Some(_)) => out.extend(open.take().map(|(b, _)| b)),
            (Some((b, indent)), None) => {
                let cut = l.len() - l.trim_start_matches(' ').len();
                b.text.push_str(&l[cut.min(*indent)..]);
                b.text.push('\n');
            }
            (None, None) => {}
        }
    }
    out
}
