//! The run's side of the records only the scheduler writes
//! ([`crate::records`]): the workload's records read once before the plan
//! (what discovery read from tags is replaced by them), written before each
//! act that a Start undoes ("record, then act") and removed once restored.
//! A run whose workload needs records refuses before acting when there is
//! no ledger table to keep them in.

use std::sync::{Arc, Mutex};

use super::Execution;
use crate::action::Action;
use crate::config::WorkloadConfig;
use crate::error::{CloudError, RunError};
use crate::plan::Plan;
use crate::ports::Records;
use crate::records::{Book, Place, Record, Restore, Subject, OWN_ACCOUNT, RECORDS_PER_WRITE};
use crate::summary::{Failure, Noted, RunSummary};

/// What a run needs without a ledger table, in the plan and the refusal.
pub(crate) fn missing_ledger(uses: &[&str]) -> String {
    format!(
        "{} need(s) the run ledger table to keep what a Start restores (records only the scheduler writes): \
         pass --ledger-table (or set RUN_LEDGER_TABLE) to the stack's RunLedgerTableName",
        uses.join(", ")
    )
}

/// Where the workload's resources are, for record keys.
pub(crate) fn place_of(config: &WorkloadConfig) -> Place {
    let w = &config.workload;
    Place {
        account: w
            .cross_account
            .as_ref()
            .map_or_else(|| OWN_ACCOUNT.to_string(), |c| c.account_id.clone()),
        region: w.region.clone(),
    }
}

/// The workload's records, when a ledger table is configured (one Query;
/// any workload may have some: a capacity fallback by an instance's own
/// preferred-types tag records its type). An empty book otherwise: no tag
/// is trusted either way.
pub(crate) async fn load_book(store: Option<&Arc<dyn Records>>, config: &WorkloadConfig) -> Result<Book, CloudError> {
    match store {
        Some(store) => Ok(Book::new(store.of_workload(&config.workload.spec_name).await?)),
        None => Ok(Book::default()),
    }
}

/// The workload's records and where it is, for a view (`status`): what
/// the run ledger holds, to hold discovery's tags against.
pub async fn workload_records(
    cloud: &dyn crate::ports::Cloud,
    config: &WorkloadConfig,
) -> Result<(Book, Place), CloudError> {
    let book = load_book(cloud.records().as_ref(), config).await?;
    Ok((book, place_of(config)))
}

/// What `orchestrator records` works with: the workload's configuration,
/// every record the run ledger holds for it, where it is, and the record
/// tags on its resources (instances, groups and services, alarms) that the
/// ledger does not hold. Read-only.
pub async fn record_survey(
    cloud: &dyn crate::ports::Cloud,
    workload: &str,
    dynamodb_region: &str,
) -> Result<(WorkloadConfig, Book, Place, Vec<crate::records::Untrusted>), RunError> {
    let (config, ports, mut instances) = super::workload_instances(cloud, workload, dynamodb_region).await?;
    let cloud_error = |source| super::cloud_error_of(workload, source);
    let store = cloud.records().ok_or_else(|| RunError::Precondition {
        workload: workload.to_string(),
        message: "the records live in the run ledger table: pass --ledger-table (or set RUN_LEDGER_TABLE)".into(),
    })?;
    let book = Book::new(store.of_workload(workload).await.map_err(cloud_error)?);
    let place = place_of(&config);
    let mut untrusted = crate::records::trust_instances(&book, &place, &mut instances);
    let w = &config.workload;
    let kinds = config.member_kinds();
    if !kinds.is_empty() {
        let mut members = super::discover_members(&ports.members, &w.discovery(), &kinds)
            .await
            .map_err(cloud_error)?;
        untrusted.extend(crate::records::trust_members(&book, &place, &mut members));
    }
    let groups = suspend_groups(&config, &instances);
    if !groups.is_empty() {
        let names: Vec<String> = groups.keys().cloned().collect();
        for p in ports.auto_scaling.processes(&names).await.map_err(cloud_error)? {
            let tier = groups.get(&p.group).map(String::as_str);
            let (_, u) = crate::records::trust_suspended(&book, &place, &p.group, &p.claimed, tier);
            untrusted.extend(u);
        }
    }
    if w.alarms.any() {
        let tag = (w.filter_tag_name.clone(), w.filter_tag_value.clone());
        let mut alarms = ports.alarms.select(&w.alarms, &tag).await.map_err(cloud_error)?;
        untrusted.extend(crate::records::trust_alarms(&book, &place, &mut alarms, false));
    }
    Ok((config, book, place, untrusted))
}

/// The Auto Scaling groups of the workload's instances in tiers with a
/// `TierAutoScalingGroups: Suspend` section, with a tier of each.
fn suspend_groups(
    config: &WorkloadConfig,
    instances: &[crate::instance::Instance],
) -> std::collections::BTreeMap<String, String> {
    use crate::config::AutoScalingMode;
    let suspends = |tier: &str| {
        config
            .tiers
            .iter()
            .any(|t| t.name == tier && t.sections().any(|(_, s)| s.auto_scaling == AutoScalingMode::Suspend))
    };
    instances
        .iter()
        .filter(|i| suspends(&i.tier))
        .filter_map(|i| Some((i.auto_scaling_group.clone()?, i.tier.clone())))
        .collect()
}

