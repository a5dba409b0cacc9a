//! How money moves through an account, day by day. An account's [`Activity`] is its
//! behaviour: scheduled flows (salary on payday, rent, bills, standing orders),
//! random credits (gig payouts, a shop's takings) and card spending drawn from
//! merchant categories whose weights follow the season. A day's transactions depend
//! only on the dataset seed, the account and the date, so any range can be generated
//! on demand without storing history.

use rand09::Rng;
use time::{Date, Month, Time, Weekday};

use crate::rng::{self, Stream};

/// A merchant category: a card-scheme merchant category code (ISO 18245) and
/// fictional merchants that trade under it.
#[derive(Debug)]
pub struct Category {
    pub name: &'static str,
    pub mcc: &'static str,
    pub merchants: &'static [&'static str],
    /// Amount range in minor units.
    pub min: i64,
    pub max: i64,
    pub weight: u32,
    pub season: Season,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Season {
    AllYear,
    /// Gifts and shopping peak in late November and December.
    Christmas,
    /// Holidays, eating out and travel peak from June to August.
    Summer,
}

pub static CATEGORIES: &[Category] = &[
    Category {
        name: "Groceries",
        mcc: "5411",
        merchants: &[
            "Greenway Grocers",
            "Hatherley Foodhall",
            "Corner Larder",
            "Brookside Market",
        ],
        min: 250,
        max: 9_500,
        weight: 30,
        season: Season::AllYear,
    },
    Category {
        name: "Eating out",
        mcc: "5812",
        merchants: &[
            "The Copper Kettle",
            "Saffron Lane Kitchen",
            "Pasta Fratelli",
            "Harbourside Grill",
        ],
        min: 600,
        max: 6_500,
        weight: 12,
        season: Season::Summer,
    },
    Category {
        name: "Coffee",
        mcc: "5814",
        merchants: &[
            "Bean & Bramble",
            "Daily Grind Coffee",
            "Kiln Street Espresso",
        ],
        min: 210,
        max: 780,
        weight: 14,
        season: Season::AllYear,
    },
    Category {
        name: "Transport",
        mcc: "4111",
        merchants: &["Metro Transit Fares", "Northline Rail", "CityCab"],
        min: 180,
        max: 4_200,
        weight: 12,
        season: Season::AllYear,
    },
    Category {
        name: "Fuel",
        mcc: "5541",
        merchants: &["Highway Fuel Stop", "Orchard Road Services"],
        min: 2_500,
        max: 8_500,
        weight: 5,
        season: Season::AllYear,
    },
    Category {
        name: "Clothing",
        mcc: "5651",
        merchants: &["Threadworks", "Marlow & Finch", "Denim Depot"],
        min: 1_200,
        max: 12_000,
        weight: 5,
        season: Season::Christmas,
    },
    Category {
        name: "Gifts and shopping",
        mcc: "5999",
        merchants: &[
            "Giftery Lane",
            "Parcel & Bow",
            "The Toy Attic",
            "Everything Emporium",
        ],
        min: 800,
        max: 15_000,
        weight: 4,
        season: Season::Christmas,
    },
    Category {
        name: "Electronics",
        mcc: "5732",
        merchants: &["Circuit House", "Pixel & Plug"],
        min: 1_500,
        max: 45_000,
        weight: 2,
        season: Season::Christmas,
    },
    Category {
        name: "Pharmacy",
        mcc: "5912",
        merchants: &["Wellbeing Pharmacy", "Greencross Chemist"],
        min: 300,
        max: 2_800,
        weight: 4,
        season: Season::AllYear,
    },
    Category {
        name: "Entertainment",
        mcc: "7832",
        merchants: &["Starlight Cinemas", "Playhouse Tickets"],
        min: 700,
        max: 4_500,
        weight: 3,
        season: Season::AllYear,
    },
    Category {
        name: "Travel",
        mcc: "4511",
        merchants: &["Skylark Airways", "Bluewater Ferries"],
        min: 4_500,
        max: 38_000,
        weight: 1,
        season: Season::Summer,
    },
    Category {
        name: "Hotels",
        mcc: "7011",
        merchants: &["Harbour View Hotel", "The Linden Inn"],
        min: 6_500,
        max: 32_000,
        weight: 1,
        season: Season::Summer,
    },
];

