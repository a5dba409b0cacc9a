#![allow(clippy::inconsistent_digit_grouping)] // amounts are written pounds_pence: 1_120_00 is £1,120.00
//! The eight personas: customer archetypes, each with its own accounts and its own
//! behaviour. A persona's data comes only from the dataset seed, so a partner's
//! sandbox is the same every time it is read until it is reset with a new seed.

use crate::customers::TestCustomer;
use fake::faker::address::raw::{CityName, StreetName};
use fake::faker::company::raw::CompanyName;
use fake::faker::name::raw::{FirstName, LastName};
use fake::locales::EN;
use fake::Fake;
use rand09::Rng;
use serde::Serialize;
use time::{Date, Duration};

use crate::activity::{self, Activity, Code, Flow, Random, Schedule, Spend};
use crate::ids;
use crate::model::*;
use crate::rng::{self, Stream};
use crate::SYNTHETIC_MARKER;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Persona {
    Salaried,
    Student,
    GigWorker,
    Pensioner,
    SmallBusiness,
    Traveller,
    Dormant,
    KycMismatch,
}

impl Persona {
    pub const ALL: [Persona; 8] = [
        Self::Salaried,
        Self::Student,
        Self::GigWorker,
        Self::Pensioner,
        Self::SmallBusiness,
        Self::Traveller,
        Self::Dormant,
        Self::KycMismatch,
    ];

    /// The name the CLI and the download take.
    pub fn key(self) -> &'static str {
        match self {
            Self::Salaried => "salaried",
            Self::Student => "student",
            Self::GigWorker => "gig-worker",
            Self::Pensioner => "pensioner",
            Self::SmallBusiness => "small-business",
            Self::Traveller => "traveller",
            Self::Dormant => "dormant",
            Self::KycMismatch => "kyc-mismatch",
        }
    }

    pub fn parse(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.key() == key)
    }

    fn index(self) -> u64 {
        Self::ALL
            .iter()
            .position(|p| *p == self)
            .unwrap_or_default() as u64
    }
}

/// Builds one persona's customer.
pub fn build(seed: u64, customer: &TestCustomer) -> Customer {
    let (persona, username) = (customer.persona, customer.username);
    let mut b = Builder {
        seed,
        persona,
        rng: rng::stream(&[seed, persona.index(), 0xC057]),
        accounts: Vec::new(),
    };
    let party = b.party(customer.display_name);
    let account_party = if let Some(records_name) = customer.records_name {
        b.mismatched(&party, records_name)
    } else {
        party.clone()
    };
    b.accounts(&party.name);
    Customer {
        username,
        persona,
        party,
        account_party,
        accounts: b.accounts,
    }
}

struct Builder {
    seed: u64,
    persona: Persona,
    rng: Stream,
    accounts: Vec<Account>,
}

fn date(year: i32, ordinal: u16) -> Date {
    Date::from_ordinal_date(year, ordinal).unwrap_or(Date::MIN)
}

impl Builder {
    fn name(&mut self) -> (String, String) {
        let first: String = FirstName(EN).fake_with_rng(&mut self.rng);
        let last: String = LastName(EN).fake_with_rng(&mut self.rng);
        (first, last)
    }

    fn company(&mut self) -> String {
        let name: String = CompanyName(EN).fake_with_rng(&mut self.rng);
        name.chars().take(60).collect()
    }

