//! `input.malformed`: send a corpus of malformed and hostile requests while load runs, one
//! case at a time in seeded order, and record for each what came back, whether the service
//! is still healthy and still serves a valid request, and (after disconnects) whether its
//! running gauge came back down. Each case is one line of `input.jsonl`; the `input.*`
//! verdicts judge those lines.

pub mod corpus;
mod wire;

use super::{Fault, FaultCtx, FaultError, ParamError, params};
use crate::record::{GaugeCheck, InputRecord, Jsonl};
use crate::seed::Rng;
use crate::suite::FaultSpec;
use crate::units::Dur;
use corpus::{Case, Category, Mode};
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use wire::{Answer, Target};

/// The record file, in the run directory.
pub const RECORD_FILE: &str = crate::record::files::INPUT;
/// Characters of a body or error kept as evidence.
const EVIDENCE_CHARS: usize = 160;
/// The running gauge's name.
const GAUGE: &str = "vllm:num_requests_running";

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Sources {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default)]
    cases: Option<Sources>,
    #[serde(default)]
    categories: Option<Vec<Category>>,
    #[serde(default)]
    only: Option<Vec<String>>,
    #[serde(default)]
    answer_within: Option<Dur>,
    #[serde(default)]
    leak_within: Option<Dur>,
    #[serde(default)]
    health_within: Option<Dur>,
    #[serde(default)]
    hold: Option<Dur>,
    #[serde(default)]
    model: Option<String>,
}

/// `input.malformed`.
#[derive(Debug)]
pub struct Malformed {
    cases: Vec<Case>,
    sources: Vec<String>,
    answer_within: Duration,
    leak_within: Duration,
    health_within: Duration,
    hold: Duration,
    model: Option<String>,
    /// `for`: the corpus stops when it is over.
    within: Option<Duration>,
}

/// The corpora a fault's `cases` names (`builtin:openai` when it names none).
fn sources_of(cases: Option<Sources>) -> Vec<String> {
    match cases {
        None => vec!["builtin:openai".to_string()],
        Some(Sources::One(s)) => vec![s],
        Some(Sources::Many(v)) => v,
    }
}

/// The corpora an `input.malformed` fault reads, each with the file it names (`None` for
/// `builtin:openai`); a fault of another kind or with bad parameters reads none.
pub fn corpora(spec: &FaultSpec) -> Vec<(String, Option<PathBuf>)> {
    if spec.kind != "input.malformed" {
        return Vec::new();
    }
    let Ok(p) = params::<Params>(spec) else {
        return Vec::new();
    };
    let dir = suite_dir(&spec.origin);
    sources_of(p.cases)
        .into_iter()
        .map(|s| {
            let file = corpus::file_of(&s, dir.as_deref());
            (s, file)
        })
        .collect()
}

/// The suite file's directory, from an origin such as `suites/x.toml:12:1`.
fn suite_dir(origin: &str) -> Option<PathBuf> {
    let mut parts = origin.rsplitn(3, ':');
    let (_, _, file) = (parts.next()?, parts.next()?, parts.next()?);
    Path::new(file).parent().map(Path::to_path_buf)
}

