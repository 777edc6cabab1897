//! A test of a perf configuration (`nightly.json`) read into a suite: vLLM's serving
//! benchmark vocabulary (`test_name`, `qps_list`, `max_concurrency_list`,
//! `server_parameters`, `client_parameters`) mapped onto a supervised service and a sweep.

use super::check::{Field, Res, Tbl, list};
use super::limits::{MAX_IN_FLIGHT, MAX_RATE, MAX_TOKENS, number};
use super::load::{SuiteError, from_tree, opt};
use super::tree::{self, Format, Node, Val};
use super::{
    Api, Baseline, Bound, CheckFault, Dur, FilePrompt, FilePromptText, Goodput, Kind, Level,
    PerfSpec, RandomLens, RequestSpec, Suite, SweepPoint, Workload,
};
use std::path::Path;
use std::rc::Rc;

/// Perf baselines (`nightly.baseline.json`) sit beside the configurations that name them;
/// they are read through those, never as suites.
pub const BASELINE_SUFFIX: &str = ".baseline.json";

/// The metrics a baseline may bound, as `perf.json` names them: `<latency>_ms.<statistic>`
/// for each latency and statistic, and these totals.
pub const TOTALS: &[&str] = &[
    "request_throughput",
    "output_throughput",
    "total_token_throughput",
    "request_goodput",
    "completed",
    "failed",
];
/// The latencies of a point (vLLM's names): TTFT, TPOT, ITL, E2E, and the client's own lag.
pub const LATENCIES: &[&str] = &["ttft_ms", "tpot_ms", "itl_ms", "e2el_ms", "lag_ms"];
/// The statistics of each latency.
pub const STATISTICS: &[&str] = &["mean", "median", "std", "p90", "p95", "p99", "min", "max"];

/// Whether a larger value of `metric` is better (throughput) rather than worse (latency, failures).
pub fn higher_is_better(metric: &str) -> bool {
    matches!(
        metric,
        "request_throughput"
            | "output_throughput"
            | "total_token_throughput"
            | "request_goodput"
            | "completed"
    )
}

/// Whether `name` is a metric a baseline may bound.
pub fn is_metric(name: &str) -> bool {
    TOTALS.contains(&name)
        || name
            .split_once('.')
            .is_some_and(|(l, s)| LATENCIES.contains(&l) && STATISTICS.contains(&s))
}

const TEST_KEYS: &[&str] = &[
    "test_name",
    "description",
    "hardware",
    "budget",
    "qps_list",
    "max_concurrency_list",
    "server_command",
    "server_parameters",
    "server_env",
    "ready",
    "client_parameters",
    "cooldown",
    "baseline",
];

const CLIENT_KEYS: &[&str] = &[
    "backend",
    "model",
    "dataset_name",
    "dataset_path",
    "random_input_len",
    "random_output_len",
    "random_range_ratio",
    "random_mm_num_images",
    "random_mm_image_size",
    "num_prompts",
    "num_warmups",
    "burstiness",
    "ignore_eos",
    "stream",
    "timeout",
    "goodput",
    "max_schedule_lag_p99",
    "max_failed_pct",
];

/// The suite of one perf test (merged over the file's defaults).
pub(crate) fn suite(top: &Tbl, test: &Field, path: &Path, check: &CheckFault) -> Res<Suite> {
    let t = test.table(format!("`{}`", test.key), Some(TEST_KEYS))?;
    let name_f = t.req("test_name", "the test's name")?;
    // The suite-format tables this test stands for, every value at the place it was written.
    let mut suite_tbl = vec![("name".to_string(), name_f.node.clone())];
    for key in ["description", "hardware", "budget"] {
        if let Some(f) = t.get(key) {
            suite_tbl.push((key.to_string(), f.node.clone()));
        }
    }
    for key in ["level", "seed"] {
        if let Some(f) = top.get(key) {
            suite_tbl.push((key.to_string(), f.node.clone()));
        }
    }
    let service = service_node(&t)?;
    let root = node(
        test.node,
        Val::Table(vec![
            ("suite".into(), node(test.node, Val::Table(suite_tbl))),
            ("service".into(), service),
        ]),
    );
    let mut suite = from_tree(path, &root, check)?;
    if top.get("level").is_none() {
        suite.meta.level = Level::L4;
    }
    suite.meta.kind = Kind::Perf;
    suite.perf = Some(spec(&t, path)?);
    Ok(suite)
}