    fn slug(text: &str) -> String {
        text.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect()
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.rng.random_range(0..10u8)))
            .collect()
    }

    /// Phone numbers from Ofcom's ranges reserved for drama (TV and radio):
    /// 07700 900000–900999 for mobiles, 020 7946 0000–0999 for London.
    fn phones(&mut self) -> (String, String) {
        let mobile = format!("+44-7700900{}", self.digits(3));
        let phone = format!("+44-2079460{}", self.digits(3));
        (phone, mobile)
    }

    fn address(&mut self) -> Address {
        let street: String = StreetName(EN).fake_with_rng(&mut self.rng);
        let town: String = CityName(EN).fake_with_rng(&mut self.rng);
        // Postcode districts that do not exist (no real area has the letters QQ).
        let post_code = format!(
            "QQ{} {}{}{}",
            self.rng.random_range(1..=99),
            self.rng.random_range(0..10),
            char::from(b'A' + self.rng.random_range(0..26u8)),
            char::from(b'A' + self.rng.random_range(0..26u8)),
        );
        Address {
            building_number: self.rng.random_range(1..=240).to_string(),
            street_name: street.chars().take(70).collect(),
            town_name: town.chars().take(35).collect(),
            post_code,
            country: "GB",
        }
    }

    /// The customer's party, under the name the docs and consent pages show.
    fn party(&mut self, display_name: &str) -> Party {
        let business = self.persona == Persona::SmallBusiness;
        // The draws a generated name took, so the rest of the dataset stays the same.
        self.name();
        if business {
            self.name();
        }
        let (first, last) = display_name
            .split_once(' ')
            .unwrap_or((display_name, display_name));
        let (name, legal) = (display_name.to_string(), display_name.to_string());
        let age_years = match self.persona {
            Persona::Student => self.rng.random_range(18..=23),
            Persona::Pensioner => self.rng.random_range(67..=84),
            _ => self.rng.random_range(24..=60),
        };
        let (phone, mobile) = self.phones();
        Party {
            party_id: format!(
                "pty-{:016x}",
                rng::key(&[self.seed, self.persona.index(), 1])
            ),
            party_number: self.digits(10),
            party_type: "Sole",
            email: format!(
                "{}.{}{}@example.com",
                Self::slug(first),
                Self::slug(last),
                self.digits(2)
            ),
            name,
            full_legal_name: legal,
            legal_structure: if business {
                "UK.OBIE.CIC"
            } else {
                "UK.OBIE.Individual"
            },
            phone,
            mobile,
            date_of_birth: (!business)
                .then(|| date(2026 - age_years, self.rng.random_range(1..=365))),
            address: self.address(),
            synthetic: SYNTHETIC_MARKER,
        }
    }

    /// The same customer as the account records have them, wrongly: another surname
    /// spelling, a date of birth years off, another postcode.
    fn mismatched(&mut self, party: &Party, records_name: &str) -> Party {
        let mut other = party.clone();
        self.name();
        let (first, surname) = records_name
            .split_once(' ')
            .unwrap_or((records_name, records_name));
        other.name = records_name.to_string();
        other.full_legal_name = other.name.clone();
        other.date_of_birth = party
            .date_of_birth
            .map(|d| d - Duration::days(3 * 365 + 17));
        other.address = self.address();
        other.email = format!(
            "{}.{}@example.com",
            Builder::slug(first),
            Builder::slug(surname)
        );
        other
    }

    fn opened(&mut self) -> Date {
        date(
            self.rng.random_range(2021..=2023),
            self.rng.random_range(1..=365),
        )
    }

    fn uk_account(&mut self, holder: &str) -> Identifier {
        let sort = ids::sort_code(&mut self.rng);
        let number = ids::account_number(&mut self.rng, &sort);
        Identifier {
            scheme: "UK.OBIE.SortCodeAccountNumber",
            identification: format!("{sort}{number}"),
            name: holder.chars().take(70).collect(),
        }
    }

    fn payee(&mut self, name: String) -> Identifier {
        self.uk_account(&name)
    }

    fn add(
        &mut self,
        kind: AccountKind,
        currency: &'static str,
        holder: &str,
        spec: AccountSpec,
    ) -> usize {
        let index = self.accounts.len() as u64;
        let key = rng::key(&[self.seed, self.persona.index(), 2, index]);
        let (identifier, masked) = match (kind, currency) {
            (AccountKind::CreditCard, _) => {
                let pan = ids::card_number(&mut self.rng);
                let masked = ids::masked_card(&pan);
                (
                    Identifier {
                        scheme: "UK.OBIE.PAN",
                        identification: pan,
                        name: holder.chars().take(70).collect(),
                    },
                    Some(masked),
                )
            }
            (_, "GBP") => (self.uk_account(holder), None),
            _ => {
                let sort = ids::sort_code(&mut self.rng);
                let number = ids::account_number(&mut self.rng, &sort);
                (
                    Identifier {
                        scheme: "UK.OBIE.IBAN",
                        identification: ids::iban(&sort, &number),
                        name: holder.chars().take(70).collect(),
                    },
                    None,
                )
            }
        };
        let product = product(kind, currency);
        let mut account = Account {
            id: format!("acc-{:016x}", key),
            kind,
            currency,
            nickname: spec.nickname.to_string(),
            description: product.name.chars().take(35).collect(),
            opened: spec.opened,
            last_activity: spec.last_activity,
            identifier,
            masked_identification: masked,
            opening_balance: spec.opening_balance,
            credit_line: spec.credit_line,
            product,
            beneficiaries: Vec::new(),
            direct_debits: Vec::new(),
            standing_orders: Vec::new(),
            synthetic: SYNTHETIC_MARKER,
            key,
            activity: spec.activity,
            balances: Default::default(),
        };
        self.derive_mandates(&mut account);
        self.accounts.push(account);
        self.accounts.len() - 1
    }

    /// Direct debits, standing orders and beneficiaries follow from the account's
    /// scheduled flows, so what the endpoints list is what the transactions show.
    fn derive_mandates(&mut self, account: &mut Account) {
        let flows = account.activity.flows.clone();
        for (n, flow) in flows.iter().enumerate() {
            let Schedule::Monthly(day) = flow.schedule else {
                continue;
            };
            let id = format!("{}-{n:02}", &account.id[4..]);
            match flow.code {
                Code::DirectDebit => account.direct_debits.push(DirectDebit {
                    direct_debit_id: format!("dd-{id}"),
                    mandate: format!("GHSB{}", self.digits(8)),
                    name: flow.label.chars().take(70).collect(),
                    amount: flow.amount,
                    day_of_month: day,
                }),
                Code::StandingOrder => {
                    let payee = self.payee(flow.label.clone());
                    account.beneficiaries.push(Beneficiary {
                        beneficiary_id: format!("ben-{id}"),
                        reference: flow.reference.chars().take(18).collect(),
                        trusted: true,
                        account: payee.clone(),
                    });
                    account.standing_orders.push(StandingOrder {
                        standing_order_id: format!("so-{id}"),
                        reference: flow.reference.chars().take(18).collect(),
                        amount: flow.amount,
                        day_of_month: day,
                        first_payment: first_on_or_after(account.opened, day),
                        payee,
                    })
                }
                _ => {}
            }
        }
        if matches!(
            account.kind,
            AccountKind::CurrentAccount | AccountKind::BusinessCurrentAccount
        ) {
            for extra in 0..2 {
                let (first, last) = self.name();
                let payee = self.payee(format!("{first} {last}"));
                account.beneficiaries.push(Beneficiary {
                    beneficiary_id: format!("ben-{}-x{extra}", &account.id[4..]),
                    reference: format!(
                        "{} {}",
                        first.chars().take(10).collect::<String>(),
                        ["gift", "share", "loan"][extra]
                    ),
                    trusted: false,
                    account: payee,
                });
            }
        }
    }

    fn monthly(
        &mut self,
        label: String,
        reference: &str,
        amount: i64,
        day: u8,
        code: Code,
        vary: i64,
    ) -> Flow {
        Flow {
            label,
            reference: reference.to_string(),
            amount,
            schedule: Schedule::Monthly(day),
            code,
            vary_percent: vary,
        }
    }

    fn accounts(&mut self, holder: &str) {
        let opened = self.opened();
        let employer = self.company();
        match self.persona {
            Persona::Salaried => {
                let salary = self.rng.random_range(2_900_00..=3_600_00);
                let savings = 400_00;
                let card = 350_00;
                let mut flows = vec![
                    Flow {
                        label: employer,
                        reference: "SALARY".into(),
                        amount: salary,
                        schedule: Schedule::LastWorkingDay,
                        code: Code::Salary,
                        vary_percent: 0,
                    },
                    self.monthly(
                        "Harbour Mutual Mortgages".into(),
                        "MORTGAGE",
                        -1_120_00,
                        1,
                        Code::DirectDebit,
                        0,
                    ),
                    self.monthly(
                        "Borough Council Tax".into(),
                        "COUNCIL TAX",
                        -168_00,
                        3,
                        Code::DirectDebit,
                        0,
                    ),
                    self.monthly(
                        "Brightspark Energy".into(),
                        "ENERGY",
                        -115_00,
                        8,
                        Code::DirectDebit,
                        20,
                    ),
                    self.monthly(
                        "Lumen Mobile".into(),
                        "PHONE",
                        -28_00,
                        12,
                        Code::DirectDebit,
                        5,
                    ),
                    self.monthly(
                        "Streamly".into(),
                        "SUBSCRIPTION",
                        -11_00,
                        15,
                        Code::DirectDebit,
                        0,
                    ),
                    self.monthly(
                        "Gatehouse Credit Card".into(),
                        "CARD REPAYMENT",
                        -card,
                        20,
                        Code::DirectDebit,
                        0,
                    ),
                    self.monthly(
                        format!("{holder} Easy Saver"),
                        "SAVINGS",
                        -savings,
                        26,
                        Code::StandingOrder,
                        0,
                    ),
                ];
                let budget = salary + flows[1..].iter().map(|f| f.amount).sum::<i64>() - 60_00;
                flows.shrink_to_fit();
                let spend = Spend::for_budget(budget, 7, activity::CATEGORIES);
                self.add(
                    AccountKind::CurrentAccount,
                    "GBP",
                    holder,
                    AccountSpec::new(opened, 1_800_00, "Main account")
                        .overdraft(1_000_00)
                        .with(flows, vec![], Some(spend)),
                );
                let interest = self.monthly(
                    "Interest".into(),
                    "GROSS INTEREST",
                    9_00,
                    1,
                    Code::Interest,
                    60,
                );
                let saved = self.monthly(
                    "From main account".into(),
                    "SAVINGS",
                    savings,
                    26,
                    Code::TransferIn,
                    0,
                );
                self.add(
                    AccountKind::Savings,
                    "GBP",
                    holder,
                    AccountSpec::new(opened, 5_000_00, "Rainy day").with(
                        vec![saved, interest],
                        vec![],
                        None,
                    ),
                );
                let repayment = self.monthly(
                    "Card repayment".into(),
                    "THANK YOU",
                    card,
                    20,
                    Code::CardRepayment,
                    0,
                );
                let spend = Spend::for_budget(card - 10_00, 3, activity::CATEGORIES);
                self.add(
                    AccountKind::CreditCard,
                    "GBP",
                    holder,
                    AccountSpec::new(opened, -400_00, "Credit card")
                        .overdraft(5_000_00)
                        .with(vec![repayment], vec![], Some(spend)),
                );
            }
            Persona::Student => {
                let anchor = opened.to_julian_day();
                let job = self.rng.random_range(140_00..=190_00);
                let flows = vec![
                    Flow {
                        label: "Student Finance Maintenance".into(),
                        reference: "MAINTENANCE LOAN".into(),
                        amount: 3_800_00,
                        schedule: Schedule::EveryDays { every: 122, anchor },
                        code: Code::FasterPaymentIn,
                        vary_percent: 0,
                    },
                    Flow {
                        label: employer,
                        reference: "WAGES".into(),
                        amount: job,
                        schedule: Schedule::EveryDays {
                            every: 7,
                            anchor: anchor + 4,
                        },
                        code: Code::Salary,
                        vary_percent: 15,
                    },
                    self.monthly(
                        "Parkside Student Lets".into(),
                        "RENT",
                        -520_00,
                        1,
                        Code::StandingOrder,
                        0,
                    ),
                    self.monthly(
                        "Lumen Mobile".into(),
                        "PHONE",
                        -15_00,
                        12,
                        Code::DirectDebit,
                        0,
                    ),
                    self.monthly(
                        "Gatehouse Personal Loan".into(),
                        "LOAN",
                        -95_00,
                        5,
                        Code::DirectDebit,
                        0,
                    ),
                ];
                let income = 3_800_00 * 30 / 122 + job * 30 * 100 / 7 / 100;
                let spend = Spend::for_budget(
                    income - 520_00 - 15_00 - 95_00 - 40_00,
                    30,
                    activity::CATEGORIES,
                );
                self.add(
                    AccountKind::CurrentAccount,
                    "GBP",
                    holder,
                    AccountSpec::new(opened, -250_00, "Student account")
                        .overdraft(1_500_00)
                        .with(flows, vec![], Some(spend)),
                );
                let repayment = self.monthly(
                    "Repayment".into(),
                    "LOAN REPAYMENT",
                    95_00,
                    5,
                    Code::LoanRepayment,
                    0,
                );
                self.add(
                    AccountKind::Loan,
                    "GBP",
                    holder,
                    AccountSpec::new(opened, -6_500_00, "Laptop loan").with(
                        vec![repayment],
                        vec![],
                        None,
                    ),
                );
            }
            Persona::GigWorker => {
                let payers = (0..3)
                    .map(|_| format!("{} Payouts", self.company()))
                    .collect();
                let gigs = Random {
                    payers,
                    chance_percent: 45,
                    count: (1, 2),
                    min: 35_00,
                    max: 240_00,
                    code: Code::FasterPaymentIn,
                };
                let flows = vec![
                    self.monthly(
                        "Oakfield Lettings".into(),
                        "RENT",
                        -950_00,
                        1,
                        Code::StandingOrder,
                        0,
                    ),
                    self.monthly(
                        "Brightspark Energy".into(),
                        "ENERGY",
                        -90_00,
                        8,
                        Code::DirectDebit,
                        25,
                    ),
                    self.monthly(
                        "Lumen Mobile".into(),
                        "PHONE",
                        -22_00,
                        12,
                        Code::DirectDebit,
                        0,
                    ),
                    self.monthly(
                        format!("{holder} Tax Pot"),
                        "TAX POT",
                        -250_00,
                        28,
                        Code::StandingOrder,
                        0,
                    ),
                ];
                let income = 45 * 3 * (35_00 + 240_00) / 2 * 304 / 100 / 10 / 2;
                let spend = Spend::for_budget(
                    income - 950_00 - 90_00 - 22_00 - 250_00 - 80_00,
                    12,
                    activity::CATEGORIES,
                );
                self.add(
                    AccountKind::CurrentAccount,
                    "GBP",
                    holder,
                    AccountSpec::new(opened, 600_00, "Everyday")
                        .overdraft(500_00)
                        .with(flows, vec![gigs], Some(spend)),
                );
                let pot = self.monthly(
                    "From Everyday".into(),
                    "TAX POT",
                    250_00,
                    28,
                    Code::TransferIn,
                    0,
                );
                self.add(
                    AccountKind::Savings,
                    "GBP",
                    holder,
                    AccountSpec::new(opened, 1_200_00, "Tax pot").with(vec![pot], vec![], None),
                );
            }
            Persona::Pensioner => {
                let anchor = opened.to_julian_day();
                let flows = vec![
                    Flow {
                        label: "DWP State Pension".into(),
                        reference: "STATE PENSION".into(),
                        amount: 884_40,
                        schedule: Schedule::EveryDays { every: 28, anchor },
                        code: Code::Pension,
                        vary_percent: 0,
                    },
                    Flow {
                        label: format!("{employer} Pension Trust"),
                        reference: "PENSION".into(),
                        amount: 640_00,
                        schedule: Schedule::Monthly(1),
                        code: Code::Pension,
                        vary_percent: 0,
                    },
                    self.monthly(
                        "Borough Council Tax".into(),
                        "COUNCIL TAX",
                        -140_00,
                        3,
                        Code::DirectDebit,
                        0,
                    ),
                    self.monthly(
                        "Brightspark Energy".into(),
                        "ENERGY",
                        -105_00,
                        8,
                        Code::DirectDebit,
                        25,
                    ),
                    self.monthly(
                        "Evergreen Home Insurance".into(),
                        "INSURANCE",
                        -38_00,
                        18,
                        Code::DirectDebit,
                        0,
                    ),
                ];
                let spend = Spend::for_budget(
                    884_40 * 304 / 280 + 640_00 - 283_00 - 60_00,
                    12,
                    activity::CATEGORIES,
                );
                self.add(
                    AccountKind::CurrentAccount,
                    "GBP",
                    holder,
                    AccountSpec::new(opened, 2_400_00, "Pension account").with(
                        flows,
                        vec![],
                        Some(spend),
                    ),
                );
                let interest = self.monthly(
                    "Interest".into(),
                    "GROSS INTEREST",
                    45_00,
                    1,
                    Code::Interest,
                    10,
                );
                self.add(
                    AccountKind::Savings,
                    "GBP",
                    holder,
                    AccountSpec::new(opened, 24_000_00, "Savings").with(
                        vec![interest],
                        vec![],
                        None,
                    ),
                );
            }
            Persona::SmallBusiness => {
                let payers = vec![
                    "Tillpoint card sales".to_string(),
                    "Faster payment from customer".to_string(),
                ];
                let takings = Random {
                    payers,
                    chance_percent: 100,
                    count: (25, 55),
                    min: 2_50,
                    max: 38_00,
                    code: Code::FasterPaymentIn,
                };
                let mut flows = vec![
                    self.monthly(
                        "Granary Row Properties".into(),
                        "SHOP RENT",
                        -2_100_00,
                        1,
                        Code::StandingOrder,
                        0,
                    ),
                    self.monthly(
                        "Borough Business Rates".into(),
                        "RATES",
                        -310_00,
                        2,
                        Code::DirectDebit,
                        0,
                    ),
                    self.monthly(
                        "Brightspark Energy Business".into(),
                        "ENERGY",
                        -620_00,
                        9,
                        Code::DirectDebit,
                        20,
                    ),
                    self.monthly(
                        format!("{holder} Tax Reserve"),
                        "TAX RESERVE",
                        -1_500_00,
                        5,
                        Code::StandingOrder,
                        0,
                    ),
                ];
                for _ in 0..3 {
                    let (first, last) = self.name();
                    flows.push(self.monthly(
                        format!("{first} {last}"),
                        "WAGES",
                        -1_850_00,
                        28,
                        Code::StandingOrder,
                        0,
                    ));
                }
                let income = 40 * (2_50 + 38_00) / 2 * 304 / 10;
                let outgoings: i64 = flows.iter().map(|f| f.amount).sum();
                let spend = Spend::for_budget(
                    income + outgoings - 500_00,
                    30,
                    activity::BUSINESS_CATEGORIES,
                );
                self.add(
                    AccountKind::BusinessCurrentAccount,
                    "GBP",
                    holder,
                    AccountSpec::new(opened, 12_000_00, "Bakery current")
                        .overdraft(5_000_00)
                        .with(flows, vec![takings], Some(spend)),
                );
                let reserve = self.monthly(
                    "From Bakery current".into(),
                    "TAX RESERVE",
                    1_500_00,
                    5,
                    Code::TransferIn,
                    0,
                );
                let hmrc = Flow {
                    label: "HMRC VAT".into(),
                    reference: "VAT".into(),
                    amount: -4_300_00,
                    schedule: Schedule::EveryDays {
                        every: 91,
                        anchor: opened.to_julian_day() + 40,
                    },
                    code: Code::DirectDebit,
                    vary_percent: 10,
                };
                self.add(
                    AccountKind::Savings,
                    "GBP",
                    holder,
                    AccountSpec::new(opened, 8_000_00, "Tax reserve").with(
                        vec![reserve, hmrc],
                        vec![],
                        None,
                    ),
                );
            }
            Persona::Traveller => {
                let salary = self.rng.random_range(2_700_00..=3_100_00);
                let flows = vec![
                    Flow {
                        label: employer,
                        reference: "SALARY".into(),
                        amount: salary,
                        schedule: Schedule::LastWorkingDay,
                        code: Code::Salary,
                        vary_percent: 0,
                    },
                    self.monthly(
                        "Riverside Flats".into(),
                        "RENT",
                        -1_100_00,
                        1,
                        Code::StandingOrder,
                        0,
                    ),
                    self.monthly(
                        format!("{holder} EUR account"),
                        "FX EUR",
                        -520_00,
                        2,
                        Code::StandingOrder,
                        0,
                    ),
                    self.monthly(
                        format!("{holder} USD account"),
                        "FX USD",
                        -200_00,
                        2,
                        Code::StandingOrder,
                        0,
                    ),
                    self.monthly(
                        "Lumen Mobile Roaming".into(),
                        "PHONE",
                        -35_00,
                        12,
                        Code::DirectDebit,
                        10,
                    ),
                ];
                let spend = Spend::for_budget(salary - 1_855_00 - 60_00, 5, activity::CATEGORIES);
                self.add(
                    AccountKind::CurrentAccount,
                    "GBP",
                    holder,
                    AccountSpec::new(opened, 1_500_00, "Home account").with(
                        flows,
                        vec![],
                        Some(spend),
                    ),
                );
                let eur_in = self.monthly(
                    "FX from GBP at 1.1538".into(),
                    "FX EUR",
                    600_00,
                    2,
                    Code::TransferIn,
                    0,
                );
                let spend = Spend::for_budget(590_00, 6, activity::CATEGORIES);
                self.add(
                    AccountKind::CurrentAccount,
                    "EUR",
                    holder,
                    AccountSpec::new(opened, 1_200_00, "Euro wallet").with(
                        vec![eur_in],
                        vec![],
                        Some(spend),
                    ),
                );
                let usd_in = self.monthly(
                    "FX from GBP at 1.2650".into(),
                    "FX USD",
                    253_00,
                    2,
                    Code::TransferIn,
                    0,
                );
                let spend = Spend::for_budget(245_00, 2, activity::CATEGORIES);
                self.add(
                    AccountKind::CurrentAccount,
                    "USD",
                    holder,
                    AccountSpec::new(opened, 800_00, "Dollar wallet").with(
                        vec![usd_in],
                        vec![],
                        Some(spend),
                    ),
                );
            }
            Persona::Dormant => {
                let opened = date(
                    self.rng.random_range(2019..=2020),
                    self.rng.random_range(1..=365),
                );
                let last = date(2024, self.rng.random_range(1..=200));
                let flows = vec![
                    Flow {
                        label: employer,
                        reference: "SALARY".into(),
                        amount: 1_900_00,
                        schedule: Schedule::LastWorkingDay,
                        code: Code::Salary,
                        vary_percent: 0,
                    },
                    self.monthly(
                        "Willow Court Rentals".into(),
                        "RENT",
                        -700_00,
                        1,
                        Code::StandingOrder,
                        0,
                    ),
                ];
                let spend = Spend::for_budget(1_900_00 - 700_00 - 80_00, 6, activity::CATEGORIES);
                self.add(
                    AccountKind::CurrentAccount,
                    "GBP",
                    holder,
                    AccountSpec::new(opened, 300_00, "Old account")
                        .until(last)
                        .with(flows, vec![], Some(spend)),
                );
                self.add(
                    AccountKind::Savings,
                    "GBP",
                    holder,
                    AccountSpec::new(opened, 3_200_00, "Old savings")
                        .until(opened)
                        .with(vec![], vec![], None),
                );
            }
            Persona::KycMismatch => {
                let salary = self.rng.random_range(2_200_00..=2_600_00);
                let flows = vec![
                    Flow {
                        label: employer,
                        reference: "SALARY".into(),
                        amount: salary,
                        schedule: Schedule::LastWorkingDay,
                        code: Code::Salary,
                        vary_percent: 0,
                    },
                    self.monthly(
                        "Northgate Homes".into(),
                        "RENT",
                        -880_00,
                        1,
                        Code::StandingOrder,
                        0,
                    ),
                    self.monthly(
                        "Brightspark Energy".into(),
                        "ENERGY",
                        -85_00,
                        8,
                        Code::DirectDebit,
                        20,
                    ),
                    self.monthly(
                        "Lumen Mobile".into(),
                        "PHONE",
                        -20_00,
                        12,
                        Code::DirectDebit,
                        0,
                    ),
                ];
                let spend = Spend::for_budget(salary - 985_00 - 60_00, 8, activity::CATEGORIES);
                self.add(
                    AccountKind::CurrentAccount,
                    "GBP",
                    holder,
                    AccountSpec::new(opened, 900_00, "Current")
                        .overdraft(750_00)
                        .with(flows, vec![], Some(spend)),
                );
            }
        }
    }
}

