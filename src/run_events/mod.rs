//! Every run as events: the details of the EventBridge events a run puts
//! on its workload's bus (`EventBusName`): `Run Started` when a fresh run
//! begins to act, `Tier Completed` once per tier, `Run Completed` once per
//! run, each with a stable `id` (the run key, the event and the tier,
//! encoded as [`crate::key`] does) so consumers drop the duplicates a
//! continuation or a repeated delivery may bring. Lists of members are cut
//! to a bound, with `truncated` set and the counts kept, so every entry
//! fits PutEvents' limits, and [`batches`] packs entries into requests of
//! at most 10 entries and 256 KB. `chat.rs` writes the run's message for
//! AWS Chatbot. Pure: no I/O, no clock.

mod chat;

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::action::Action;
use crate::plan::Plan;
use crate::summary::{Failure, Noted, TierOutcome};
use crate::window::WindowRun;

pub use chat::chat_message;

/// The events' `source`.
pub const SOURCE: &str = "ec2-tier-scheduler";
/// `detail-type` of the event a fresh run puts before its first tier.
pub const RUN_STARTED: &str = "Run Started";
/// `detail-type` of the event put after each tier.
pub const TIER_COMPLETED: &str = "Tier Completed";
/// `detail-type` of the event put once when the run ends.
pub const RUN_COMPLETED: &str = "Run Completed";
/// PutEvents takes at most this many entries a request.
pub const ENTRIES_PER_PUT: usize = 10;
/// PutEvents takes requests under this size (EventBridge's entry size:
/// time, source, detail-type and detail).
pub const PUT_BYTES: usize = 256 * 1024;
/// The most one entry may take, so four fit a request whatever they hold.
pub const ENTRY_BYTES: usize = 60 * 1024;
/// The members kept in each list of a detail, at most (fewer when the
/// detail would outgrow [`ENTRY_BYTES`]).
pub const IDS_KEPT: usize = 100;
/// The characters kept of each reason.
pub const REASON_CHARS: usize = 300;
/// The failures a `Run Completed` detail and the chat message list.
pub const FAILURES_LISTED: usize = 10;

/// What every detail of a run carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunContext {
    /// The workload (SpecName).
    pub workload: String,
    /// Stop or Start.
    pub action: Action,
    /// The run's ledger key (a fresh key for a run without the ledger).
    pub run_key: String,
    /// Which invocation of the run puts the event.
    pub invocation: u32,
    /// The maintenance window the run is for, if any: why the workload ran.
    pub maintenance_window: Option<WindowRun>,
}

/// One PutEvents entry as the run makes it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventEntry {
    /// `Run Started`, `Tier Completed` or `Run Completed`.
    pub detail_type: &'static str,
    /// The detail, a JSON object.
    pub detail: Value,
}

impl EventEntry {
    /// The detail as PutEvents takes it.
    pub fn detail_text(&self) -> String {
        self.detail.to_string()
    }

    /// Its size as EventBridge counts it: 14 bytes of time, the source,
    /// the detail-type and the detail.
    pub fn size(&self) -> usize {
        14 + SOURCE.len() + self.detail_type.len() + self.detail_text().len()
    }

    /// Its `id`.
    pub fn id(&self) -> &str {
        self.detail["id"].as_str().unwrap_or_default()
    }
}

/// The stable id of an event: `event|<run key>|<detail-type>[|<tier>]`,
/// every part encoded, so no tier name or run key can make another
/// event's id.
pub fn event_id(run_key: &str, detail_type: &str, tier: Option<&str>) -> String {
    let mut parts = vec![run_key, detail_type];
    parts.extend(tier);
    crate::key::key("event", &parts)
}

/// The fields every detail starts with.
fn head(context: &RunContext, detail_type: &str, tier: Option<&str>) -> Map<String, Value> {
    let mut detail = Map::new();
    detail.insert("id".into(), json!(event_id(&context.run_key, detail_type, tier)));
    detail.insert("workload".into(), json!(context.workload));
    detail.insert("action".into(), json!(context.action.to_string()));
    detail.insert("runKey".into(), json!(context.run_key));
    detail.insert("invocation".into(), json!(context.invocation));
    if let Some(window) = &context.maintenance_window {
        detail.insert("maintenanceWindow".into(), json!(window));
    }
    detail
}