fn node(like: &Node, val: Val) -> Node {
    Node {
        at: like.at.clone(),
        val,
    }
}

/// `server_command` followed by each `server_parameters` entry as a flag (vLLM's way:
/// `tensor_parallel_size: 2` → `--tensor-parallel-size 2`, `"": ""` a bare flag), with
/// `ready` and `server_env` as the `[service]` table has them.
fn service_node(t: &Tbl) -> Res<Node> {
    let cmd = t.req(
        "server_command",
        "the command that starts the service, e.g. [\"vllm\", \"serve\", \"--port\", \"{port}\"]",
    )?;
    let Val::Array(argv) = &cmd.node.val else {
        return Err(cmd.expected("a list of strings"));
    };
    let mut argv = argv.clone();
    if let Some(params) = t.get("server_parameters") {
        let p = params.table("`server_parameters`", None)?;
        for (k, v) in p.entries {
            let flag = format!("--{}", k.replace('_', "-"));
            argv.push(node(v, Val::Str(flag)));
            let value = match &v.val {
                Val::Str(s) if s.is_empty() => continue,
                Val::Bool(true) => continue,
                Val::Str(s) => s.clone(),
                Val::Int(i) => i.to_string(),
                Val::Float(f) => f.to_string(),
                _ => {
                    let f = p.get(k).unwrap_or_else(|| params.clone());
                    return Err(f.expected("a string, a number, `true` or \"\" (a bare flag)"));
                }
            };
            argv.push(node(v, Val::Str(value)));
        }
    }
    let mut service = vec![("command".to_string(), node(cmd.node, Val::Array(argv)))];
    if let Some(f) = t.get("ready") {
        service.push(("ready".into(), f.node.clone()));
    }
    if let Some(f) = t.get("server_env") {
        service.push(("env".into(), f.node.clone()));
    }
    Ok(node(cmd.node, Val::Table(service)))
}

fn spec(t: &Tbl, path: &Path) -> Res<PerfSpec> {
    let points = points(t)?;
    let empty = Node {
        at: t.node.at.clone(),
        val: Val::Table(Vec::new()),
    };
    let client_f = t.get("client_parameters").unwrap_or(Field {
        node: &empty,
        key: "client_parameters".into(),
        within: t.name.clone(),
    });
    let c = client_f.table("`client_parameters`", Some(CLIENT_KEYS))?;
    let api = match c.get("backend") {
        Some(f) => f.one_of(&[
            ("openai-chat", Api::Chat),
            ("openai", Api::Completions),
            ("vllm", Api::Completions),
        ])?,
        None => Api::Chat,
    };
    let count = |key: &str, lo: u32, hi: u32, default: u32| -> Res<u32> {
        Ok(opt(c.get(key), |f| f.int(lo, hi))?.unwrap_or(default))
    };
    let lens = RandomLens {
        input_len: count("random_input_len", 1, 100_000, 32)?,
        output_len: count("random_output_len", 1, MAX_TOKENS, 16)?,
        range_ratio: match c.get("random_range_ratio") {
            Some(f) => fraction(&f, "a number from 0 to 1 (below 1)", 0.0, 0.999_999)?,
            None => 0.0,
        },
    };
    let dataset = match c.get("dataset_name") {
        Some(f) => f.one_of(&[("random", 0), ("random-mm", 1), ("jsonl", 2)])?,
        None => 0,
    };
    let workload = match dataset {
        0 => Workload::Random(lens),
        1 => {
            if api != Api::Chat {
                let f = c.get("dataset_name").unwrap_or_else(|| client_f.clone());
                return Err(f.fail("needs `backend` `\"openai-chat\"`: images go in chat messages"));
            }
            Workload::RandomImages {
                lens,
                images: count("random_mm_num_images", 1, 16, 1)? as usize,
                size: count("random_mm_image_size", 1, 4096, 64)?,
            }
        }
        _ => jsonl(&c, &client_f, path)?,
    };
    let stream = opt(c.get("stream"), Field::bool)?.unwrap_or(true);
    let goodput = match c.get("goodput") {
        Some(f) => {
            let g = f.table("`goodput`", Some(&["ttft", "tpot", "e2el"]))?;
            Goodput {
                ttft: opt(g.get("ttft"), Field::pos_dur)?,
                tpot: opt(g.get("tpot"), Field::pos_dur)?,
                e2el: opt(g.get("e2el"), Field::pos_dur)?,
            }
        }
        None => Goodput::default(),
    };
    let burstiness = match c.get("burstiness") {
        Some(f) => {
            let b = f.number("a number more than 0")?;
            if !(b > 0.0 && b <= 1e6) {
                return Err(f.expected("a number more than 0 and at most 1000000"));
            }
            b
        }
        None => 1.0,
    };
    let baseline = t.get("baseline").map(|f| baseline(&f, path)).transpose()?;
    Ok(PerfSpec {
        points,
        num_prompts: count("num_prompts", 1, 10_000_000, 200)? as usize,
        num_warmups: count("num_warmups", 0, 100_000, 0)? as usize,
        burstiness,
        workload,
        request: RequestSpec {
            api,
            stream,
            max_tokens: lens.output_len,
            model: opt(c.get("model"), |f| {
                f.str("a model name").map(str::to_string)
            })?,
            prompt: String::new(),
        },
        ignore_eos: opt(c.get("ignore_eos"), Field::bool)?.unwrap_or(false),
        timeout: opt(c.get("timeout"), Field::pos_dur)?.unwrap_or(Dur::from_secs(60)),
        cooldown: opt(t.get("cooldown"), Field::dur)?.unwrap_or(Dur::from_secs(1)),
        goodput,
        lag_p99_max: opt(c.get("max_schedule_lag_p99"), Field::pos_dur)?
            .unwrap_or(Dur(std::time::Duration::from_millis(10))),
        max_failed: match c.get("max_failed_pct") {
            Some(f) => fraction(&f, "a percentage from 0 to 100", 0.0, 100.0)? / 100.0,
            None => 0.0,
        },
        baseline,
    })
}