/// Why records could not be written or removed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RecordError {
    /// The run has no ledger table.
    #[error("no run ledger table to record it in (--ledger-table / RUN_LEDGER_TABLE)")]
    NoTable,
    /// The ledger refused the write.
    #[error(transparent)]
    Store(#[from] CloudError),
}

/// Writes and removes a run's records, keeping its copy of the book.
pub(crate) struct Recorder {
    store: Option<Arc<dyn Records>>,
    /// The run's ledger key, named in every record it writes.
    run: Option<String>,
    workload: String,
    place: Place,
    book: Mutex<Book>,
}

impl Recorder {
    /// The recorder of `config`'s workload on `store`, starting from
    /// `book`, for the run `run`.
    pub(crate) fn new(
        store: Option<Arc<dyn Records>>,
        config: &WorkloadConfig,
        book: Book,
        run: Option<String>,
    ) -> Self {
        Self {
            store,
            run,
            workload: config.workload.spec_name.clone(),
            place: place_of(config),
            book: Mutex::new(book),
        }
    }

    /// Where the workload is.
    pub(crate) fn place(&self) -> &Place {
        &self.place
    }

    /// The record of `what` about `subject`, as of now in this run.
    pub(crate) fn get(&self, subject: &Subject, what: &str) -> Option<Record> {
        self.book.lock().expect("book").get(subject, what).cloned()
    }

    /// The processes the scheduler suspended on `group` (the ledger's
    /// record), and the reason to report when the group's tag claims
    /// otherwise (not acted on) and no operator dismissed that claim.
    pub(crate) fn suspended(&self, group: &str, claimed: &[String]) -> (Vec<String>, Option<String>) {
        let book = self.book.lock().expect("book");
        let (ours, untrusted) = crate::records::trust_suspended(&book, &self.place, group, claimed, None);
        (ours, untrusted.map(|u| u.reason(&self.workload)))
    }

    /// Records `restores` before the act that a Start undoes: all written
    /// or an error ([`RECORDS_PER_WRITE`] to a transaction).
    pub(crate) async fn put(&self, restores: Vec<(Subject, Restore)>) -> Result<(), RecordError> {
        if restores.is_empty() {
            return Ok(());
        }
        let store = self.store()?;
        let now = crate::clock::now();
        let records: Vec<Record> = restores
            .into_iter()
            .map(|(subject, restore)| Record {
                run: self.run.clone(),
                ..Record::of(subject, &self.workload, now, restore)
            })
            .collect();
        for chunk in records.chunks(RECORDS_PER_WRITE) {
            store.put(chunk).await?;
            let mut book = self.book.lock().expect("book");
            for r in chunk {
                book.set(r.key(), Some(r.clone()));
            }
        }
        Ok(())
    }

    /// Removes the records of `what` about `subjects` once restored (those
    /// the book does not hold are skipped). A failure is for the caller to
    /// report as a warning: the restore itself succeeded.
    pub(crate) async fn remove(&self, what: &str, subjects: &[Subject]) -> Result<(), RecordError> {
        let keys: Vec<String> = {
            let book = self.book.lock().expect("book");
            subjects
                .iter()
                .filter_map(|s| book.get(s, what))
                .map(Record::key)
                .collect()
        };
        if keys.is_empty() {
            return Ok(());
        }
        let store = self.store()?;
        for chunk in keys.chunks(RECORDS_PER_WRITE) {
            store.remove(&self.workload, chunk).await?;
            let mut book = self.book.lock().expect("book");
            for key in chunk {
                book.set(key.clone(), None);
            }
        }
        Ok(())
    }

    fn store(&self) -> Result<&Arc<dyn Records>, RecordError> {
        self.store.as_ref().ok_or(RecordError::NoTable)
    }
}

impl Execution<'_> {
    /// Before any action: a workload that needs records needs the table.
    pub(crate) fn records_precondition(&self) -> Result<(), RunError> {
        let uses = self.config.record_uses();
        if uses.is_empty() || self.recorder.store.is_some() {
            return Ok(());
        }
        Err(RunError::Precondition {
            workload: self.config.workload.spec_name.clone(),
            message: missing_ledger(&uses),
        })
    }

    /// At Start, each record tag the ledger does not hold is a failure of
    /// its member (in its tier, when the tier ran) or, for an alarm, a
    /// line of the summary's alarms: an upgrade that left records behind,
    /// or a forgery, is seen at the first Start.
    pub(crate) fn report_untrusted(&self, plan: &Plan, summary: &mut RunSummary) {
        if self.action != Action::Start {
            return;
        }
        let workload = &self.config.workload.spec_name;
        for u in &plan.untrusted {
            let tier = u
                .tier
                .as_ref()
                .and_then(|name| summary.tiers.iter_mut().find(|t| &t.tier == name));
            match tier {
                Some(tier) => tier.failed.push(Failure {
                    id: u.member.clone(),
                    reason: u.reason(workload),
                    code: Some("UntrustedRecordTag".into()),
                }),
                None => summary.alarms.push(Noted {
                    id: u.member.clone(),
                    reason: u.reason(workload),
                }),
            }
        }
    }
}
