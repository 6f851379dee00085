//! What state a workload is in now: per tier, how many instances run, are
//! stopped or in transition and which overrides are in force; its last runs
//! (from the ledger) and its next scheduled runs (from EventBridge
//! Scheduler). Pure: the CLI gathers the facts and renders this.

use serde::Serialize;

use crate::action::Action;
use crate::clock::show_utc;
use crate::config::WorkloadConfig;
use crate::cron::{self, Expression};
use crate::event::SchedulerEvent;
use crate::history::RunRow;
use crate::instance::{Instance, InstanceState};
use crate::member::Member;
use crate::override_tag::{self, TagVerdict};
use crate::ports::ScheduleInfo;
use crate::window::WindowOutlook;

/// A tier's instances now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TierStatus {
    /// TierTagValue.
    pub tier: String,
    /// Running.
    pub running: usize,
    /// Stopped.
    pub stopped: usize,
    /// Pending, stopping or shutting down.
    pub in_transition: usize,
    /// Override tags in force now, one line per instance.
    pub overrides: Vec<String>,
    /// The override file checked before each Stop, if any.
    pub override_file: Option<String>,
    /// Its members that are not instances, with their state:
    /// `rds:orders-db stopped`, `asg:web desired 0 (recorded: min 1,
    /// desired 2, max 4)`, and what would undo a stop.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    /// Load balancer registrations a drain recorded on its instances,
    /// which the next Start puts back: `i-0abc web:80`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recorded_targets: Vec<String>,
}

/// When a workload's schedule fires next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NextRun {
    /// Stop or Start.
    pub action: Action,
    /// The schedule.
    pub schedule: String,
    /// Its expression and zone, as configured.
    pub expression: String,
    /// The zone.
    pub timezone: String,
    /// The next times, seconds since the epoch (UTC).
    pub at: Vec<u64>,
    /// Why there is no time, or what it is (a continuation of a run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A workload's state now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadStatus {
    /// SpecName.
    pub workload: String,
    /// WorkloadRegion.
    pub region: String,
    /// `DisableAllSchedulingActions` is on.
    pub scheduling_disabled: bool,
    /// The tiers, in Start order.
    pub tiers: Vec<TierStatus>,
    /// Instances whose tier tag names no configured tier.
    pub unmatched: usize,
    /// The WorkloadState row, when there is one.
    pub last_action: Option<String>,
    /// The latest run of each action, from the ledger.
    pub last_runs: Vec<RunRow>,
    /// Why the last runs are unknown (no ledger given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runs_note: Option<String>,
    /// The next scheduled runs, soonest first.
    pub next_runs: Vec<NextRun>,
    /// Why the next runs are unknown (no schedule group given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_note: Option<String>,
    /// Each configured maintenance window's next window Start and Stop,
    /// or why it has none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<WindowOutlook>,
    /// The workload's alarms (`AlarmPrefixes`) and whether their actions
    /// are on, muted by the scheduler, or disabled by someone else.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<String>,
    /// Record tags on the workload's resources that the run ledger does
    /// not hold (not trusted, never acted on).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub untrusted: Vec<String>,
}

/// One member in `status`: its id and state, when RDS starts it by itself,
/// the capacity a Start restores, and what would undo a stop.
fn member_line(m: &Member) -> String {
    let mut line = format!("{} {}", m.member_id(), m.status);
    if let Some(at) = m.restarts_at {
        line.push_str(&format!(
            " (RDS starts it by itself at {} UTC; the next Stop stops it again)",
            show_utc(at)
        ));
    }
    if let Some(record) = m.recorded {
        line.push_str(&format!(" (a Start restores {record})"));
    }
    for undoer in &m.undoers {
        line.push_str(&format!(" (would undo a stop: {undoer})"));
    }
    line
}

