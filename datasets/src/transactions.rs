//! The `transactions` table: card payments by customers at terminals, with labelled fraud that
//! follows three documented scenarios (see `docs/datasets.md`).

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

use crate::DatasetError;
use crate::rng::{Rng, cumulative, derive_seed};

pub(crate) const TABLE: &str = "transactions";
pub(crate) const PARTITION_COLUMN: &str = "tx_date";
const STREAM: u64 = 2;
const WORLD_STREAM: u64 = 4;

/// Scenario 1: share of transactions that are a stolen card's purchase far above the owner's spend.
const AMOUNT_FRAUD_RATE: f64 = 0.0025;
/// Scenario 1: share of those made far from the customer's home region.
const AMOUNT_FRAUD_AWAY: f64 = 0.4;
/// Scenario 2: share of card-present terminal-days that fall in a compromise window.
const COMPROMISED_TERMINAL_DAYS: f64 = 0.006;
/// Scenario 2: chance that a transaction at a compromised terminal is fraudulent.
const COMPROMISED_FRAUD_CHANCE: f64 = 0.6;
/// Scenario 3: share of transactions that belong to night-time card-not-present bursts.
const BURST_RATE: f64 = 0.0025;
/// Scenario 3: share of bursts located far from the customer's home region.
const BURST_AWAY: f64 = 0.6;
/// Night-time, in seconds since midnight: bursts happen in `[0, NIGHT_END)`.
const NIGHT_END: u32 = 5 * 3600;

/// Share of legitimate transactions that are card-not-present (online).
const CARD_NOT_PRESENT: f64 = 0.2;
/// Share of legitimate card-present transactions made while travelling in another region.
const TRAVEL: f64 = 0.06;
/// Share of legitimate transactions that are unusually large (noise that overlaps scenario 1).
const LEGIT_SPLURGE: f64 = 0.003;

pub(crate) fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("transaction_id", DataType::Int64, false),
        Field::new("customer_id", DataType::Int64, false),
        Field::new("terminal_id", DataType::Int64, false),
        Field::new("amount", DataType::Float64, false),
        Field::new("latitude", DataType::Float64, false),
        Field::new("longitude", DataType::Float64, false),
        Field::new("region", DataType::Utf8, false),
        Field::new("time_of_day", DataType::Int32, false),
        Field::new("merchant_category", DataType::Utf8, false),
        Field::new("card_present", DataType::Boolean, false),
        Field::new("is_fraudulent", DataType::Boolean, false),
    ]))
}

struct Region {
    name: &'static str,
    latitude: f64,
    longitude: f64,
    weight: u32,
}

const REGIONS: &[Region] = &[
    Region {
        name: "new-york",
        latitude: 40.71,
        longitude: -74.01,
        weight: 20,
    },
    Region {
        name: "los-angeles",
        latitude: 34.05,
        longitude: -118.24,
        weight: 16,
    },
    Region {
        name: "chicago",
        latitude: 41.88,
        longitude: -87.63,
        weight: 12,
    },
    Region {
        name: "houston",
        latitude: 29.76,
        longitude: -95.37,
        weight: 11,
    },
    Region {
        name: "atlanta",
        latitude: 33.75,
        longitude: -84.39,
        weight: 10,
    },
    Region {
        name: "seattle",
        latitude: 47.61,
        longitude: -122.33,
        weight: 9,
    },
    Region {
        name: "denver",
        latitude: 39.74,
        longitude: -104.99,
        weight: 8,
    },
    Region {
        name: "boston",
        latitude: 42.36,
        longitude: -71.06,
        weight: 8,
    },
    Region {
        name: "miami",
        latitude: 25.76,
        longitude: -80.19,
        weight: 6,
    },
];

struct Category {
    name: &'static str,
    /// Typical amount relative to the customer's base spend.
    scale: f64,
    /// Weight among physical terminals.
    physical: u32,
    /// Weight among online (card-not-present) merchants.
    online: u32,
}