fn first_on_or_after(from: Date, day: u8) -> Date {
    let mut date = from;
    while date.day() != day {
        date = date.next_day().unwrap_or(date);
    }
    date
}

/// The sandbox bank's products, one per kind of account.
pub fn product(kind: AccountKind, currency: &str) -> Product {
    let (id, name, product_type, description) = match (kind, currency) {
        (AccountKind::CurrentAccount, "GBP") => (
            "GHSB-PCA-01",
            "Gatehouse Everyday Account",
            "PersonalCurrentAccount",
            "A personal current account with an arranged overdraft.",
        ),
        (AccountKind::CurrentAccount, _) => (
            "GHSB-FCY-01",
            "Gatehouse Currency Account",
            "Other",
            "A foreign-currency account for euros or US dollars.",
        ),
        (AccountKind::BusinessCurrentAccount, _) => (
            "GHSB-BCA-01",
            "Gatehouse Business Current Account",
            "BusinessCurrentAccount",
            "A current account for small businesses with card takings.",
        ),
        (AccountKind::Savings, _) => (
            "GHSB-SAV-01",
            "Gatehouse Easy Saver",
            "Other",
            "An instant-access savings account paying monthly interest.",
        ),
        (AccountKind::CreditCard, _) => (
            "GHSB-CC-01",
            "Gatehouse Classic Credit Card",
            "Other",
            "A credit card with a monthly repayment by direct debit.",
        ),
        (AccountKind::Loan, _) => (
            "GHSB-LN-01",
            "Gatehouse Personal Loan",
            "Other",
            "A fixed-term personal loan repaid monthly.",
        ),
    };
    Product {
        product_id: id.into(),
        name: name.into(),
        product_type,
        description: description.into(),
    }
}

/// What an account is opened with.
struct AccountSpec {
    opened: Date,
    opening_balance: i64,
    nickname: &'static str,
    credit_line: Option<i64>,
    last_activity: Option<Date>,
    activity: Activity,
}

impl AccountSpec {
    fn new(opened: Date, opening_balance: i64, nickname: &'static str) -> Self {
        Self {
            opened,
            opening_balance,
            nickname,
            credit_line: None,
            last_activity: None,
            activity: Activity::default(),
        }
    }

    fn overdraft(mut self, limit: i64) -> Self {
        self.credit_line = Some(limit);
        self
    }

    fn until(mut self, last: Date) -> Self {
        self.last_activity = Some(last);
        self
    }

    fn with(mut self, flows: Vec<Flow>, random: Vec<Random>, spend: Option<Spend>) -> Self {
        self.activity = Activity {
            flows,
            random,
            spend,
        };
        self
    }
}