impl WorkloadStatus {
    /// The tiers' instances and overrides at `now` (seconds since the epoch).
    pub fn new(config: &WorkloadConfig, instances: &[Instance], now: u64) -> Self {
        let mut tiers: Vec<&crate::config::TierSpec> = config.tiers.iter().collect();
        tiers.sort_by_key(|t| t.start.as_ref().map_or(u64::MAX, |s| s.sequence));
        let tiers: Vec<TierStatus> = tiers
            .into_iter()
            .map(|spec| {
                let mine: Vec<&Instance> = instances.iter().filter(|i| i.tier == spec.name).collect();
                let count = |f: &dyn Fn(InstanceState) -> bool| mine.iter().filter(|i| f(i.state)).count();
                let mut overrides = Vec::new();
                for i in &mine {
                    let Some((value, reason)) = &i.override_tag else {
                        continue;
                    };
                    for action in [Action::Stop, Action::Start] {
                        if let TagVerdict::Keep(why) =
                            override_tag::verdict(Some(value), reason.as_deref(), action, now)
                        {
                            overrides.push(format!("{} {why}", i.id));
                        }
                    }
                }
                TierStatus {
                    tier: spec.name.clone(),
                    running: count(&|s| s == InstanceState::Running),
                    stopped: count(&|s| s == InstanceState::Stopped),
                    in_transition: count(&|s| {
                        matches!(
                            s,
                            InstanceState::Pending | InstanceState::Stopping | InstanceState::ShuttingDown
                        )
                    }),
                    overrides,
                    override_file: spec
                        .stop
                        .as_ref()
                        .and_then(|s| s.override_check.as_ref())
                        .map(|c| c.path().to_string()),
                    members: Vec::new(),
                    recorded_targets: mine
                        .iter()
                        .filter(|i| !i.registrations.is_empty())
                        .map(|i| format!("{} {}", i.id, i.registrations))
                        .collect(),
                }
            })
            .collect();
        let unmatched = instances
            .iter()
            .filter(|i| !config.tiers.iter().any(|t| t.name == i.tier))
            .count();
        Self {
            workload: config.workload.spec_name.clone(),
            region: config.workload.region.clone(),
            scheduling_disabled: config.workload.scheduling_disabled,
            tiers,
            unmatched,
            last_action: None,
            last_runs: Vec::new(),
            runs_note: None,
            next_runs: Vec::new(),
            schedule_note: None,
            windows: Vec::new(),
            alarms: Vec::new(),
            untrusted: Vec::new(),
        }
    }

    /// Renders the status for a terminal: the tiers, the last runs, the
    /// next scheduled runs.
    pub fn to_text(&self) -> String {
        let mut out = self.tiers_text();
        out.push_str(&self.last_runs_text());
        out.push_str(&self.next_runs_text());
        if !self.windows.is_empty() {
            out.push_str("\nMaintenance windows:\n");
            for w in &self.windows {
                out.push_str(&format!("  {}\n", w.line()));
            }
        }
        out
    }

    /// Adds the members of the tiers that hold their kind.
    pub fn add_members(&mut self, config: &WorkloadConfig, members: &[Member]) {
        for t in &mut self.tiers {
            let spec = config.tiers.iter().find(|s| s.name == t.tier);
            t.members = members
                .iter()
                .filter(|d| d.tier == t.tier && spec.is_some_and(|s| s.holds(d.kind)))
                .map(member_line)
                .collect();
        }
    }

    /// The heading and the table of tiers.
    fn tiers_text(&self) -> String {
        let mut out = format!("Workload {} in {}\n", self.workload, self.region);
        if self.scheduling_disabled {
            out.push_str("DISABLED: DisableAllSchedulingActions is on; runs do nothing\n");
        }
        let mut rows = vec![[
            "TIER",
            "RUNNING",
            "STOPPED",
            "IN TRANSITION",
            "OTHER MEMBERS",
            "OVERRIDES IN FORCE",
        ]
        .map(String::from)
        .to_vec()];
        for t in &self.tiers {
            let mut overrides = t.overrides.clone();
            if let Some(file) = &t.override_file {
                overrides.push(format!("file {file} checked at each Stop"));
            }
            rows.push(vec![
                t.tier.clone(),
                t.running.to_string(),
                t.stopped.to_string(),
                t.in_transition.to_string(),
                if t.members.is_empty() {
                    "-".into()
                } else {
                    t.members.join(", ")
                },
                if overrides.is_empty() {
                    "-".into()
                } else {
                    overrides.join("; ")
                },
            ]);
        }
        out.push_str(&crate::table::render(&rows));
        if self.unmatched > 0 {
            out.push_str(&format!("{} instance(s) in no configured tier\n", self.unmatched));
        }
        for t in self.tiers.iter().filter(|t| !t.recorded_targets.is_empty()) {
            out.push_str(&format!(
                "{}: registrations recorded by a drain (the next Start puts them back): {}\n",
                t.tier,
                t.recorded_targets.join("; ")
            ));
        }
        if !self.alarms.is_empty() {
            out.push_str(&format!("Alarms: {}\n", self.alarms.join("; ")));
        }
        for u in &self.untrusted {
            out.push_str(&format!("NOT TRUSTED: {u}\n"));
        }
        if let Some(state) = &self.last_action {
            out.push_str(&format!("WorkloadState: {state}\n"));
        }
        out
    }