fn fraction(f: &Field, expected: &str, lo: f64, hi: f64) -> Res<f64> {
    let v = f.number(expected)?;
    if !(lo..=hi).contains(&v) {
        return Err(f.expected(expected));
    }
    Ok(v)
}

/// Every rate of `qps_list` with every cap of `max_concurrency_list`.
fn points(t: &Tbl) -> Res<Vec<SweepPoint>> {
    let qps_expected = format!(
        "a list of request rates, each a number more than 0 and at most {}, or \"inf\"",
        number(MAX_RATE)
    );
    let qps_f = t.req("qps_list", &qps_expected)?;
    let mut rates = Vec::new();
    for f in qps_f.items(&qps_expected)? {
        rates.push(match &f.node.val {
            Val::Str(s) if s == "inf" => None,
            _ => {
                let q = f.number(&qps_expected)?;
                if !(q > 0.0 && q <= MAX_RATE) {
                    return Err(f.expected(&qps_expected));
                }
                Some(q)
            }
        });
    }
    if rates.is_empty() {
        return Err(qps_f.expected(&qps_expected));
    }
    let caps = match t.get("max_concurrency_list") {
        Some(f) => {
            let caps = f
                .items("a list of concurrency caps")?
                .iter()
                .map(|c| c.int(1, MAX_IN_FLIGHT).map(|c| Some(c as usize)))
                .collect::<Res<Vec<_>>>()?;
            if caps.is_empty() {
                return Err(f.expected("a list of at least one concurrency cap"));
            }
            caps
        }
        None => vec![None],
    };
    let mut points = Vec::new();
    for &qps in &rates {
        for &max_concurrency in &caps {
            let p = SweepPoint {
                qps,
                max_concurrency,
            };
            if points.contains(&p) {
                return Err(qps_f.fail(format_args!("names the point `{}` twice", p.name())));
            }
            points.push(p);
        }
    }
    Ok(points)
}

