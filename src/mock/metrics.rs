//! Prometheus text exposition of the server's counters and gauges (vLLM's names where
//! vLLM has them).

use super::generate::Finish;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Counters and gauges the request path updates.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Requests holding a generation slot.
    pub running: AtomicI64,
    /// Requests waiting for a slot.
    pub waiting: AtomicI64,
    /// Prompt tokens of admitted requests.
    pub prompt_tokens: AtomicU64,
    /// Finished sequences by reason: [stop, length].
    success: [AtomicU64; 2],
    /// `(handler, method, status)` → count.
    http: Mutex<BTreeMap<(&'static str, String, u16), u64>>,
}

/// Values the supervisor owns, sampled when rendering.
#[derive(Debug, Clone, Copy)]
pub struct EngineSample {
    /// Tokens generated.
    pub generation_tokens: u64,
    /// Whether the engine is up and answering.
    pub up: bool,
    /// Engine respawns so far.
    pub restarts: u64,
}

impl Metrics {
    /// Count one finished sequence.
    pub fn finished(&self, f: Finish) {
        let i = match f {
            Finish::Stop => 0,
            Finish::Length => 1,
        };
        self.success[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Count one HTTP response.
    pub fn http(&self, handler: &'static str, method: &str, status: u16) {
        let mut m = self.http.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry((handler, method.to_string(), status)).or_default() += 1;
    }

    /// The exposition text.
    pub fn render(&self, model: &str, engine: EngineSample) -> String {
        let model = escape(model);
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, String)]| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let ml = format!("{{model_name=\"{model}\"}}");
        family(
            "vllm:num_requests_running",
            "gauge",
            "Number of requests in model execution batches.",
            &[(
                ml.clone(),
                self.running.load(Ordering::Relaxed).max(0).to_string(),
            )],
        );
        family(
            "vllm:num_requests_waiting",
            "gauge",
            "Number of requests waiting to be processed.",
            &[(
                ml.clone(),
                self.waiting.load(Ordering::Relaxed).max(0).to_string(),
            )],
        );
        family(
            "vllm:prompt_tokens_total",
            "counter",
            "Number of prefill tokens processed.",
            &[(
                ml.clone(),
                self.prompt_tokens.load(Ordering::Relaxed).to_string(),
            )],
        );
        family(
            "vllm:generation_tokens_total",
            "counter",
            "Number of generation tokens processed.",
            &[(ml.clone(), engine.generation_tokens.to_string())],
        );
        let success: Vec<(String, String)> = [("stop", 0), ("length", 1)]
            .iter()
            .map(|(reason, i)| {
                (
                    format!("{{finished_reason=\"{reason}\",model_name=\"{model}\"}}"),
                    self.success[*i].load(Ordering::Relaxed).to_string(),
                )
            })
            .collect();
        family(
            "vllm:request_success_total",
            "counter",
            "Count of successfully processed requests.",
            &success,
        );
        family(
            "shakedown_mock_engine_up",
            "gauge",
            "Whether the engine is alive and answering heartbeats.",
            &[(ml.clone(), u8::from(engine.up).to_string())],
        );
        family(
            "shakedown_mock_engine_restarts_total",
            "counter",
            "Engine processes started to replace a dead one.",
            &[(ml, engine.restarts.to_string())],
        );
        let http: Vec<(String, String)> = self
            .http
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|((handler, method, status), n)| {
                (
                    format!(
                        "{{handler=\"{handler}\",method=\"{}\",status=\"{status}\"}}",
                        escape(method)
                    ),
                    n.to_string(),
                )
            })
            .collect();
        family(
            "http_requests_total",
            "counter",
            "Total number of HTTP requests by handler, method and status.",
            &http,
        );
        let rss: Vec<(String, String)> = resident_bytes()
            .map(|b| (String::new(), b.to_string()))
            .into_iter()
            .collect();
        family(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            &rss,
        );
        out
    }
}

/// Escape a label value.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// This process's resident set size, from `/proc/self/status`.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_families_with_help_type_and_labels() {
        let m = Metrics::default();
        m.http("/health", "GET", 200);
        m.http("/health", "GET", 200);
        m.finished(Finish::Length);
        let text = m.render(
            "a\"b",
            EngineSample {
                generation_tokens: 7,
                up: true,
                restarts: 0,
            },
        );
        assert!(text.contains("# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{model_name=\"a\\\"b\"} 0\n"));
        assert!(text.contains("vllm:generation_tokens_total{model_name=\"a\\\"b\"} 7\n"));
        assert!(text.contains(
            "http_requests_total{handler=\"/health\",method=\"GET\",status=\"200\"} 2\n"
        ));
        assert!(text.contains(
            "vllm:request_success_total{finished_reason=\"length\",model_name=\"a\\\"b\"} 1\n"
        ));
        assert!(text.contains("# HELP process_resident_memory_bytes"));
        assert!(resident_bytes().is_some_and(|b| b > 0));
    }
}