const CATEGORIES: &[Category] = &[
    Category {
        name: "grocery",
        scale: 1.0,
        physical: 25,
        online: 0,
    },
    Category {
        name: "restaurants",
        scale: 0.8,
        physical: 22,
        online: 0,
    },
    Category {
        name: "fuel",
        scale: 1.1,
        physical: 14,
        online: 0,
    },
    Category {
        name: "pharmacy",
        scale: 0.7,
        physical: 8,
        online: 0,
    },
    Category {
        name: "clothing",
        scale: 1.8,
        physical: 10,
        online: 0,
    },
    Category {
        name: "entertainment",
        scale: 1.2,
        physical: 8,
        online: 0,
    },
    Category {
        name: "home_improvement",
        scale: 2.2,
        physical: 5,
        online: 0,
    },
    Category {
        name: "electronics",
        scale: 3.5,
        physical: 5,
        online: 15,
    },
    Category {
        name: "travel",
        scale: 6.0,
        physical: 3,
        online: 15,
    },
    Category {
        name: "online",
        scale: 1.6,
        physical: 0,
        online: 70,
    },
];

/// Relative volume of legitimate transactions per hour of the day.
const HOURLY: [u32; 24] = [
    2, 1, 1, 1, 1, 2, 4, 7, 9, 10, 11, 13, 14, 12, 11, 11, 12, 13, 14, 13, 11, 9, 6, 4,
];

struct Customer {
    home: u8,
    latitude: f64,
    longitude: f64,
    /// The customer's usual spend; amounts scale with it.
    base_spend: f64,
}

struct Terminal {
    region: u8,
    latitude: f64,
    longitude: f64,
    category: u8,
}

/// A span of days during which a terminal is compromised (scenario 2).
struct Compromise {
    terminal: u32,
    first_day: u32,
    last_day: u32,
}

/// The customers, terminals and compromise windows shared by all days.
pub(crate) struct World {
    customers: Vec<Customer>,
    terminals: Vec<Terminal>,
    physical_by_region: Vec<Vec<u32>>,
    online: Vec<u32>,
    burst_targets: Vec<u32>,
    compromises: Vec<Compromise>,
}

fn round_to(value: f64, scale: f64) -> f64 {
    (value * scale).round() / scale
}