impl Malformed {
    pub fn build(spec: &FaultSpec) -> Result<Box<dyn Fault>, ParamError> {
        let p: Params = params(spec)?;
        let sources = sources_of(p.cases);
        let err = |message: String| ParamError {
            key: vec!["cases".into()],
            message,
        };
        let dir = suite_dir(&spec.origin);
        let mut cases: Vec<Case> = Vec::new();
        for s in &sources {
            for c in corpus::load(s, dir.as_deref()).map_err(|e| err(e.to_string()))? {
                if cases.iter().any(|o| o.name == c.name) {
                    return Err(err(format!("case `{}` is in two corpora", c.name)));
                }
                cases.push(c);
            }
        }
        if let Some(cats) = &p.categories {
            cases.retain(|c| cats.contains(&c.category));
        }
        if let Some(only) = &p.only {
            // A subset named case by case (what `shakedown shrink` narrows a corpus to).
            if let Some(missing) = only.iter().find(|n| !cases.iter().any(|c| &c.name == *n)) {
                return Err(ParamError {
                    key: vec!["only".into()],
                    message: format!("no case named `{missing}` in the corpus"),
                });
            }
            cases.retain(|c| only.contains(&c.name));
        }
        if cases.is_empty() {
            return Err(ParamError {
                key: vec!["categories".into()],
                message: "no case of these categories in the corpus".into(),
            });
        }
        let d = |v: Option<Dur>, default: u64| v.map_or(Duration::from_millis(default), |d| d.0);
        Ok(Box::new(Malformed {
            cases,
            sources,
            answer_within: d(p.answer_within, 10_000),
            leak_within: d(p.leak_within, 5_000),
            health_within: d(p.health_within, 2_000),
            hold: d(p.hold, 2_000),
            model: p.model,
            within: spec.duration.map(|d| d.0),
        }))
    }

    /// The order a run with `seed` sends the cases in (a seeded Fisher–Yates shuffle).
    fn order(&self, seed: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.cases.len()).collect();
        let mut rng = Rng::fork(seed, "corpus");
        for i in (1..order.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        order
    }

    /// Run every case; returns how many were sent and why it stopped early, if it did.
    async fn run(&self, ctx: &FaultCtx) -> Result<Value, FaultError> {
        let failed = |action: &str, reason: String| FaultError::Failed {
            action: action.into(),
            reason,
        };
        let http = reqwest::Client::builder()
            .http1_only()
            .no_proxy()
            .tcp_nodelay(true)
            // A fresh connection per request: a case must not inherit a connection the
            // previous one left in a strange state.
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| failed("build an HTTP client", e.to_string()))?;
        let base_url = ctx.service.base_url();
        let model = match &self.model {
            Some(m) => m.clone(),
            None => crate::load::client::first_model(&http, &base_url)
                .await
                .map_err(|e| failed("find the served model", e))?,
        };
        let path = ctx.run_dir.join(RECORD_FILE);
        let out = Jsonl::append(&path)
            .map_err(|e| failed(&format!("open {}", path.display()), e.to_string()))?;
        let t = Target {
            http,
            base_url,
            host: format!("127.0.0.1:{}", ctx.service.port),
            model,
            answer_within: self.answer_within,
        };
        let order = self.order(ctx.seed);
        let started = Instant::now();
        let mut sent = 0;
        let mut stopped = None;
        for &i in &order {
            if self.within.is_some_and(|w| started.elapsed() >= w) {
                stopped = Some("`for` ran out".to_string());
                break;
            }
            // A case cut off mid-way leaves no record: the run is ending, not judging it.
            let rec = tokio::select! {
                rec = self.case(ctx, &t, &self.cases[i]) => rec,
                () = ctx.cut.cancelled() => {
                    stopped = Some("the run was cut short".to_string());
                    break;
                }
            };
            sent += 1;
            let down = rec.health_after != Some(200) && rec.valid_after != Some(200);
            if let Err(e) = out.write(&rec) {
                return Err(failed("write input.jsonl", e.to_string()));
            }
            if down {
                // Later cases would only measure a dead service.
                stopped = Some(format!(
                    "the service stopped serving after case `{}`",
                    rec.case
                ));
                break;
            }
        }
        Ok(json!({
            "corpus": self.sources,
            "cases": self.cases.len(),
            "sent": sent,
            "stopped": stopped,
            "records": RECORD_FILE,
        }))
    }

    /// Send one case and look at the service after it.
    async fn case(&self, ctx: &FaultCtx, t: &Target, case: &Case) -> InputRecord {
        let clock = ctx.journal.clock();
        let t_ms = clock.now_ms();
        let body = case.body(&t.model, &t.host);
        let baseline = if case.mode.disconnects() {
            baseline(t).await
        } else {
            None
        };
        let mut during = None;
        let answer = match case.mode {
            Mode::Normal => wire::normal(t, case, body).await,
            Mode::Twice => wire::twice(t, case, body).await,
            Mode::Raw | Mode::Truncated => wire::raw(t, case, body).await,
            Mode::SlowHeaders | Mode::SlowBody => {
                // The check that matters: others are served while this client dawdles.
                let probe = async {
                    tokio::time::sleep(self.hold / 2).await;
                    (health(t, self.health_within).await, valid(t).await)
                };
                let (a, p) = wire::slow(t, case, body, self.hold, probe).await;
                during = Some(p);
                a
            }
            Mode::DisconnectBeforeFirstToken => {
                wire::disconnect_early(t, case, body, admitted(t, baseline, 1)).await
            }
            Mode::DisconnectMidStream => wire::disconnect_mid(t, case, body).await,
            Mode::DisconnectMany => {
                let n = case.count.unwrap_or(1);
                wire::disconnect_many(t, case, body, admitted(t, baseline, n)).await
            }
        };
        let gauge = match baseline {
            Some(b) => Some(settle(t, b, self.leak_within).await),
            None => None,
        };
        let (health_after, (valid_after, valid_error)) = match during {
            Some(p) => p,
            None => (health(t, self.health_within).await, valid(t).await),
        };
        record(
            case,
            t_ms,
            &answer,
            self.answer_within,
            health_after,
            valid_after,
            valid_error,
            gauge,
        )
    }
}