/// `Run Started`: the plan's tiers in order, with their member counts.
pub fn run_started(context: &RunContext, plan: &Plan) -> EventEntry {
    let mut detail = head(context, RUN_STARTED, None);
    let tiers: Vec<Value> = plan
        .groups
        .iter()
        .flat_map(|g| &g.tiers)
        .map(|t| json!({"tier": t.tier, "sequence": t.sequence, "members": t.instances.len() + t.members.len()}))
        .collect();
    detail.insert("region".into(), json!(plan.region));
    let members: u64 = tiers.iter().filter_map(|t| t["members"].as_u64()).sum();
    detail.insert("members".into(), json!(members));
    detail.insert("tiers".into(), Value::Array(tiers));
    EventEntry {
        detail_type: RUN_STARTED,
        detail: Value::Object(detail),
    }
}

/// A reason cut to [`REASON_CHARS`].
fn short(reason: &str) -> String {
    match reason.char_indices().nth(REASON_CHARS) {
        Some((at, _)) => format!("{}...", &reason[..at]),
        None => reason.to_string(),
    }
}

/// The first `keep` of `items`, each made a value; whether any was left out.
fn kept<T>(items: &[T], keep: usize, each: impl Fn(&T) -> Value) -> (Value, bool) {
    (
        Value::Array(items.iter().take(keep).map(each).collect()),
        items.len() > keep,
    )
}

fn noted(n: &Noted) -> Value {
    json!({"id": n.id, "reason": short(&n.reason)})
}

fn failure(f: &Failure) -> Value {
    let mut v = json!({"id": f.id, "reason": short(&f.reason)});
    if let Some(code) = &f.code {
        v["code"] = json!(code);
    }
    v
}

/// The detail of `Tier Completed` with at most `keep` members per list.
fn tier_detail(context: &RunContext, tier: &TierOutcome, keep: usize) -> Value {
    let mut detail = head(context, TIER_COMPLETED, Some(&tier.tier));
    detail.insert("tier".into(), json!(tier.tier));
    detail.insert("sequence".into(), json!(tier.sequence));
    detail.insert("synchronous".into(), json!(tier.synchronous));
    detail.insert(
        "counts".into(),
        json!({
            "acted": tier.acted.len(),
            "skipped": tier.skipped.len(),
            "bypassed": tier.bypassed.len(),
            "failed": tier.failed.len(),
            "notDone": tier.not_done.len(),
        }),
    );
    let mut truncated = false;
    let mut put = |name: &str, (list, cut): (Value, bool)| {
        truncated |= cut;
        detail.insert(name.into(), list);
    };
    put("acted", kept(&tier.acted, keep, |id| json!(id)));
    put("skipped", kept(&tier.skipped, keep, noted));
    put("bypassed", kept(&tier.bypassed, keep, noted));
    put("failed", kept(&tier.failed, keep, failure));
    put("notDone", kept(&tier.not_done, keep, noted));
    put("waits", kept(&tier.phases, keep, |p| json!(p)));
    if let Some(gate) = &tier.gate {
        let (not_ready, cut) = kept(&gate.not_ready, keep, |id| json!(id));
        truncated |= cut;
        detail.insert(
            "gate".into(),
            json!({"check": gate.check, "ready": gate.ready, "notReady": not_ready, "notReadyCount": gate.not_ready.len(), "timedOut": gate.timed_out, "waitedMs": gate.waited_ms}),
        );
    }
    detail.insert("startedAtMs".into(), json!(tier.started_at_ms));
    detail.insert("durationMs".into(), json!(tier.duration_ms));
    detail.insert("truncated".into(), json!(truncated));
    Value::Object(detail)
}

/// Builds a detail with [`IDS_KEPT`] members per list, then fewer until
/// its entry fits [`ENTRY_BYTES`].
fn bounded(detail_type: &'static str, build: impl Fn(usize) -> Value) -> EventEntry {
    let mut keep = IDS_KEPT;
    loop {
        let entry = EventEntry {
            detail_type,
            detail: build(keep),
        };
        if keep == 0 || entry.size() <= ENTRY_BYTES {
            return entry;
        }
        keep /= 2;
    }
}