/// A business's purchases: supplies rather than coffee.
pub static BUSINESS_CATEGORIES: &[Category] = &[
    Category {
        name: "Wholesale ingredients",
        mcc: "5149",
        merchants: &[
            "Millstone Wholesale Flour",
            "Dairy Direct Supplies",
            "Harvest Produce Co-op",
        ],
        min: 2_500,
        max: 48_000,
        weight: 10,
        season: Season::AllYear,
    },
    Category {
        name: "Packaging",
        mcc: "5111",
        merchants: &["Boxwell Packaging"],
        min: 1_500,
        max: 12_000,
        weight: 3,
        season: Season::Christmas,
    },
    Category {
        name: "Equipment",
        mcc: "5046",
        merchants: &["Ovenworks Catering Equipment"],
        min: 4_000,
        max: 90_000,
        weight: 1,
        season: Season::AllYear,
    },
    Category {
        name: "Fuel",
        mcc: "5541",
        merchants: &["Highway Fuel Stop"],
        min: 3_000,
        max: 9_000,
        weight: 2,
        season: Season::AllYear,
    },
];

/// How a scheduled flow is booked: the proprietary transaction code the sandbox bank
/// uses, shown as `ProprietaryBankTransactionCode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    Salary,
    Pension,
    DirectDebit,
    StandingOrder,
    TransferIn,
    FasterPaymentIn,
    CardPayment,
    CardRepayment,
    Interest,
    LoanRepayment,
    /// A payment initiated through the sandbox's payment-initiation API.
    SandboxPayment,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Salary => "BGC",
            Self::Pension => "PEN",
            Self::DirectDebit => "DD",
            Self::StandingOrder => "SO",
            Self::TransferIn => "TFR",
            Self::FasterPaymentIn => "FPI",
            Self::CardPayment => "POS",
            Self::CardRepayment => "PAY",
            Self::Interest => "INT",
            Self::LoanRepayment => "LNR",
            Self::SandboxPayment => "FPO",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Schedule {
    /// On this day of every month (1–28).
    Monthly(u8),
    /// On the last working day (Monday to Friday) of the month: UK payday.
    LastWorkingDay,
    /// Every `every` days, counted from a Julian day.
    EveryDays { every: i32, anchor: i32 },
}

impl Schedule {
    pub fn hits(self, date: Date) -> bool {
        match self {
            Self::Monthly(day) => date.day() == day,
            Self::LastWorkingDay => date == last_working_day(date.year(), date.month()),
            Self::EveryDays { every, anchor } => {
                (date.to_julian_day() - anchor).rem_euclid(every) == 0
            }
        }
    }
}

pub fn last_working_day(year: i32, month: Month) -> Date {
    let mut date = Date::from_calendar_date(year, month, time::util::days_in_month(month, year))
        .unwrap_or(Date::MIN);
    while matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday) {
        date = date.previous_day().unwrap_or(date);
    }
    date
}

/// A scheduled movement of money.
#[derive(Clone, Debug)]
pub struct Flow {
    pub label: String,
    pub reference: String,
    /// Signed: positive money in.
    pub amount: i64,
    pub schedule: Schedule,
    pub code: Code,
    /// Bills vary from month to month by up to this many percent.
    pub vary_percent: i64,
}

/// Credits that arrive on random days: gig payouts, a shop's takings.
#[derive(Clone, Debug)]
pub struct Random {
    pub payers: Vec<String>,
    /// Chance in percent that a day has any, then how many (inclusive range).
    pub chance_percent: u32,
    pub count: (u32, u32),
    pub min: i64,
    pub max: i64,
    pub code: Code,
}

/// Card spending: on average `per_day_tenths / 10` payments a day.
#[derive(Clone, Debug)]
pub struct Spend {
    pub per_day_tenths: u32,
    pub categories: &'static [Category],
    /// In percent; a frugal persona spends less per payment.
    pub amount_scale: i64,
}

#[derive(Clone, Debug, Default)]
pub struct Activity {
    pub flows: Vec<Flow>,
    pub random: Vec<Random>,
    pub spend: Option<Spend>,
}

/// Where a transaction came from, to describe it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Flow(u16),
    Random {
        index: u16,
        payer: u16,
    },
    Card {
        category: u16,
        merchant: u16,
        business: bool,
    },
    /// The caller's own entries (sandbox payments), by index.
    External(u32),
}

/// One generated transaction. Small and copyable: names are looked up through the
/// source when the transaction is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transaction {
    pub date: Date,
    pub time: Time,
    /// Position within the day's generated transactions.
    pub seq: u16,
    pub amount: i64,
    pub source: Source,
}

fn season_weight(category: &Category, month: Month) -> u32 {
    match (category.season, month) {
        (Season::Christmas, Month::December) => category.weight * 3,
        (Season::Christmas, Month::November) => category.weight * 2,
        (Season::Summer, Month::June | Month::July | Month::August) => category.weight * 2,
        _ => category.weight,
    }
}

