//! Accuracy probes: each probe of the suite's `[accuracy]` sent to the entry service in turn
//! (directly, not through the proxy: they judge the service, as health polls do), each
//! answer recorded to `accuracy.jsonl`. Whether it is right is the verdict's to say.

use super::Run;
use crate::load::client;
use crate::record::{AccuracyRecord, Jsonl, ProbeRound, files};
use crate::service::Service;

impl Run {
    /// Send one round of probes, if the suite has `[accuracy]` (and, after load, asks for
    /// it); a cut stops the round between probes.
    pub(super) async fn probe_round(
        &self,
        http: &reqwest::Client,
        entry: &Service,
        round: ProbeRound,
    ) -> Result<(), String> {
        let Some(acc) = &self.suite.accuracy else {
            return Ok(());
        };
        if round == ProbeRound::AfterRecovery && !acc.after_recovery {
            return Ok(());
        }
        let path = self.dir.join(files::ACCURACY);
        let out =
            Jsonl::append(&path).map_err(|e| format!("failed to open {}: {e}", path.display()))?;
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
        let base_url = entry.base_url();
        let mut answered = 0;
        for (index, probe) in acc.probes.iter().enumerate() {
            if self.cut.is_cancelled() {
                break;
            }
            let sent_ms = self.clock.now_ms();
            let asked = client::ask(
                http,
                &base_url,
                &model,
                &probe.prompt,
                acc.max_tokens,
                acc.timeout.0,
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
                .map_err(|e| format!("failed to write {}: {e}", path.display()))?;
        }
        let what = match round {
            ProbeRound::Baseline => "before load",
            ProbeRound::AfterRecovery => "after load",
        };
        self.say(format!(
            "  accuracy: {answered} of {} probe(s) answered {what}",
            acc.probes.len()
        ));
        Ok(())
    }
}