/// `Tier Completed` of one tier: the members acted on, skipped, bypassed,
/// failed (with reasons and codes) and not done, its waits (timed steps and
/// gate), each list cut to a bound with `truncated` set, the counts whole.
pub fn tier_completed(context: &RunContext, tier: &TierOutcome) -> EventEntry {
    bounded(TIER_COMPLETED, |keep| tier_detail(context, tier, keep))
}

/// One tier's counts over a whole run, with its first failures: what
/// `Run Completed` and the chat message say of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TierTally {
    /// TierTagValue.
    pub tier: String,
    /// TierSequence.
    pub sequence: u64,
    /// Members acted on.
    pub acted: usize,
    /// Left alone.
    pub skipped: usize,
    /// Kept by an override.
    pub bypassed: usize,
    /// Failed.
    pub failed: usize,
    /// Not reached.
    pub not_done: usize,
    /// The first failures.
    #[serde(skip)]
    pub failures: Vec<Failure>,
}

/// How a whole run ended, over all its invocations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunEnd {
    /// The run's status (`completed`, `completedWithFailures`, ...).
    pub status: String,
    /// Its one-sentence message.
    pub message: String,
    /// Wall time from the first invocation's start to the last one's end.
    pub took_ms: u64,
    /// Invocations the run used.
    pub invocations: u32,
    /// Per tier, in the order they ran.
    pub tiers: Vec<TierTally>,
}

impl RunEnd {
    /// (acted, skipped, bypassed, failed, not done) over the tiers.
    pub fn totals(&self) -> [usize; 5] {
        self.tiers.iter().fold([0; 5], |mut t, o| {
            t[0] += o.acted;
            t[1] += o.skipped;
            t[2] += o.bypassed;
            t[3] += o.failed;
            t[4] += o.not_done;
            t
        })
    }

    /// Every tier's failures, tier by tier.
    pub fn failures(&self) -> impl Iterator<Item = (&str, &Failure)> {
        self.tiers
            .iter()
            .flat_map(|t| t.failures.iter().map(move |f| (t.tier.as_str(), f)))
    }
}

/// `Run Completed`: status, message, totals, took, invocations, per-tier
/// counts and the first failures (`truncated` when there were more).
pub fn run_completed(context: &RunContext, end: &RunEnd) -> EventEntry {
    bounded(RUN_COMPLETED, |keep| {
        let mut detail = head(context, RUN_COMPLETED, None);
        let [acted, skipped, bypassed, failed, not_done] = end.totals();
        detail.insert("status".into(), json!(end.status));
        detail.insert("message".into(), json!(short(&end.message)));
        detail.insert(
            "totals".into(),
            json!({"acted": acted, "skipped": skipped, "bypassed": bypassed, "failed": failed, "notDone": not_done}),
        );
        detail.insert("tookMs".into(), json!(end.took_ms));
        detail.insert("invocations".into(), json!(end.invocations));
        let (tiers, tiers_cut) = kept(&end.tiers, keep, |t| json!(t));
        detail.insert("tiers".into(), tiers);
        let failures: Vec<(&str, &Failure)> = end.failures().collect();
        let (listed, failures_cut) = kept(&failures, keep.min(FAILURES_LISTED), |(tier, f)| {
            let mut v = failure(f);
            v["tier"] = json!(tier);
            v
        });
        detail.insert("failures".into(), listed);
        detail.insert(
            "truncated".into(),
            json!(tiers_cut || failures_cut || failed > failures.len()),
        );
        Value::Object(detail)
    })
}

/// Entries packed into PutEvents requests: at most [`ENTRIES_PER_PUT`] a
/// request and under [`PUT_BYTES`] in all, in order.
pub fn batches(entries: Vec<EventEntry>) -> Vec<Vec<EventEntry>> {
    let mut out: Vec<Vec<EventEntry>> = Vec::new();
    let mut bytes = 0;
    for entry in entries {
        let size = entry.size();
        let fits = out
            .last()
            .is_some_and(|b| b.len() < ENTRIES_PER_PUT && bytes + size < PUT_BYTES);
        if !fits {
            out.push(Vec::new());
            bytes = 0;
        }
        bytes += size;
        out.last_mut().expect("a batch").push(entry);
    }
    out
}

#[cfg(test)]
mod tests;