    /// Notes the record tags the run ledger does not hold.
    pub fn add_untrusted(&mut self, untrusted: &[crate::records::Untrusted]) {
        self.untrusted.extend(
            untrusted
                .iter()
                .map(|u| format!("{}: {}", u.member, u.reason(&self.workload))),
        );
    }

    /// Notes the workload's alarms and who holds their actions off.
    pub fn add_alarms(&mut self, alarms: &[crate::traffic::Alarm]) {
        self.alarms = alarms
            .iter()
            .map(|a| match (a.actions_enabled, a.muted_by_us) {
                (true, _) => format!("{} actions on", a.name),
                (false, true) => format!("{} MUTED by the scheduler while the workload is stopped", a.name),
                (false, false) => format!("{} actions disabled by someone else", a.name),
            })
            .collect();
    }

    /// The latest run of each action.
    fn last_runs_text(&self) -> String {
        let mut out = String::from("\nLast runs:\n");
        if let Some(note) = &self.runs_note {
            out.push_str(&format!("  {note}\n"));
        } else if self.last_runs.is_empty() {
            out.push_str("  none in the run ledger\n");
        }
        for r in &self.last_runs {
            out.push_str(&format!(
                "  {:<5} {} UTC  {}  took {}  acted/failed/bypassed {}/{}/{}  run {} ({})\n",
                r.action,
                show_utc(r.started_at),
                r.status,
                r.took_ms.map_or_else(|| "-".into(), crate::history::show_ms),
                r.counts.acted,
                r.counts.failed,
                r.counts.bypassed,
                r.id,
                r.requested_by.as_deref().unwrap_or("-")
            ));
        }
        out
    }

    /// The next scheduled runs, soonest first.
    fn next_runs_text(&self) -> String {
        let mut out = String::from("\nNext scheduled runs:\n");
        if let Some(note) = &self.schedule_note {
            out.push_str(&format!("  {note}\n"));
        } else if self.next_runs.is_empty() {
            out.push_str("  no schedule of this workload in the schedule group\n");
        }
        for n in &self.next_runs {
            let when = match n.at.first() {
                Some(at) => {
                    let more: Vec<String> = n.at[1..].iter().map(|t| show_utc(*t)).collect();
                    let more = if more.is_empty() {
                        String::new()
                    } else {
                        format!(", then {}", more.join(", "))
                    };
                    format!("{} UTC{more}", show_utc(*at))
                }
                None => "-".into(),
            };
            out.push_str(&format!(
                "  {:<5} {when}  ({}: {} {}){}\n",
                n.action.to_string(),
                n.schedule,
                n.expression,
                n.timezone,
                n.note.as_ref().map(|x| format!(" {x}")).unwrap_or_default()
            ));
        }
        out
    }
}

/// A schedule's stored input as a delivery would carry it: EventBridge
/// Scheduler fills the context placeholders its template uses
/// (`<aws.scheduler.scheduled-time>`, ...) at delivery; a stored input still
/// has them, and the scheduled time is the one field validated as a time.
fn as_delivered(input: &str, now: u64) -> String {
    input.replace(
        "<aws.scheduler.scheduled-time>",
        &format!("{}Z", crate::clock::utc_timestamp(now)),
    )
}