#[allow(clippy::too_many_arguments)]
fn record(
    case: &Case,
    t_ms: f64,
    a: &Answer,
    bound: Duration,
    health_after: Option<u16>,
    valid_after: Option<u16>,
    valid_error: Option<String>,
    gauge: Option<GaugeCheck>,
) -> InputRecord {
    let error_shaped = a.status.filter(|s| *s >= 400).map(|_| shaped(&a.body));
    let evidence = match (&a.error, a.body.is_empty()) {
        (Some(e), _) => e.clone(),
        (None, false) => String::from_utf8_lossy(&a.body).into_owned(),
        (None, true) => String::new(),
    };
    InputRecord {
        case: case.name.clone(),
        category: case.category.name().into(),
        origin: case.origin.clone(),
        expect: case.expect.name().into(),
        mode: case.mode.name().into(),
        t_ms,
        status: a.status,
        result: a.result.into(),
        elapsed_ms: (a.elapsed_ms * 10.0).round() / 10.0,
        answer_bound_ms: case.mode.owes_answer().then_some(bound.as_secs_f64() * 1e3),
        error_shaped,
        evidence: evidence.chars().take(EVIDENCE_CHARS).collect(),
        health_after,
        valid_after,
        valid_error,
        gauge,
    }
}

/// Whether an error body is OpenAI-shaped: `error.message`, `error.type`, `error.code`.
fn shaped(body: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    let e = &v["error"];
    e["message"].is_string() && e["type"].is_string() && e.get("code").is_some()
}

/// `/health` until it says 200 or `within` passes; the last status (`None`: no answer).
async fn health(t: &Target, within: Duration) -> Option<u16> {
    let deadline = Instant::now() + within;
    loop {
        let status = t
            .http
            .get(format!("{}/health", t.base_url))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16());
        if status == Some(200) || Instant::now() >= deadline {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One small valid chat request: its status, and why it failed if it did.
async fn valid(t: &Target) -> (Option<u16>, Option<String>) {
    let body = json!({
        "model": t.model,
        "messages": [{"role": "user", "content": "Say hi."}],
        "max_tokens": 2,
    });
    match t
        .http
        .post(format!("{}/v1/chat/completions", t.base_url))
        .json(&body)
        .timeout(t.answer_within)
        .send()
        .await
    {
        Ok(r) => {
            let status = r.status().as_u16();
            let text = r.text().await.unwrap_or_default();
            let err = (status != 200).then(|| text.chars().take(EVIDENCE_CHARS).collect());
            (Some(status), err)
        }
        Err(e) => (None, Some(e.to_string())),
    }
}

/// The running gauge now; `None` when the service has no such metric.
async fn gauge(t: &Target) -> Option<f64> {
    let r = t
        .http
        .get(format!("{}/metrics", t.base_url))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    if !r.status().is_success() {
        return None;
    }
    parse_gauge(&r.text().await.ok()?)
}

/// Sum of the gauge's samples in Prometheus text (one per model).
fn parse_gauge(text: &str) -> Option<f64> {
    let mut sum = None;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(GAUGE) else {
            continue;
        };
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            continue;
        }
        if let Some(v) = rest.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) {
            *sum.get_or_insert(0.0) += v;
        }
    }
    sum
}

