//! Accuracy probes: each probe of the suite's `[accuracy]` sent to the entry service in turn
//! (directly, not through the proxy: they judge the service, as health polls do), each
//! answer recorded to `accuracy.jsonl`. Whether it is right is the verdict's to say.
//!
//! Rounds: the baseline before load; with `after_recovery = true`, one after each fault
//! once the service answers again, and one after load with every fault cleared.

use super::Run;
use crate::load::client;
use crate::record::{AccuracyRecord, Clock, Jsonl, ProbeRound, files};
use crate::service::Service;
use crate::suite::AccuracySpec;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often a fault's probe round asks whether the service answers again.
const RECOVERY_POLL: Duration = Duration::from_millis(200);

/// What a round of probes needs, cloneable into the fault tasks.
#[derive(Clone)]
pub(super) struct Prober {
    acc: Arc<AccuracySpec>,
    http: reqwest::Client,
    base_url: String,
    model: String,
    path: PathBuf,
    clock: Clock,
    cut: CancellationToken,
    progress: super::Progress,
    /// How long a fault's round waits for the service to answer again.
    recover_within: Duration,
}

impl Run {
    /// The prober of this run, if the suite has `[accuracy]`.
    pub(super) async fn prober(
        &self,
        http: &reqwest::Client,
        entry: &Service,
    ) -> Result<Option<Prober>, String> {
        let Some(acc) = &self.suite.accuracy else {
            return Ok(None);
        };
        let model = match self
            .suite
            .load
            .as_ref()
            .and_then(|l| l.request.model.clone())
        {
            Some(m) => m,
            None => client::first_model(http, &entry.base_url())
                .await
                .map_err(|e| format!("failed to find the model to probe: {e}"))?,
        };
        Ok(Some(Prober {
            acc: Arc::new(acc.clone()),
            http: http.clone(),
            base_url: entry.base_url(),
            model,
            path: self.dir.join(files::ACCURACY),
            clock: self.clock,
            cut: self.cut.clone(),
            progress: self.progress.clone(),
            recover_within: self
                .suite
                .expect
                .recover_within
                .map_or(Duration::from_secs(30), |d| d.0),
        }))
    }
}

impl Prober {
    /// Whether rounds after faults and load are asked for.
    pub fn after_recovery(&self) -> bool {
        self.acc.after_recovery
    }

    /// After fault `index`: once the service answers the first probe again (within the
    /// suite's `recover_within`, else 30 s), a round; none if it never does (its recovery is
    /// `recover_within`'s to judge, not the probes').
    pub async fn after_fault(&self, index: usize) -> Result<(), String> {
        if !self.acc.after_recovery {
            return Ok(());
        }
        let Some(first) = self.acc.probes.first() else {
            return Ok(());
        };
        let deadline = tokio::time::Instant::now() + self.recover_within;
        loop {
            let asked = client::ask(
                &self.http,
                &self.base_url,
                &self.model,
                &first.prompt,
                self.acc.max_tokens,
                self.acc.timeout.0,
            );
            match self.cut.run_until_cancelled(asked).await {
                None => return Ok(()),
                Some((_, Ok(_))) => break,
                Some(_) if tokio::time::Instant::now() >= deadline => return Ok(()),
                Some(_) => {
                    let pause = tokio::time::sleep(RECOVERY_POLL);
                    if self.cut.run_until_cancelled(pause).await.is_none() {
                        return Ok(());
                    }
                }
            }
        }
        self.round(ProbeRound::AfterFault(index)).await
    }

    /// Send one round of probes; a cut stops the round between probes.
    pub async fn round(&self, round: ProbeRound) -> Result<(), String> {
        if round != ProbeRound::Baseline && !self.acc.after_recovery {
            return Ok(());
        }
        let out = Jsonl::append(&self.path)
            .map_err(|e| format!("failed to open {}: {e}", self.path.display()))?;
        let mut answered = 0;
        for (index, probe) in self.acc.probes.iter().enumerate() {
            if self.cut.is_cancelled() {
                break;
            }
            let sent_ms = self.clock.now_ms();
            let asked = client::ask(
                &self.http,
                &self.base_url,
                &self.model,
                &probe.prompt,
                self.acc.max_tokens,
                self.acc.timeout.0,
            );
            let Some((status, answer)) = self.cut.run_until_cancelled(asked).await else {
                break;
            };
            answered += usize::from(answer.is_ok());
            let (answer, error) = match answer {
                Ok(a) => (Some(a), None),
                Err(e) => (None, Some(e)),
            };
            let rec = AccuracyRecord {
                round,
                index,
                sent_ms,
                done_ms: self.clock.now_ms(),
                status,
                answer,
                error,
            };
            out.write(&rec)
                .map_err(|e| format!("failed to write {}: {e}", self.path.display()))?;
        }
        self.progress.say(&format!(
            "  accuracy: {answered} of {} probe(s) answered {}",
            self.acc.probes.len(),
            round.when()
        ));
        Ok(())
    }
}
