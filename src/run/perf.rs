//! A perf test's middle phase: the service is up once, then each sweep point in turn —
//! ready again, a cool-down, its warm-ups, its measured requests — each point's records in
//! `points/<point>/`. Metrics, result files and verdicts come later, from those records.

use super::Run;
use crate::load::{self, Limit, arrival, client, workload};
use crate::record::{Jsonl, What, files};
use crate::seed;
use crate::service::Service;
use crate::suite::limits::MAX_IN_FLIGHT;
use crate::suite::{PerfSpec, SweepPoint};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a service may take to pass its readiness probe again between points.
const READY_AGAIN: Duration = Duration::from_secs(30);

impl Run {
    /// Drive every point of `spec` against `entry`, in order.
    pub(super) async fn drive_sweep(
        &self,
        spec: &PerfSpec,
        http: &reqwest::Client,
        entry: &Service,
    ) -> Result<(), String> {
        let model = match &spec.request.model {
            Some(m) => m.clone(),
            None => client::first_model(http, &entry.base_url()).await?,
        };
        let n = spec.num_prompts + spec.num_warmups;
        self.say(format!(
            "  perf: {} point(s), {} request(s) each (+{} warm-up)",
            spec.points.len(),
            spec.num_prompts,
            spec.num_warmups
        ));
        // One set of bodies for every point, as vLLM's benchmark samples its dataset once:
        // points differ only in how the same requests arrive.
        let bodies: Vec<bytes::Bytes> = workload::bodies(spec, &model, self.seed, n)
            .iter()
            .map(|b| bytes::Bytes::from(b.to_string()))
            .collect();
        let target = |bodies: Vec<bytes::Bytes>| client::Target {
            base_url: entry.base_url(),
            model: model.clone(),
            request: spec.request.clone(),
            timeout: spec.timeout.0,
            run_tag: format!("shakedown-s{}", self.seed),
            bodies: Some(Arc::new(bodies)),
        };
        for (i, point) in spec.points.iter().enumerate() {
            if self.cut.is_cancelled() {
                break;
            }
            if i > 0 {
                self.cool_down(spec.cooldown.0).await;
                self.ready_again(http, entry).await?;
            }
            let name = point.name();
            let dir = self.dir.join(files::POINTS).join(&name);
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("failed to create {}: {e}", dir.display()))?;
            let open = |file: &str| {
                Jsonl::create(&dir.join(file))
                    .map_err(|e| format!("failed to create {}: {e}", dir.join(file).display()))
            };
            self.journal.log(
                None,
                What::PerfPointStart {
                    point: name.clone(),
                    warmups: spec.num_warmups as u64,
                    requests: spec.num_prompts as u64,
                },
            );
            self.say(format!("  point {name}"));
            let limit = Limit::Wait(point.max_concurrency.unwrap_or(MAX_IN_FLIGHT as usize));
            let drive = |target, arrivals, start, out| {
                load::drive(
                    http.clone(),
                    target,
                    arrivals,
                    start,
                    limit,
                    self.clock,
                    out,
                    self.cut.clone(),
                    self.journal.live(),
                )
            };
            if spec.num_warmups > 0 {
                let warm = target(bodies[spec.num_prompts..].to_vec());
                let at_once = vec![0.0; spec.num_warmups];
                drive(warm, at_once, self.clock.now_ms(), open(files::WARMUP)?).await;
            }
            let measured = target(bodies[..spec.num_prompts].to_vec());
            let arrivals = self.arrivals(spec, point, &name);
            let start = self.clock.now_ms() + 10.0;
            let summary = drive(measured, arrivals, start, open(files::REQUESTS)?).await;
            self.journal.log(
                None,
                What::PerfPointEnd {
                    point: name,
                    summary,
                },
            );
        }
        Ok(())
    }

    /// The point's arrival instants, from its own stream of the seed.
    fn arrivals(&self, spec: &PerfSpec, point: &SweepPoint, name: &str) -> Vec<f64> {
        let mut rng = seed::stream(self.seed, &format!("arrivals/{name}"));
        arrival::sweep(spec.num_prompts, point.qps, spec.burstiness, &mut rng)
    }

    /// The pause between points (cut short by an interrupt or the budget).
    async fn cool_down(&self, d: Duration) {
        let _ = self.cut.run_until_cancelled(tokio::time::sleep(d)).await;
    }

    /// Wait until the service passes its readiness probe again.
    async fn ready_again(&self, http: &reqwest::Client, entry: &Service) -> Result<(), String> {
        let deadline = Instant::now() + READY_AGAIN;
        while !entry.is_ready(http).await {
            if Instant::now() > deadline || self.cut.is_cancelled() {
                return Err(format!(
                    "service `{}` did not pass its readiness probe again within {READY_AGAIN:?} between sweep points",
                    entry.spec.name
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }
}