/// The next runs of `workload` among `schedules`: those whose input is an
/// event for it (continuations included), each with its next `count` times
/// after `now`, soonest first.
pub fn next_runs(workload: &str, schedules: &[ScheduleInfo], now: u64, count: usize) -> Vec<NextRun> {
    let mut runs: Vec<NextRun> = Vec::new();
    for s in schedules {
        let input = s.input.as_deref().map(|i| as_delivered(i, now));
        let Some(event) = input.and_then(|i| SchedulerEvent::from_json(&i).ok()) else {
            continue;
        };
        if event.workload_identifier != workload {
            continue;
        }
        let tz = s.timezone.clone().unwrap_or_else(|| "UTC".into());
        let mut run = NextRun {
            action: event.action,
            schedule: s.name.clone(),
            expression: s.expression.clone(),
            timezone: tz.clone(),
            at: Vec::new(),
            note: match (&event.continue_run, &event.restop) {
                (Some(key), _) => Some(format!("continuation of run {key}")),
                (None, Some(restop)) => Some(format!(
                    "re-check of {}: stopped again if RDS started it by itself",
                    restop.member()
                )),
                (None, None) => None,
            },
        };
        if let Some(window) = &event.maintenance_window {
            run.note = Some(window.describe());
        }
        if s.state != "ENABLED" {
            run.note = Some(
                format!("{} (schedule {})", run.note.unwrap_or_default(), s.state)
                    .trim()
                    .into(),
            );
        } else {
            match (cron::parse(&s.expression), cron::zone(&tz)) {
                (Ok(Expression::Rate(every)), _) => run.note = Some(format!("every {every}")),
                (Ok(expression), Ok(zone)) => {
                    run.at = expression.next(&zone, now, count);
                    if run.at.is_empty() && run.note.is_none() {
                        run.note = Some("no future run".into());
                    }
                }
                (Ok(_), Err(why)) => run.note = Some(format!("next run in {tz}: see schedule ({why})")),
                (Err(why), _) => run.note = Some(format!("expression not understood: {why}")),
            }
        }
        runs.push(run);
    }
    runs.sort_by_key(|r| r.at.first().copied().unwrap_or(u64::MAX));
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(name: &str, expression: &str, tz: &str, input: &str) -> ScheduleInfo {
        ScheduleInfo {
            name: name.into(),
            expression: expression.into(),
            timezone: Some(tz.into()),
            state: "ENABLED".into(),
            input: Some(input.into()),
        }
    }

    #[test]
    fn only_the_workloads_schedules_count_soonest_first() {
        let now = 1_795_478_400; // 2026-11-24 00:00 UTC, a Tuesday
        let schedules = vec![
            schedule(
                "w-stop",
                "cron(0 19 ? * MON-FRI *)",
                "UTC",
                // The stack's schedules carry the delivery placeholders.
                r#"{"workloadIdentifier": "W", "action": "Stop", "scheduleArn": "<aws.scheduler.schedule-arn>", "scheduledTime": "<aws.scheduler.scheduled-time>"}"#,
            ),
            schedule(
                "w-start",
                "cron(0 7 ? * MON-FRI *)",
                "Etc/GMT-1",
                r#"{"workloadIdentifier": "W", "action": "Start"}"#,
            ),
            schedule(
                "other",
                "cron(0 1 * * ? *)",
                "UTC",
                r#"{"workloadIdentifier": "X", "action": "Stop"}"#,
            ),
            schedule("not-ours", "cron(0 1 * * ? *)", "UTC", "not json"),
            schedule(
                "hourly",
                "rate(1 hour)",
                "UTC",
                r#"{"workloadIdentifier": "W", "action": "Stop"}"#,
            ),
        ];
        let runs = next_runs("W", &schedules, now, 2);
        let names: Vec<&str> = runs.iter().map(|r| r.schedule.as_str()).collect();
        assert_eq!(names, ["w-start", "w-stop", "hourly"]);
        // 07:00 at UTC+1 is 06:00 UTC.
        assert_eq!(runs[0].at, vec![now + 6 * 3600, now + 30 * 3600]);
        assert_eq!(runs[1].at[0], now + 19 * 3600);
        assert_eq!(runs[2].note.as_deref(), Some("every 1 hour"));
    }

    /// Every Monday at 00:30 New York time, seen on 2027-03-05: the Monday
    /// after the clocks go forward (2027-03-14) is not skipped, and runs an
    /// hour earlier in UTC.
    #[test]
    fn next_runs_follow_daylight_saving_in_the_schedules_zone() {
        let now = crate::clock::parse_time("2027-03-05T00:00:00Z").unwrap();
        let schedules = vec![schedule(
            "w-stop",
            "cron(30 0 ? * MON *)",
            "America/New_York",
            r#"{"workloadIdentifier": "W", "action": "Stop"}"#,
        )];
        let runs = next_runs("W", &schedules, now, 2);
        let at: Vec<String> = runs[0].at.iter().map(|t| show_utc(*t)).collect();
        assert_eq!(at, ["2027-03-08 05:30:00", "2027-03-15 04:30:00"]);
        let status = WorkloadStatus {
            workload: "W".into(),
            region: "us-east-1".into(),
            scheduling_disabled: false,
            tiers: Vec::new(),
            unmatched: 0,
            last_action: None,
            last_runs: Vec::new(),
            runs_note: None,
            next_runs: runs,
            schedule_note: None,
            windows: Vec::new(),
            alarms: Vec::new(),
            untrusted: Vec::new(),
        };
        let text = status.to_text();
        let line = "  Stop  2027-03-08 05:30:00 UTC, then 2027-03-15 04:30:00  \
                    (w-stop: cron(30 0 ? * MON *) America/New_York)\n";
        assert!(text.ends_with(line), "{text}");
        // Each window's next Start and Stop follow, or that it has none.
        let mut status = status;
        let window = crate::window::MaintenanceWindow {
            id: "mw-0123456789abcdef0".into(),
            next_execution: Some(1_804_485_600), // 2027-03-08 06:00 UTC
            duration_hours: 3,
            ..Default::default()
        };
        let none = crate::window::MaintenanceWindow {
            id: "mw-00000000000000fff".into(),
            ..Default::default()
        };
        status.windows = vec![WindowOutlook::of(&window, 15), WindowOutlook::of(&none, 15)];
        let text = status.to_text();
        assert!(
            text.contains("\nMaintenance windows:\n  mw-0123456789abcdef0: window Start 2027-03-08 05:45:00 UTC, window Stop 2027-03-08 09:00:00 UTC"),
            "{text}"
        );
        assert!(text.contains("  mw-00000000000000fff: no next execution"), "{text}");
    }

    #[test]
    fn unknown_zones_and_expressions_are_said() {
        let input = r#"{"workloadIdentifier": "W", "action": "Start"}"#;
        let schedules = vec![
            schedule("a", "cron(0 7 * * ? *)", "Mars/Olympus_Mons", input),
            schedule("b", "cron(0 7 * *)", "UTC", input),
        ];
        let runs = next_runs("W", &schedules, 0, 2);
        assert!(
            runs[0].note.as_deref().unwrap().contains("unknown time zone"),
            "{runs:?}"
        );
        assert!(
            runs[1]
                .note
                .as_deref()
                .unwrap()
                .starts_with("expression not understood"),
            "{runs:?}"
        );
    }

    #[test]
    fn a_databases_recheck_is_among_the_next_runs() {
        let input = r#"{"workloadIdentifier": "W", "action": "Stop", "runId": "recheck-1797200000",
            "restop": {"kind": "RDS", "id": "orders-db"}}"#;
        let schedules = vec![schedule("ec2ts-rc-0a1b", "at(2026-12-13T20:15:00)", "UTC", input)];
        let runs = next_runs("W", &schedules, 1_796_000_000, 2);
        assert_eq!(runs.len(), 1, "{runs:?}");
        let note = runs[0].note.as_deref().unwrap();
        assert!(note.contains("re-check of rds:orders-db"), "{note}");
        assert_eq!(runs[0].at.len(), 1, "{runs:?}");
    }

    #[test]
    fn a_maintenance_windows_start_and_stop_are_among_the_next_runs() {
        let input = r#"{"workloadIdentifier": "W", "action": "Start", "runId": "window-x",
            "maintenanceWindow": {"id": "mw-0123456789abcdef0", "edge": "Start", "execution": 1797300000}}"#;
        let schedules = vec![schedule("ec2ts-mw-0a1b", "at(2026-12-13T20:15:00)", "UTC", input)];
        let runs = next_runs("W", &schedules, 1_796_000_000, 2);
        assert_eq!(runs.len(), 1, "{runs:?}");
        let note = runs[0].note.as_deref().unwrap();
        assert!(
            note.contains("maintenance window mw-0123456789abcdef0 (Start of"),
            "{note}"
        );
    }

    #[test]
    fn a_stopped_database_shows_when_rds_starts_it_by_itself() {
        use crate::member::{Member, MemberKind, Phase};
        let workload = serde_json::json!({
            "SpecName": "W", "WorkloadFilterTagName": "Environment", "WorkloadFilterTagValue": "ENV001",
            "WorkloadRegion": "us-west-2", "TierFilterTagName": "Role"
        });
        let tier = serde_json::json!({
            "SpecName": "W", "TierTagValue": "Role_DB", "TierResourceTypes": "EC2,RDS",
            "TierStart": {"TierSequence": "0"}, "TierStop": {"TierSequence": "0"}
        });
        let config =
            WorkloadConfig::from_items("W", &workload, &[tier], crate::config::ItemNaming::Table).expect("valid");
        let mut status = WorkloadStatus::new(&config, &[], 0);
        let db = |id: &str, kind, restarts_at| Member {
            restarts_at,
            ..Member::new(kind, id, "stopped", Phase::Down, "Role_DB")
        };
        // An Aurora cluster in a tier that does not hold Aurora is not shown.
        status.add_members(
            &config,
            &[
                db("orders", MemberKind::Rds, Some(1_796_630_400)),
                db("ledger", MemberKind::Aurora, None),
            ],
        );
        assert_eq!(
            status.tiers[0].members,
            ["rds:orders stopped (RDS starts it by itself at 2026-12-07 08:00:00 UTC; the next Stop stops it again)"]
        );
        assert!(status.to_text().contains("rds:orders stopped"));
    }
}
