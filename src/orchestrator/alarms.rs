//! The workload's CloudWatch alarms (`AlarmPrefixes`, `AlarmSelection`):
//! the plan's survey of the alarms selected, muted (actions disabled,
//! recorded in the run ledger) before a Stop acts, unmuted at the end of a
//! Start, and settled after a Stop that is over.

use super::records::Recorder;
use crate::action::Action;
use crate::config::WorkloadConfig;
use crate::plan::{Plan, Step};
use crate::ports::{Alarms, WorkloadPorts};
use crate::records::{Book, Place, Restore, Untrusted};
use crate::summary::{Noted, RunSummary};
use crate::traffic::{Alarm, AlarmStep};

/// The alarm muting of a run: CloudWatch and the run's records.
pub(crate) struct AlarmMuting<'a> {
    pub(crate) alarms: &'a dyn Alarms,
    pub(crate) recorder: &'a Recorder,
}

impl AlarmMuting<'_> {
    /// Stop: records (in the run ledger), then disables the actions of the
    /// plan's alarms to mute, before the first tier acts. A failure is
    /// noted, never fatal: the instances still stop. An alarm whose actions
    /// could not be disabled (IAM allows only `AlarmNamePrefixes`) has its
    /// record removed again: it is reported once, never unmuted later.
    pub(crate) async fn mute(&self, plan: &Plan, summary: &mut RunSummary) {
        let alarms = plan_alarms(plan, AlarmStep::Mute);
        if alarms.is_empty() {
            return;
        }
        let place = self.recorder.place();
        let restores = alarms
            .iter()
            .map(|a| (place.alarm(&a.name), Restore::MutedAlarm { arn: a.arn.clone() }))
            .collect();
        let reason = match self.recorder.put(restores).await {
            Err(e) => format!("NOT muted: the mute could not be recorded: {e}"),
            Ok(()) => match self.alarms.mute(&alarms).await {
                Ok(()) => "actions disabled while the workload is stopped (recorded in the run ledger)".to_string(),
                Err(e) => {
                    let subjects: Vec<_> = alarms.iter().map(|a| place.alarm(&a.name)).collect();
                    let _ = self.recorder.remove("muted", &subjects).await;
                    format!("FAILED, not retried: {e}")
                }
            },
        };
        note_alarms(summary, &alarms, &reason);
    }

    /// Start, at the end of the run (failures included: a failed morning
    /// Start must still page): enables the actions of every alarm the run
    /// ledger says the scheduler muted for the workload, then drops the
    /// records (a failure there is a warning).
    pub(crate) async fn unmute_all(&self, plan: &Plan, summary: &mut RunSummary) {
        let alarms = plan_alarms(plan, AlarmStep::Unmute);
        self.unmute(&alarms, "actions enabled again", summary).await;
    }

    /// After a Stop that is over (no continuation follows): one that
    /// stopped nothing of what it was to stop (every member due kept
    /// running, or it ended before any tier acted) enables again what it
    /// muted and says so; one that stopped part of the workload keeps them
    /// muted, and its summary names the alarms muted while members still
    /// run. (A Stop of a workload already stopped keeps its alarms muted.)
    pub(crate) async fn settle_after_stop(&self, plan: &Plan, summary: &mut RunSummary) {
        let muted: Vec<Alarm> = plan
            .alarms
            .iter()
            .filter(|a| a.step == AlarmStep::Mute || a.alarm.muted_by_us)
            .map(|a| a.alarm.clone())
            .collect();
        if muted.is_empty() {
            return;
        }
        let [acted, _, bypassed, failed, not_done] = summary.totals();
        let earlier = plan.members().any(|m| matches!(m.step, Step::DoneEarlier { .. }))
            || plan
                .instances()
                .any(|(_, i)| matches!(i.step, Step::DoneEarlier { .. }));
        let kept_running = bypassed + failed + not_done > 0;
        if acted == 0 && !earlier && kept_running {
            let muted = plan_alarms(plan, AlarmStep::Mute);
            summary.alarms.clear();
            let why = "actions enabled again: the Stop stopped nothing";
            self.unmute(&muted, why, summary).await;
        } else if bypassed + failed + not_done > 0 {
            let names: Vec<&str> = muted.iter().map(|a| a.name.as_str()).collect();
            summary
                .message
                .push_str(&format!("; alarms muted while members still run: {}", names.join(", ")));
        }
    }

    /// EnableAlarmActions of `alarms`, then their records removed.
    async fn unmute(&self, alarms: &[Alarm], done: &str, summary: &mut RunSummary) {
        if alarms.is_empty() {
            return;
        }
        let reason = match self.alarms.unmute(alarms).await {
            Err(e) => format!("FAILED: {e}"),
            Ok(()) => {
                let place = self.recorder.place();
                let subjects: Vec<_> = alarms.iter().map(|a| place.alarm(&a.name)).collect();
                match self.recorder.remove("muted", &subjects).await {
                    Ok(()) => done.to_string(),
                    Err(e) => format!("{done}; warning: its record was not removed: {e}"),
                }
            }
        };
        note_alarms(summary, alarms, &reason);
    }
}

/// The plan's alarms whose step is `step`.
fn plan_alarms(plan: &Plan, step: AlarmStep) -> Vec<Alarm> {
    plan.alarms
        .iter()
        .filter(|a| a.step == step)
        .map(|a| a.alarm.clone())
        .collect()
}

/// One summary line per alarm.
fn note_alarms(summary: &mut RunSummary, alarms: &[Alarm], reason: &str) {
    summary.alarms.extend(alarms.iter().map(|a| Noted {
        id: a.name.clone(),
        reason: reason.to_string(),
    }));
}

/// Read-only additions to a plan from CloudWatch: the alarms
/// `AlarmPrefixes` selects, with their steps (at Start, also those the run
/// ledger says the scheduler muted). An alarm survey that cannot look is a
/// plan warning, never a refusal.
pub(crate) async fn survey(
    ports: &WorkloadPorts,
    config: &WorkloadConfig,
    plan: &mut Plan,
    (book, place, untrusted): (&Book, &Place, &mut Vec<Untrusted>),
) {
    let w = &config.workload;
    let starting = plan.action == Action::Start;
    if w.alarms.any() || (starting && book.all().any(|r| r.subject.kind == "Alarm")) {
        let tag = (w.filter_tag_name.clone(), w.filter_tag_value.clone());
        let selected = match w.alarms.any() {
            true => ports.alarms.select(&w.alarms, &tag).await,
            false => Ok(Vec::new()),
        };
        match selected {
            Ok(mut alarms) => {
                untrusted.extend(crate::records::trust_alarms(book, place, &mut alarms, starting));
                plan.add_alarms(alarms)
            }
            Err(e) => plan
                .warnings
                .push(format!("the workload's alarms could not be read: {e}")),
        }
    }
}