impl World {
    pub(crate) fn new(seed: u64, transactions: usize, days: u32) -> Self {
        let mut rng = Rng::new(derive_seed(seed, &[WORLD_STREAM]));
        let region_weights = cumulative(&REGIONS.iter().map(|r| r.weight).collect::<Vec<_>>());
        let physical_weights = cumulative(&CATEGORIES.iter().map(|c| c.physical).collect::<Vec<_>>());
        let online_weights = cumulative(&CATEGORIES.iter().map(|c| c.online).collect::<Vec<_>>());

        let customer_count = (transactions / 20).clamp(50, 5_000_000);
        let customers = (0..customer_count)
            .map(|_| {
                let home = rng.weighted(&region_weights);
                let region = &REGIONS[home];
                Customer {
                    home: home as u8,
                    latitude: region.latitude + 0.25 * rng.normal(),
                    longitude: region.longitude + 0.3 * rng.normal(),
                    base_spend: round_to(8.0 + 35.0 * rng.skewed(), 100.0),
                }
            })
            .collect();

        // Every region gets at least a few physical terminals, so any customer can shop at home.
        let physical_count = (transactions / 60).clamp(10 * REGIONS.len(), 1_000_000);
        let online_count = (transactions / 1_000).clamp(8, 20_000);
        let mut terminals = Vec::with_capacity(physical_count + online_count);
        let mut physical_by_region = vec![Vec::new(); REGIONS.len()];
        for i in 0..physical_count {
            let region = if i < 4 * REGIONS.len() {
                i % REGIONS.len()
            } else {
                rng.weighted(&region_weights)
            };
            let centre = &REGIONS[region];
            physical_by_region[region].push(terminals.len() as u32);
            terminals.push(Terminal {
                region: region as u8,
                latitude: round_to(centre.latitude + 0.3 * rng.normal(), 1e5),
                longitude: round_to(centre.longitude + 0.35 * rng.normal(), 1e5),
                category: rng.weighted(&physical_weights) as u8,
            });
        }
        let mut online = Vec::with_capacity(online_count);
        let mut burst_targets = Vec::new();
        for i in 0..online_count {
            // The first two online merchants guarantee scenario 3 has somewhere to happen.
            let category = match i {
                0 => category_index("online"),
                1 => category_index("electronics"),
                _ => rng.weighted(&online_weights),
            };
            let id = terminals.len() as u32;
            online.push(id);
            if matches!(CATEGORIES[category].name, "online" | "electronics") {
                burst_targets.push(id);
            }
            // An online merchant has no location of its own: the transaction takes the buyer's.
            terminals.push(Terminal {
                region: 0,
                latitude: 0.0,
                longitude: 0.0,
                category: category as u8,
            });
        }

        let windows = (physical_count as f64 * f64::from(days) * COMPROMISED_TERMINAL_DAYS / 3.5).round();
        let compromises = (0..(windows as usize).max(1))
            .map(|_| {
                let terminal = rng.below(physical_count) as u32;
                let first_day = rng.below(days as usize) as u32;
                let last_day = (first_day + rng.range_inclusive(1, 4) as u32).min(days - 1);
                Compromise {
                    terminal,
                    first_day,
                    last_day,
                }
            })
            .collect();

        Self {
            customers,
            terminals,
            physical_by_region,
            online,
            burst_targets,
            compromises,
        }
    }

