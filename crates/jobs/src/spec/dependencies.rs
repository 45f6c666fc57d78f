//! Dependencies between jobs: unknown or self dependencies, shared or nested outputs and cycles are
//! problems; the jobs are put in an order where each follows the jobs it depends on.

use std::collections::{BTreeMap, BTreeSet};

use nightshift_core::{ConfigIssue, IssueOrigin};

use super::JobSet;
use super::types::JobSpec;

/// Unknown dependencies and cycles are errors; the jobs are sorted so each follows its dependencies.
pub(super) fn check_dependencies(
    set: &mut JobSet,
    declared: &BTreeMap<String, IssueOrigin>,
    issues: &mut Vec<ConfigIssue>,
) {
    let at = |name: &str| declared[name].clone();
    let names: BTreeSet<String> = set.jobs.iter().map(|j| j.name.clone()).collect();
    let mut ok = true;
    for j in &set.jobs {
        for d in &j.depends_on {
            if !names.contains(d) {
                ok = false;
                let known: Vec<_> = names.iter().map(String::as_str).collect();
                issues.push(ConfigIssue {
                    origin: at(&j.name),
                    key: format!("jobs.{}.depends_on", j.name),
                    message: format!("unknown job '{d}'; known jobs: {}", known.join(", ")),
                });
            }
            if d == &j.name {
                ok = false;
                issues.push(ConfigIssue {
                    origin: at(&j.name),
                    key: format!("jobs.{}.depends_on", j.name),
                    message: "a job cannot depend on itself".into(),
                });
            }
        }
        let outputs: Vec<_> = set
            .jobs
            .iter()
            .filter(|o| o.output == j.output)
            .map(|o| o.name.as_str())
            .collect();
        if outputs.len() > 1 && outputs[0] == j.name {
            ok = false;
            issues.push(ConfigIssue {
                origin: at(&j.name),
                key: format!("jobs.{}.output", j.name),
                message: format!("'{}' is also the output of {}", j.output, outputs[1..].join(", ")),
            });
        }
        // A table inside another's folder would be read as part of it, and the outer table's
        // vacuum would delete the inner table's files as unreferenced.
        for o in &set.jobs {
            if o.output.starts_with(&format!("{}/", j.output)) {
                ok = false;
                issues.push(ConfigIssue {
                    origin: at(&o.name),
                    key: format!("jobs.{}.output", o.name),
                    message: format!(
                        "'{}' is inside '{}', the output of job '{}': a report cannot live in another \
                         report's folder (its files would be read and vacuumed as the other's); use a \
                         sibling folder such as '{}_{}'",
                        o.output,
                        j.output,
                        j.name,
                        j.output,
                        o.output.rsplit('/').next().unwrap_or_default()
                    ),
                });
            }
        }
    }
    if !ok {
        return;
    }
    // Depth-first topological sort by name, reporting the first cycle found as a path.
    let mut jobs: BTreeMap<String, JobSpec> = set.jobs.drain(..).map(|j| (j.name.clone(), j)).collect();
    let mut order = Vec::new();
    let mut state: BTreeMap<String, u8> = BTreeMap::new();
    fn visit(
        n: &str,
        jobs: &BTreeMap<String, JobSpec>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
        order: &mut Vec<String>,
    ) -> Result<(), Vec<String>> {
        match state.get(n) {
            Some(2) => return Ok(()),
            Some(1) => {
                let from = stack.iter().position(|s| s == n).unwrap_or(0);
                let mut cycle = stack[from..].to_vec();
                cycle.push(n.to_string());
                return Err(cycle);
            }
            _ => {}
        }
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        let mut deps = jobs[n].depends_on.clone();
        deps.sort();
        for d in &deps {
            visit(d, jobs, state, stack, order)?;
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        order.push(n.to_string());
        Ok(())
    }
    let names: Vec<String> = jobs.keys().cloned().collect();
    for n in &names {
        if let Err(cycle) = visit(n, &jobs, &mut state, &mut Vec::new(), &mut order) {
            issues.push(ConfigIssue {
                origin: at(&cycle[0]),
                key: format!("jobs.{}.depends_on", cycle[0]),
                message: format!("dependency cycle {}", cycle.join(" -> ")),
            });
            set.jobs = jobs.into_values().collect();
            return;
        }
    }
    set.jobs = order.iter().filter_map(|n| jobs.remove(n)).collect();
}