/// The lowest of a few gauge readings (load runs meanwhile and moves it up and down).
async fn baseline(t: &Target) -> Option<f64> {
    let mut low: Option<f64> = None;
    for _ in 0..3 {
        let v = gauge(t).await?;
        low = Some(low.map_or(v, |l: f64| l.min(v)));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    low
}

/// Resolves once the gauge shows `n` more requests than `baseline` (the server admitted the
/// clients that are about to leave), or after a short while if it never does.
async fn admitted(t: &Target, baseline: Option<f64>, n: u32) {
    let deadline = Instant::now() + Duration::from_secs(1);
    let Some(b) = baseline else {
        tokio::time::sleep(Duration::from_millis(100)).await;
        return;
    };
    while Instant::now() < deadline {
        if gauge(t).await.is_some_and(|v| v >= b + f64::from(n.min(8))) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Poll the gauge until it is back at or below `baseline`, at most `within`.
async fn settle(t: &Target, baseline: f64, within: Duration) -> GaugeCheck {
    let start = Instant::now();
    let mut last = baseline;
    loop {
        if let Some(v) = gauge(t).await {
            last = v;
            if v <= baseline {
                return GaugeCheck {
                    baseline,
                    last,
                    settled_ms: Some((start.elapsed().as_secs_f64() * 1e4).round() / 10.0),
                    bound_ms: within.as_secs_f64() * 1e3,
                };
            }
        }
        if start.elapsed() >= within {
            return GaugeCheck {
                baseline,
                last,
                settled_ms: None,
                bound_ms: within.as_secs_f64() * 1e3,
            };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Fault for Malformed {
    fn describe(&self) -> String {
        format!(
            "send {} malformed-input case(s) from {}",
            self.cases.len(),
            self.sources.join(", ")
        )
    }

    fn inject<'a>(&'a mut self, ctx: &'a FaultCtx) -> BoxFuture<'a, Result<Value, FaultError>> {
        Box::pin(async move { self.run(ctx).await })
    }

    fn clear<'a>(&'a mut self, _ctx: &'a FaultCtx) -> BoxFuture<'a, Result<Value, FaultError>> {
        Box::pin(async { Ok(Value::Null) })
    }

    fn draws(&self, seed: u64, _duration: Option<Duration>) -> Value {
        let order: Vec<&str> = self
            .order(seed)
            .into_iter()
            .map(|i| self.cases[i].name.as_str())
            .collect();
        json!({ "case_order": order })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauges_shapes_and_origins() {
        let text = "# HELP x\nvllm:num_requests_running{model_name=\"a\"} 2\nvllm:num_requests_running{model_name=\"b\"} 1.0\nvllm:num_requests_running_total 9\n";
        assert_eq!(parse_gauge(text), Some(3.0));
        assert_eq!(parse_gauge("other 1\n"), None);
        assert!(shaped(
            br#"{"error":{"message":"m","type":"BadRequestError","code":400}}"#
        ));
        assert!(!shaped(br#"{"detail":"Method Not Allowed"}"#));
        assert!(!shaped(b"Internal Server Error"));
        assert_eq!(
            suite_dir("suites/l5/x.toml:3:1"),
            Some(PathBuf::from("suites/l5"))
        );
    }
}