fn vary(rng: &mut Stream, amount: i64, percent: i64) -> i64 {
    if percent == 0 {
        return amount;
    }
    let spread = amount.abs() * percent / 100;
    amount + rng.random_range(-spread..=spread) * amount.signum()
}

fn time_between(rng: &mut Stream, from_hour: u8, to_hour: u8) -> Time {
    let seconds = rng.random_range(u32::from(from_hour) * 3600..u32::from(to_hour) * 3600);
    Time::from_hms(
        (seconds / 3600) as u8,
        ((seconds / 60) % 60) as u8,
        (seconds % 60) as u8,
    )
    .unwrap_or(Time::MIDNIGHT)
}

impl Activity {
    /// The day's transactions in booking order, appended to `out`.
    pub fn day(&self, account_key: u64, date: Date, out: &mut Vec<Transaction>) {
        let start = out.len();
        let mut rng = rng::stream(&[account_key, date.to_julian_day() as u64]);
        for (index, flow) in self.flows.iter().enumerate() {
            if flow.schedule.hits(date) {
                let minute = rng.random_range(0..120u8);
                out.push(Transaction {
                    date,
                    time: Time::from_hms(1 + minute / 60, minute % 60, 0).unwrap_or(Time::MIDNIGHT),
                    seq: 0,
                    amount: vary(&mut rng, flow.amount, flow.vary_percent),
                    source: Source::Flow(index as u16),
                });
            }
        }
        for (index, random) in self.random.iter().enumerate() {
            if rng.random_range(0..100) >= random.chance_percent {
                continue;
            }
            let count = rng.random_range(random.count.0..=random.count.1);
            for _ in 0..count {
                out.push(Transaction {
                    date,
                    time: time_between(&mut rng, 7, 21),
                    seq: 0,
                    amount: rng.random_range(random.min..=random.max),
                    source: Source::Random {
                        index: index as u16,
                        payer: rng.random_range(0..random.payers.len().max(1)) as u16,
                    },
                });
            }
        }
        if let Some(spend) = &self.spend {
            self.card_spend(spend, date, &mut rng, out);
        }
        out[start..].sort_by_key(|t| t.time);
        for (seq, transaction) in out[start..].iter_mut().enumerate() {
            transaction.seq = seq as u16;
        }
    }

    fn card_spend(&self, spend: &Spend, date: Date, rng: &mut Stream, out: &mut Vec<Transaction>) {
        let weekend = matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday);
        let mean_tenths = if weekend {
            spend.per_day_tenths * 13 / 10
        } else {
            spend.per_day_tenths
        };
        let count = mean_tenths / 10 + u32::from(rng.random_range(0..10) < mean_tenths % 10);
        let total: u32 = spend
            .categories
            .iter()
            .map(|c| season_weight(c, date.month()))
            .sum();
        let business = std::ptr::eq(spend.categories, BUSINESS_CATEGORIES);
        for _ in 0..count {
            let mut pick = rng.random_range(0..total.max(1));
            let mut index = 0;
            for (i, category) in spend.categories.iter().enumerate() {
                let weight = season_weight(category, date.month());
                if pick < weight {
                    index = i;
                    break;
                }
                pick -= weight;
            }
            let category = &spend.categories[index];
            let amount = rng.random_range(category.min..=category.max) * spend.amount_scale / 100;
            out.push(Transaction {
                date,
                time: time_between(rng, 7, 23),
                seq: 0,
                amount: -amount.max(1),
                source: Source::Card {
                    category: index as u16,
                    merchant: rng.random_range(0..category.merchants.len()) as u16,
                    business,
                },
            });
        }
    }
}

impl Spend {
    /// Card spending that costs about `monthly` minor units a month, `per_day_tenths`
    /// payments a day on average: the payment amounts are scaled to the budget, so
    /// balances neither run away nor drain over the years.
    pub fn for_budget(monthly: i64, per_day_tenths: u32, categories: &'static [Category]) -> Spend {
        let weight: i64 = categories
            .iter()
            .map(|c| i64::from(c.weight))
            .sum::<i64>()
            .max(1);
        let mean = categories
            .iter()
            .map(|c| (c.min + c.max) / 2 * i64::from(c.weight))
            .sum::<i64>()
            / weight;
        // Weekends have 30% more payments: (5 × 10 + 2 × 13) / 70 of a weekday's.
        let payments_per_month_x1000 = i64::from(per_day_tenths) * 3044 * 76 / 70;
        // Spend 85% of the budget on average: customers keep a margin, so over the
        // years balances drift up a little instead of wandering below the overdraft.
        let scale = monthly * 85 * 1000 / (payments_per_month_x1000 * mean).max(1);
        Spend {
            per_day_tenths,
            categories,
            amount_scale: scale.max(5),
        }
    }
}
