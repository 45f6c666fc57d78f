//! The generator's entry point: every day of both tables written in parallel, then committed.

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

use crate::options::{Plan, day_share};
use crate::writer::{StagedTable, properties};
use crate::{DatasetError, GenerateOptions, GenerateSummary, TableSummary, reviews, transactions};

/// Writes the demo lake described by `opts`: `reviews/` and `transactions/` inside `opts.out`, one
/// hive-style partition per day, replacing those two folders if they exist and leaving everything
/// else in `opts.out` alone.
///
/// The output depends only on the options (and the versions of this crate and of `parquet`): days
/// are generated from their own seeded streams, in parallel, so the thread count never changes a byte.
/// On error the previous tables are left untouched.
pub fn generate(opts: &GenerateOptions) -> Result<GenerateSummary, DatasetError> {
    let plan = Plan::new(opts)?;
    let reviews_dir = StagedTable::create(&opts.out, reviews::TABLE)?;
    let transactions_dir = match StagedTable::create(&opts.out, transactions::TABLE) {
        Ok(dir) => dir,
        Err(e) => {
            reviews_dir.abandon();
            return Err(e);
        }
    };

    match write_days(opts, &plan, &reviews_dir, &transactions_dir) {
        Ok(bytes) => {
            reviews_dir.commit()?;
            transactions_dir.commit()?;
            let table = |name: &str, rows, bytes| TableSummary {
                name: name.to_owned(),
                rows,
                files: plan.dates.len(),
                bytes,
            };
            Ok(GenerateSummary {
                tables: vec![
                    table(reviews::TABLE, opts.reviews, bytes[0]),
                    table(transactions::TABLE, opts.transactions, bytes[1]),
                ],
            })
        }
        Err(e) => {
            reviews_dir.abandon();
            transactions_dir.abandon();
            Err(e)
        }
    }
}

/// One unit of work: a day of one table.
#[derive(Clone, Copy)]
enum Task {
    Reviews(usize),
    Transactions(usize),
}

/// Generates and writes every day of both tables; returns the bytes written per table.
fn write_days(
    opts: &GenerateOptions,
    plan: &Plan,
    reviews_dir: &StagedTable,
    transactions_dir: &StagedTable,
) -> Result<[u64; 2], DatasetError> {
    let days = plan.dates.len();
    let world = transactions::World::new(opts.seed, opts.transactions, opts.days);
    // Big days first would balance better, but both tables' days are near-equal in size anyway.
    let tasks: Vec<Task> = (0..days)
        .flat_map(|d| [Task::Transactions(d), Task::Reviews(d)])
        .collect();

    let run = |task: Task| -> Result<(usize, u64), DatasetError> {
        match task {
            Task::Reviews(day) => {
                let (rows, before) = day_share(opts.reviews, days, day);
                let batch = reviews::day_batch(opts.seed, opts.reviews, day, rows, before)?;
                let partition = format!("{}={}", reviews::PARTITION_COLUMN, plan.dates[day]);
                let props = properties(&["product_id", "rating"], &["review_id"]);
                Ok((0, reviews_dir.write_partition(&partition, &batch, props)?))
            }
            Task::Transactions(day) => {
                let (rows, before) = day_share(opts.transactions, days, day);
                let batch = transactions::day_batch(&world, opts.seed, day as u32, rows, before)?;
                let partition = format!("{}={}", transactions::PARTITION_COLUMN, plan.dates[day]);
                let props = properties(
                    &["region", "merchant_category"],
                    &["transaction_id", "time_of_day"],
                );
                Ok((1, transactions_dir.write_partition(&partition, &batch, props)?))
            }
        }
    };

    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let bytes = Mutex::new([0u64; 2]);
    let errors = Mutex::new(Vec::new());
    let work = || {
        while !failed.load(Ordering::Relaxed) {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(&task) = tasks.get(index) else { break };
            match run(task) {
                Ok((table, written)) => {
                    if let Ok(mut bytes) = bytes.lock() {
                        bytes[table] += written;
                    }
                }
                Err(e) => {
                    failed.store(true, Ordering::Relaxed);
                    if let Ok(mut errors) = errors.lock() {
                        errors.push((index, e));
                    }
                }
            }
        }
    };

    let threads = thread::available_parallelism()
        .map_or(1, NonZeroUsize::get)
        .min(tasks.len());
    thread::scope(|scope| {
        // The calling thread works too; if a helper cannot be spawned, fewer threads do the work.
        for _ in 1..threads {
            if thread::Builder::new()
                .name("nightshift-datasets".into())
                .spawn_scoped(scope, work)
                .is_err()
            {
                break;
            }
        }
        work();
    });

    let mut errors = errors
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    errors.sort_by_key(|(index, _)| *index);
    if let Some((_, e)) = errors.into_iter().next() {
        return Err(e);
    }
    Ok(bytes
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner()))
}
