//! `certificate.html`: the certificate as one self-contained page (inline CSS, no script, no
//! network): the verdict, each level's matrix of suites × verdict ids, the hashes, the hardware.
//! Everything read from files is escaped.

use super::{Certificate, Overall};
use crate::report::RunStatus;
use crate::report::junit::esc;
use crate::verdict::Status;
use std::fmt::Write as _;

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:.2em .5em;font-size:90%}\
th{background:#eee}.verdict{font-size:3em;font-weight:bold;padding:.2em .5em;display:inline-block}\
.PASS,.pass,.passed{background:#bde5b8}.FAIL,.fail,.failed,.xpass,.error,.interrupted,.aborted{background:#f4b6b6}\
.xfail{background:#f6e3a1}.skip,.skipped,.notjudged{background:#ddd}\
code,pre{font-family:monospace;font-size:90%}";

/// Render the page.
pub fn render(c: &Certificate) -> String {
    let mut h = String::new();
    let release = esc(&c.release);
    let overall = match c.overall {
        Overall::Pass => "PASS",
        Overall::Fail => "FAIL",
    };
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>certificate {release}</title>\
         <style>{STYLE}</style></head><body>\n<h1>Release {release}</h1>\n\
         <div class=\"verdict {overall}\">{overall}</div>\n<p>certified {} by shakedown {}</p>\n",
        esc(&c.created_at),
        esc(&c.shakedown)
    );
    if !c.reasons.is_empty() {
        h.push_str("<ul>\n");
        for r in &c.reasons {
            let _ = writeln!(h, "<li>{}</li>", esc(r));
        }
        h.push_str("</ul>\n");
    }
    for l in &c.levels {
        let _ = writeln!(h, "<h2>Level {}</h2>", esc(&l.level));
        h.push_str("<table><tr><th>suite</th><th>status</th>");
        for id in &l.verdicts {
            let _ = write!(h, "<th>{}</th>", esc(id));
        }
        h.push_str("<th>run</th></tr>\n");
        for r in &l.suites {
            let status = status_word(r.status);
            let title = r
                .reason
                .as_deref()
                .map(|x| format!(" title=\"{}\"", esc(x)))
                .unwrap_or_default();
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"{status}\"{title}>{status}</td>",
                esc(&r.suite)
            );
            for id in &l.verdicts {
                match r.cells.get(id) {
                    Some(s) => {
                        let w = cell_word(*s);
                        let _ = write!(h, "<td class=\"{w}\">{w}</td>");
                    }
                    None => h.push_str("<td></td>"),
                }
            }
            let link = |p: &Option<String>, text: &str| {
                p.as_deref()
                    .map(|p| format!("<a href=\"{}\">{text}</a>", esc(p)))
                    .unwrap_or_default()
            };
            let _ = writeln!(
                h,
                "<td>{} {}</td></tr>",
                link(&r.run_dir, "directory"),
                link(&r.report_html, "report")
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str("<h2>Hashes</h2>\n<table><tr><th>kind</th><th>path</th><th>sha256</th></tr>\n");
    for x in &c.hashes {
        let kind = serde_json::to_value(x.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let sha = x.sha256.as_deref().unwrap_or("missing");
        let _ = writeln!(
            h,
            "<tr><td>{kind}</td><td><code>{}</code></td><td{}><code>{}</code></td></tr>",
            esc(&x.path),
            if x.missing { " class=\"fail\"" } else { "" },
            esc(sha)
        );
    }
    h.push_str("</table>\n<h2>Hardware</h2>\n");
    let hw = serde_json::to_string_pretty(&c.hardware).unwrap_or_default();
    let _ = writeln!(h, "<pre>{}</pre>\n</body></html>", esc(&hw));
    h
}

fn status_word(s: RunStatus) -> &'static str {
    match s {
        RunStatus::Passed => "passed",
        RunStatus::Failed => "failed",
        RunStatus::Error => "error",
        RunStatus::Interrupted => "interrupted",
        RunStatus::Skipped => "skipped",
        RunStatus::Aborted => "aborted",
    }
}

fn cell_word(s: Status) -> &'static str {
    match s {
        Status::Pass => "pass",
        Status::Fail => "fail",
        Status::Skip => "skip",
        Status::NotJudged => "notjudged",
        Status::XFail => "xfail",
        Status::XPass => "xpass",
    }
}
