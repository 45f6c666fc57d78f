//! Job outputs against the lake: an output folder must belong to its job alone. One that is, is
//! inside or holds the folder of a lake table other than its own report, or that leads out of the lake
//! root through a symlink, is a settings problem before anything runs: its first run would write
//! into another table's files, and the clean-up of one of the two would delete the other's.

use std::path::{Path, PathBuf};

use nightshift_core::{ConfigIssue, IssueOrigin};
use nightshift_lake::{LEGACY_REPORT, LakeLocation, TableFormat, TableInfo};

use super::{JobSet, SpecError};

impl JobSet {
    /// Checks every job's output against the lake at `lake` and its `tables` (the reports of the
    /// jobs among them are theirs).
    pub fn check_outputs<'a>(
        &self,
        lake: &LakeLocation,
        tables: impl IntoIterator<Item = &'a TableInfo>,
    ) -> Result<(), SpecError> {
        let folder = |rel: &str| lake.join(&format!("{}/", rel.trim_end_matches('/')));
        let outputs: Vec<String> = self.jobs.iter().map(|j| folder(&j.output)).collect();
        // A job's own report: a Delta table (or a pre-Delta report) at its output folder.
        let report = |t: &TableInfo, loc: &String| {
            outputs.contains(loc)
                && matches!(
                    t.format,
                    TableFormat::Delta { .. } | TableFormat::Unsupported(LEGACY_REPORT)
                )
        };
        let foreign: Vec<(&str, String)> = tables
            .into_iter()
            .map(|t| (t, table_folder(&t.location)))
            .filter(|(t, loc)| !report(t, loc))
            .map(|(t, loc)| (t.name.as_str(), loc))
            .collect();
        let mut issues = Vec::new();
        for (job, out) in self.jobs.iter().zip(&outputs) {
            let mut problem = |message: String| {
                issues.push(ConfigIssue {
                    origin: origin(&job.origin),
                    key: format!("jobs.{}.output", job.name),
                    message,
                })
            };
            for (name, loc) in &foreign {
                let relation = if out == loc {
                    "is the folder of"
                } else if out.starts_with(loc.as_str()) {
                    "is inside the folder of"
                } else if loc.starts_with(out.as_str()) {
                    "holds the folder of"
                } else {
                    continue;
                };
                problem(format!(
                    "'{}' {relation} the lake table '{name}' ({loc}): a report needs a folder of its \
                     own, or its runs would write into that table and its clean-up delete that \
                     table's files; choose another output, such as 'reports/{}'",
                    job.output, job.name
                ));
            }
            if let Some(root) = lake.is_local().then(|| lake.url().to_file_path().ok()).flatten()
                && let Some((link, target)) = escapes(&root, &job.output)
            {
                problem(format!(
                    "'{}' leads out of the lake root through the symlink '{}' (to '{}'): outputs \
                     must stay under the lake root",
                    job.output,
                    link.display(),
                    target.display()
                ));
            }
        }
        if issues.is_empty() {
            Ok(())
        } else {
            ConfigIssue::sort_in_file_order(&mut issues);
            Err(SpecError { issues })
        }
    }
}

/// A table's folder with a trailing `/`, without a glob's tail.
fn table_folder(location: &str) -> String {
    let cut = location.find(['*', '?', '[', '{']).unwrap_or(location.len());
    let head = &location[..cut];
    let head = if cut < location.len() {
        &head[..head.rfind('/').map_or(0, |i| i + 1)]
    } else {
        head
    };
    if head.ends_with('/') {
        head.to_string()
    } else {
        format!("{head}/")
    }
}

/// The first folder on the way from `root` to `root/rel` that is a symlink leading out of `root`,
/// with where it leads.
fn escapes(root: &Path, rel: &str) -> Option<(PathBuf, PathBuf)> {
    let base = root.canonicalize().ok()?;
    let mut here = root.to_path_buf();
    for part in rel.split('/').filter(|p| !p.is_empty()) {
        here.push(part);
        let meta = std::fs::symlink_metadata(&here).ok()?;
        if meta.file_type().is_symlink() {
            let target = here.canonicalize().ok()?;
            if !target.starts_with(&base) {
                return Some((here, target));
            }
        }
    }
    None
}

/// A job's `file:line` as an issue origin.
fn origin(at: &str) -> IssueOrigin {
    match at.rsplit_once(':') {
        Some((file, line)) if line.parse::<usize>().is_ok() => IssueOrigin::Line {
            file: file.into(),
            line: line.parse().unwrap_or(1),
        },
        _ => IssueOrigin::File(at.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_folders_drop_globs() {
        assert_eq!(table_folder("s3://b/lake/sales/"), "s3://b/lake/sales/");
        assert_eq!(table_folder("s3://b/lake/sales"), "s3://b/lake/sales/");
        assert_eq!(table_folder("file:///l/sales/*.parquet"), "file:///l/sales/");
        assert_eq!(table_folder("file:///l/sa*/x.parquet"), "file:///l/");
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_out_of_the_root_is_found() {
        let outside = tempfile::tempdir().unwrap();
        let lake = tempfile::tempdir().unwrap();
        std::fs::create_dir(lake.path().join("reports")).unwrap();
        std::os::unix::fs::symlink(outside.path(), lake.path().join("reports/away")).unwrap();
        let (link, _) = escapes(lake.path(), "reports/away/daily").expect("escapes");
        assert!(link.ends_with("reports/away"));
        assert!(escapes(lake.path(), "reports/daily").is_none());
    }
}