/// The prompts of a JSON-lines file: each line `{"prompt": "..."}` or `{"messages": [...]}`,
/// with an optional `max_tokens`.
fn jsonl(c: &Tbl, client_f: &Field, path: &Path) -> Res<Workload> {
    let f = c
        .get("dataset_path")
        .ok_or_else(|| client_f.fail("has `dataset_name` \"jsonl\" without `dataset_path`"))?;
    let rel = Path::new(f.str("a path to a JSON-lines file")?);
    let file = path.parent().unwrap_or(Path::new(".")).join(rel);
    let text = std::fs::read_to_string(&file)
        .map_err(|e| f.fail(format_args!("cannot be read ({}): {e}", file.display())))?;
    let mut prompts = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = |col: usize, message: String| SuiteError {
            file: file.clone(),
            line: i + 1,
            col,
            message,
        };
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| at(e.column(), format!("is not JSON: {e}")))?;
        let prompt = match (v.get("prompt"), v.get("messages")) {
            (Some(serde_json::Value::String(p)), None) => FilePromptText::Text(p.clone()),
            (None, Some(m @ serde_json::Value::Array(_))) => FilePromptText::Messages(m.clone()),
            _ => {
                return Err(at(
                    1,
                    "expected an object with `prompt` (a string) or `messages` (a list)".into(),
                ));
            }
        };
        let max_tokens = match v.get("max_tokens") {
            None => None,
            Some(m) => Some(
                m.as_u64()
                    .filter(|&m| (1..=u64::from(MAX_TOKENS)).contains(&m))
                    .ok_or_else(|| {
                        at(
                            1,
                            format!("`max_tokens` expected an integer from 1 to {MAX_TOKENS}"),
                        )
                    })? as u32,
            ),
        };
        prompts.push(FilePrompt { prompt, max_tokens });
    }
    if prompts.is_empty() {
        return Err(f.fail(format_args!(
            "names {}, which holds no prompt",
            file.display()
        )));
    }
    Ok(Workload::Jsonl {
        path: file,
        prompts,
    })
}

/// A baseline file: `{"previous": PATH, "regress_pct": N, "points": {POINT: {METRIC: {"min"|"max": N}}}}`.
fn baseline(f: &Field, path: &Path) -> Res<Baseline> {
    let rel = Path::new(f.str("a path to a baseline JSON file")?);
    let dir = path.parent().unwrap_or(Path::new("."));
    let file = dir.join(rel);
    let text = std::fs::read_to_string(&file)
        .map_err(|e| f.fail(format_args!("cannot be read ({}): {e}", file.display())))?;
    let rc: Rc<Path> = Rc::from(file.as_path());
    let root = tree::parse(&rc, &text, Format::Json)?;
    let top =
        Field::root(&root).table("the baseline", Some(&["previous", "regress_pct", "points"]))?;
    let previous = opt(top.get("previous"), |f| {
        f.str("a path to a previous perf.json or its run directory")
            .map(|p| file.parent().unwrap_or(dir).join(p))
    })?;
    let regress_pct = match top.get("regress_pct") {
        Some(f) => fraction(&f, "a percentage from 0 to 1000", 0.0, 1000.0)?,
        None => 10.0,
    };
    let mut bounds = Vec::new();
    if let Some(points) = top.get("points") {
        let p = points.table("`points`", None)?;
        for (point, _) in p.entries {
            let pf = p.get(point).unwrap_or_else(|| points.clone());
            let m = pf.table(format!("`points.{point}`"), None)?;
            for (metric, _) in m.entries {
                let mf = m.get(metric).unwrap_or_else(|| pf.clone());
                if !is_metric(metric) {
                    return Err(mf.fail(format_args!(
                        "is not a metric, expected one of {} or `LATENCY.STAT` with LATENCY one of {} and STAT one of {}",
                        list(TOTALS),
                        list(LATENCIES),
                        list(STATISTICS)
                    )));
                }
                let b = mf.table(format!("`points.{point}.{metric}`"), Some(&["min", "max"]))?;
                let bound = Bound {
                    point: point.clone(),
                    metric: metric.clone(),
                    min: opt(b.get("min"), |f| f.number("a number"))?,
                    max: opt(b.get("max"), |f| f.number("a number"))?,
                };
                if bound.min.is_none() && bound.max.is_none() {
                    return Err(mf.fail("has neither `min` nor `max`"));
                }
                bounds.push(bound);
            }
        }
    }
    Ok(Baseline {
        file,
        bounds,
        previous,
        regress_pct,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names() {
        assert!(is_metric("ttft_ms.p99") && is_metric("request_throughput"));
        assert!(!is_metric("ttft_ms.p98") && !is_metric("ttft.p99") && !is_metric("p99"));
        assert!(higher_is_better("output_throughput") && !higher_is_better("e2el_ms.p99"));
        let p = SweepPoint {
            qps: Some(2.5),
            max_concurrency: Some(8),
        };
        assert_eq!(p.name(), "qps_2.5_concurrency_8");
        assert_eq!(
            SweepPoint {
                qps: None,
                max_concurrency: None
            }
            .name(),
            "qps_inf"
        );
    }
}