    /// Physical terminals compromised on `day`, sorted for binary search.
    fn compromised_on(&self, day: u32) -> Vec<u32> {
        let mut ids: Vec<u32> = self
            .compromises
            .iter()
            .filter(|c| (c.first_day..=c.last_day).contains(&day))
            .map(|c| c.terminal)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// A region other than `home`.
    fn elsewhere(&self, rng: &mut Rng, home: u8) -> u8 {
        let other = rng.below(REGIONS.len() - 1) as u8;
        if other >= home { other + 1 } else { other }
    }
}

fn category_index(name: &str) -> usize {
    CATEGORIES.iter().position(|c| c.name == name).unwrap_or(0)
}

/// One transaction of a night-time card-not-present burst (scenario 3).
struct BurstRow {
    time: u32,
    customer: u32,
    terminal: u32,
    amount: f64,
    region: u8,
    latitude: f64,
    longitude: f64,
}

fn plan_bursts(world: &World, rng: &mut Rng, rows: usize) -> Vec<BurstRow> {
    let expected = rows as f64 * BURST_RATE / 5.5;
    let count = expected as usize + usize::from(rng.chance(expected.fract()));
    let mut burst_rows = Vec::new();
    for _ in 0..count {
        let customer = rng.below(world.customers.len());
        let owner = &world.customers[customer];
        let length = rng.range_inclusive(3, 8);
        let (region, latitude, longitude) = if rng.chance(BURST_AWAY) {
            let region = world.elsewhere(rng, owner.home);
            let centre = &REGIONS[region as usize];
            (
                region,
                centre.latitude + 0.2 * rng.normal(),
                centre.longitude + 0.2 * rng.normal(),
            )
        } else {
            (owner.home, owner.latitude, owner.longitude)
        };
        let mut time = rng.below((NIGHT_END - 8 * 300) as usize) as u32;
        for _ in 0..length {
            burst_rows.push(BurstRow {
                time,
                customer: customer as u32,
                terminal: *rng.pick(&world.burst_targets),
                amount: round_to(owner.base_spend * rng.uniform(2.0, 6.0), 100.0),
                region,
                latitude: round_to(latitude + 0.01 * rng.normal(), 1e5),
                longitude: round_to(longitude + 0.01 * rng.normal(), 1e5),
            });
            time += rng.range_inclusive(20, 300) as u32;
        }
    }
    burst_rows.truncate(rows);
    burst_rows.sort_by_key(|row| row.time);
    burst_rows
}

/// Generates day `day` of the transactions table: `rows` rows ordered by time of day, with ids
/// following `first_id`.
pub(crate) fn day_batch(
    world: &World,
    seed: u64,
    day: u32,
    rows: usize,
    first_id: usize,
) -> Result<RecordBatch, DatasetError> {
    let mut rng = Rng::new(derive_seed(seed, &[STREAM, u64::from(day)]));
    let hourly = cumulative(&HOURLY);
    let compromised = world.compromised_on(day);

    let bursts = plan_bursts(world, &mut rng, rows);
    let mut times: Vec<u32> = (0..rows - bursts.len())
        .map(|_| rng.weighted(&hourly) as u32 * 3600 + rng.below(3600) as u32)
        .collect();
    times.sort_unstable();

    let mut transaction_ids = Vec::with_capacity(rows);
    let mut customer_ids = Vec::with_capacity(rows);
    let mut terminal_ids = Vec::with_capacity(rows);
    let mut amounts = Vec::with_capacity(rows);
    let mut latitudes = Vec::with_capacity(rows);
    let mut longitudes = Vec::with_capacity(rows);
    let mut regions = StringBuilder::with_capacity(rows, rows * 9);
    let mut time_of_day = Vec::with_capacity(rows);
    let mut categories = StringBuilder::with_capacity(rows, rows * 9);
    let mut card_present = Vec::with_capacity(rows);
    let mut fraudulent = Vec::with_capacity(rows);

    let mut bursts = bursts.into_iter().peekable();
    let mut times = times.into_iter().peekable();
    for i in 0..rows {
        transaction_ids.push((first_id + i + 1) as i64);
        let burst = match (bursts.peek(), times.peek()) {
            (Some(b), Some(&t)) if b.time <= t => bursts.next(),
            (Some(_), None) => bursts.next(),
            _ => None,
        };
        if let Some(b) = burst {
            customer_ids.push(i64::from(b.customer) + 1);
            terminal_ids.push(i64::from(b.terminal) + 1);
            amounts.push(b.amount);
            latitudes.push(b.latitude);
            longitudes.push(b.longitude);
            regions.append_value(REGIONS[b.region as usize].name);
            time_of_day.push(b.time as i32);
            categories.append_value(CATEGORIES[world.terminals[b.terminal as usize].category as usize].name);
            card_present.push(false);
            fraudulent.push(true);
            continue;
        }
        let time = times.next().unwrap_or_default();

        let customer = rng.below(world.customers.len());
        let owner = &world.customers[customer];
        let stolen = rng.chance(AMOUNT_FRAUD_RATE);
        let away = if stolen {
            rng.chance(AMOUNT_FRAUD_AWAY)
        } else {
            false
        };
        let online = rng.chance(CARD_NOT_PRESENT);

        let (terminal, region, latitude, longitude) = if online {
            let terminal = *rng.pick(&world.online);
            if away {
                let region = world.elsewhere(&mut rng, owner.home);
                let centre = &REGIONS[region as usize];
                let lat = centre.latitude + 0.2 * rng.normal();
                let lon = centre.longitude + 0.2 * rng.normal();
                (terminal, region, round_to(lat, 1e5), round_to(lon, 1e5))
            } else {
                let lat = owner.latitude + 0.03 * rng.normal();
                let lon = owner.longitude + 0.03 * rng.normal();
                (terminal, owner.home, round_to(lat, 1e5), round_to(lon, 1e5))
            }
        } else {
            let region = if away || rng.chance(TRAVEL) {
                world.elsewhere(&mut rng, owner.home)
            } else {
                owner.home
            };
            let terminal = *rng.pick(&world.physical_by_region[region as usize]);
            let t = &world.terminals[terminal as usize];
            (terminal, t.region, t.latitude, t.longitude)
        };
        let category = &CATEGORIES[world.terminals[terminal as usize].category as usize];

        let usual = owner.base_spend * category.scale;
        let amount = if stolen {
            usual * rng.uniform(6.0, 15.0)
        } else if rng.chance(LEGIT_SPLURGE) {
            usual * rng.uniform(3.0, 6.0)
        } else {
            usual * rng.skewed()
        };
        let skimmed =
            !online && compromised.binary_search(&terminal).is_ok() && rng.chance(COMPROMISED_FRAUD_CHANCE);

        customer_ids.push(customer as i64 + 1);
        terminal_ids.push(i64::from(terminal) + 1);
        amounts.push(round_to(amount.max(0.5), 100.0));
        latitudes.push(latitude);
        longitudes.push(longitude);
        regions.append_value(REGIONS[region as usize].name);
        time_of_day.push(time as i32);
        categories.append_value(category.name);
        card_present.push(!online);
        fraudulent.push(stolen || skimmed);
    }

    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(transaction_ids)),
        Arc::new(Int64Array::from(customer_ids)),
        Arc::new(Int64Array::from(terminal_ids)),
        Arc::new(Float64Array::from(amounts)),
        Arc::new(Float64Array::from(latitudes)),
        Arc::new(Float64Array::from(longitudes)),
        Arc::new(regions.finish()),
        Arc::new(Int32Array::from(time_of_day)),
        Arc::new(categories.finish()),
        Arc::new(BooleanArray::from(card_present)),
        Arc::new(BooleanArray::from(fraudulent)),
    ];
    RecordBatch::try_new(schema(), columns).map_err(|source| DatasetError::Arrow { table: TABLE, source })
}

