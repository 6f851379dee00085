//! Instance types and CPU credits set on a tier's stopped instances before
//! they start, whoever asks (a scaling profile, a capacity fallback, a
//! recorded original type): the type (EbsOptimized turned off first where
//! the new type cannot have it; a type the stack does not allow, or of
//! another architecture, refused) and, for burstable types, the CPU credit
//! option. (Auto Scaling processes are `auto_scaling.rs`'s.)

use std::collections::{HashMap, HashSet};

use futures::stream::{self, StreamExt};

use super::Execution;
use crate::plan::InstancePlan;
use crate::ports::TypeFacts;
use crate::summary::{CreditChange, Resize};

/// The type an instance has once the profile is applied.
fn final_type(i: &InstancePlan) -> String {
    i.resize_to.clone().unwrap_or_else(|| i.instance_type.clone())
}

impl Execution<'_> {
    /// Applies the scaling profile to the instances about to start: the
    /// type (EbsOptimized turned off first when EC2 says the new type cannot
    /// have it) and, for burstable types, the CPU credit option (`.u`).
    pub(crate) async fn scale(&self, todo: &[&InstancePlan]) -> (Vec<Resize>, Vec<CreditChange>) {
        let scaled: Vec<&InstancePlan> = todo
            .iter()
            .copied()
            .filter(|i| i.resize_to.is_some() || i.unlimited_credits.is_some())
            .collect();
        if scaled.is_empty() {
            return (Vec::new(), Vec::new());
        }
        let facts = self.final_type_facts(&scaled).await;
        let resized = self.resize(&scaled, &facts).await;
        // CPU credits: only for instances now of a burstable type, and only
        // where the option differs from what the profile asks.
        let failed_resize: HashSet<&str> = resized
            .iter()
            .filter(|r| r.error.is_some())
            .map(|r| r.id.as_str())
            .collect();
        let wanted: Vec<(String, bool)> = scaled
            .iter()
            .filter(|i| !failed_resize.contains(i.id.as_str()))
            .filter(|i| facts.get(&final_type(i)).is_some_and(|f| f.burstable))
            .filter_map(|i| i.unlimited_credits.map(|u| (i.id.clone(), u)))
            .collect();
        let credits = self.set_credits(wanted).await;
        (resized, credits)
    }

    /// Scaling, first step: what EC2 says of the types the instances have
    /// and will have (none when DescribeInstanceTypes fails).
    async fn final_type_facts(&self, scaled: &[&InstancePlan]) -> HashMap<String, TypeFacts> {
        let mut types: Vec<String> = scaled
            .iter()
            .flat_map(|i| [final_type(i), i.instance_type.clone()])
            .collect();
        types.sort();
        types.dedup();
        match self.instance_types.type_facts(&types).await {
            Ok(list) => list.into_iter().map(|f| (f.instance_type.clone(), f)).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "DescribeInstanceTypes failed: EBS and credit options are left as they are");
                HashMap::new()
            }
        }
    }

    /// Scaling, second step: the type changes, eight at a time, each with
    /// EbsOptimized turned off first when the new type cannot have it.
    async fn resize(&self, scaled: &[&InstancePlan], facts: &HashMap<String, TypeFacts>) -> Vec<Resize> {
        stream::iter(scaled.iter().filter_map(|i| i.resize_to.as_ref().map(|to| (*i, to))))
            .map(|(i, to)| {
                let clear_ebs = i.ebs_optimized && facts.get(to).is_some_and(|f| !f.ebs_optimizable);
                let refusal = self.refusal(i, to, facts);
                let allowed = refusal.is_none();
                async move {
                    let mut error = refusal;
                    let clear_ebs = clear_ebs && allowed;
                    if clear_ebs {
                        error = self
                            .instance_types
                            .set_ebs_optimized(&i.id, false)
                            .await
                            .err()
                            .map(|e| format!("EbsOptimized could not be turned off for {to}: {e}"));
                    }
                    if error.is_none() {
                        error = self
                            .instance_types
                            .set_instance_type(&i.id, to)
                            .await
                            .err()
                            .map(|e| e.to_string());
                    }
                    Resize {
                        id: i.id.clone(),
                        from: i.instance_type.clone(),
                        to: to.clone(),
                        ebs_optimized_cleared: clear_ebs && error.is_none(),
                        error,
                    }
                }
            })
            .buffered(8)
            .collect()
            .await
    }

    /// Why a change of `i` to `to` is not made, whoever asked for it (a
    /// profile, a fallback list, a recorded original type): a type the
    /// stack does not allow (`AllowedInstanceTypes`), or one of another
    /// architecture than the instance's (its image would not boot).
    fn refusal(&self, i: &InstancePlan, to: &str, facts: &HashMap<String, TypeFacts>) -> Option<String> {
        if !self.settings.allows_type(to) {
            return Some(format!(
                "{to} is not among the types the stack allows (AllowedInstanceTypes): not set"
            ));
        }
        let (now, then) = (facts.get(&i.instance_type)?, facts.get(to)?);
        let known = !now.architectures.is_empty() && !then.architectures.is_empty();
        let shared = now.architectures.iter().any(|a| then.architectures.contains(a));
        (known && !shared).then(|| {
            format!(
                "{to} ({}) is not of {}'s architecture ({}): not set",
                then.architectures.join(", "),
                i.instance_type,
                now.architectures.join(", ")
            )
        })
    }

    /// Scaling, last step: the CPU credit options `wanted`, set where they
    /// differ from the current ones (all of them when those cannot be read).
    async fn set_credits(&self, wanted: Vec<(String, bool)>) -> Vec<CreditChange> {
        let mut credits = Vec::new();
        if wanted.is_empty() {
            return credits;
        }
        let ids: Vec<String> = wanted.iter().map(|(id, _)| id.clone()).collect();
        let current: HashMap<String, bool> = match self.instance_types.cpu_credits(&ids).await {
            Ok(list) => list.into_iter().collect(),
            Err(e) => {
                tracing::warn!(error = %e, "reading CPU credit options failed; setting them all");
                HashMap::new()
            }
        };
        let changes: Vec<(String, bool)> = wanted
            .into_iter()
            .filter(|(id, u)| current.get(id) != Some(u))
            .collect();
        if changes.is_empty() {
            return credits;
        }
        let name = |u: bool| if u { "unlimited" } else { "standard" }.to_string();
        match self.instance_types.set_cpu_credits(&changes).await {
            Ok(refused) => {
                for (id, u) in &changes {
                    credits.push(CreditChange {
                        id: id.clone(),
                        cpu_credits: name(*u),
                        error: refused.iter().find(|(r, _)| r == id).map(|(_, e)| e.clone()),
                    });
                }
            }
            Err(e) => credits.extend(changes.iter().map(|(id, u)| CreditChange {
                id: id.clone(),
                cpu_credits: name(*u),
                error: Some(e.to_string()),
            })),
        }
        credits
    }
}