#[cfg(test)]
mod tests {
    use arrow::array::AsArray;
    use arrow::datatypes::{Float64Type, Int32Type, Int64Type};

    use super::*;

    #[test]
    fn world_is_deterministic_and_complete() {
        let a = World::new(9, 100_000, 30);
        let b = World::new(9, 100_000, 30);
        assert_eq!(a.customers.len(), 5_000);
        assert_eq!(a.compromises.len(), b.compromises.len());
        assert!(a.physical_by_region.iter().all(|t| !t.is_empty()));
        assert!(!a.burst_targets.is_empty());
        assert!(
            a.compromises
                .iter()
                .all(|c| c.first_day <= c.last_day && c.last_day < 30)
        );
        let small = World::new(9, 0, 1);
        assert_eq!(small.compromises.len(), 1);
        assert!(small.compromised_on(0).len() == 1);
    }

    #[test]
    fn day_is_sorted_and_labelled() {
        let world = World::new(5, 300_000, 10);
        let batch = day_batch(&world, 5, 2, 30_000, 60_000).unwrap();
        assert_eq!(batch.num_rows(), 30_000);
        let ids = batch.column(0).as_primitive::<Int64Type>();
        assert_eq!(ids.value(0), 60_001);
        let times = batch.column(7).as_primitive::<Int32Type>();
        assert!(times.values().windows(2).all(|w| w[0] <= w[1]));
        assert!(times.values().iter().all(|&t| (0..86_400).contains(&t)));
        let amounts = batch.column(3).as_primitive::<Float64Type>();
        assert!(amounts.values().iter().all(|&a| a > 0.0));
        let fraud = batch.column(10).as_boolean().true_count();
        assert!((30..300).contains(&fraud), "{fraud} fraudulent rows");
    }

    #[test]
    fn zero_rows_is_an_empty_batch() {
        let world = World::new(1, 0, 1);
        assert_eq!(day_batch(&world, 1, 0, 0, 0).unwrap().num_rows(), 0);
    }
}
