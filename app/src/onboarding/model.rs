//! The onboarding model, pure: questions and their validation, the wizard's steps,
//! evidence kinds and freshness, and the tiers. No database here, so every rule is
//! unit-tested on its own.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The kinds of answer a question takes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Kind {
    YesNo {
        /// The answer a sound organisation gives; the other one counts its weight
        /// as risk points in the reviewer's view.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expected: Option<bool>,
    },
    Choice {
        options: Vec<String>,
    },
    Text {
        #[serde(default)]
        long: bool,
    },
    Email,
    /// `YYYY-MM-DD`.
    Date,
    /// A whole number, at least zero.
    Number,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    /// The answer's key: lower-case letters, digits and `_`.
    pub id: String,
    pub label: String,
    #[serde(default)]
    pub help: String,
    #[serde(flatten)]
    pub kind: Kind,
    #[serde(default)]
    pub required: bool,
    /// Only required from this tier up (e.g. a licence number from Tier 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_from_tier: Option<i64>,
    /// Weight in the risk assessment (0 = not scored).
    #[serde(default)]
    pub weight: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    pub title: String,
    pub questions: Vec<Question>,
}

/// A questionnaire's content (the `content` column).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Questionnaire {
    pub title: String,
    pub sections: Vec<Section>,
}

pub const MAX_TEXT: usize = 4000;
pub const MAX_QUESTIONS: usize = 200;

impl Question {
    pub fn is_required(&self, tier: i64) -> bool {
        self.required || self.required_from_tier.is_some_and(|from| tier >= from)
    }

    /// Checks one answer's format (an empty answer is fine here: see `missing`).
    /// Returns the answer as stored: trimmed, dates and numbers normalised.
    pub fn check(&self, raw: &str) -> Result<String, String> {
        let value = raw.trim();
        if value.is_empty() {
            return Ok(String::new());
        }
        if value.chars().count() > MAX_TEXT {
            return Err(format!(
                "{}: use at most {MAX_TEXT} characters.",
                self.label
            ));
        }
        match &self.kind {
            Kind::YesNo { .. } => match value {
                "yes" | "no" => Ok(value.into()),
                _ => Err(format!("{}: answer yes or no.", self.label)),
            },
            Kind::Choice { options } => {
                if options.iter().any(|o| o == value) {
                    Ok(value.into())
                } else {
                    Err(format!("{}: choose one of the options.", self.label))
                }
            }
            Kind::Text { .. } => Ok(value.into()),
            Kind::Email => {
                let ok = value.split_once('@').is_some_and(|(local, domain)| {
                    !local.is_empty()
                        && domain.contains('.')
                        && !value.contains(char::is_whitespace)
                });
                if ok {
                    Ok(value.into())
                } else {
                    Err(format!(
                        "{}: enter an e-mail address like name@example.com.",
                        self.label
                    ))
                }
            }
            Kind::Date => parse_date(value)
                .map(crate::platform::time::iso_day)
                .ok_or_else(|| {
                    format!(
                        "{}: enter a real date, for example 2026-03-31 or 31/03/2026.",
                        self.label
                    )
                }),
            Kind::Number => value
                .parse::<u64>()
                .map(|n| n.to_string())
                .map_err(|_| format!("{}: enter a whole number, like 12.", self.label)),
        }
    }

    /// Risk points this answer scores: the weight when a yes/no answer differs from
    /// the expected one.
    pub fn risk_points(&self, answer: &str) -> i64 {
        match &self.kind {
            Kind::YesNo {
                expected: Some(expected),
            } if !answer.is_empty() && (answer == "yes") != *expected => self.weight,
            _ => 0,
        }
    }
}

/// Checks a questionnaire an admin wrote before it can be saved or published.
pub fn validate_questionnaire(q: &Questionnaire) -> Result<(), String> {
    if q.title.trim().is_empty() {
        return Err("The questionnaire needs a title.".into());
    }
    if q.sections.is_empty() {
        return Err("The questionnaire needs at least one section.".into());
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut count = 0;
    for section in &q.sections {
        if section.title.trim().is_empty() {
            return Err("Every section needs a title.".into());
        }
        if section.questions.is_empty() {
            return Err(format!("Section \"{}\" has no questions.", section.title));
        }
        for question in &section.questions {
            count += 1;
            let id_ok = !question.id.is_empty()
                && question.id.len() <= 64
                && question
                    .id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !id_ok {
                return Err(format!(
                    "Question id \"{}\": use lower-case letters, digits and _.",
                    question.id
                ));
            }
            if !seen.insert(question.id.clone()) {
                return Err(format!("Question id \"{}\" is used twice.", question.id));
            }
            if question.label.trim().is_empty() {
                return Err(format!("Question \"{}\" needs a label.", question.id));
            }
            if !(0..=10).contains(&question.weight) {
                return Err(format!(
                    "Question \"{}\": the weight must be from 0 to 10.",
                    question.id
                ));
            }
            if let Kind::Choice { options } = &question.kind {
                if options.len() < 2 || options.iter().any(|o| o.trim().is_empty()) {
                    return Err(format!(
                        "Question \"{}\": a choice needs at least two non-empty options.",
                        question.id
                    ));
                }
            }
        }
    }
    if count > MAX_QUESTIONS {
        return Err(format!("Use at most {MAX_QUESTIONS} questions."));
    }
    Ok(())
}

pub type Answers = BTreeMap<String, String>;

/// Reads the submitted answers to `questions` out of a form: checks each format and
/// keeps only known keys. Errors are (question id, message).
pub fn read_answers(
    questions: &[&Question],
    form: &BTreeMap<String, String>,
) -> Result<Answers, Vec<(String, String)>> {
    let mut answers = Answers::new();
    let mut errors = Vec::new();
    for question in questions {
        let raw = form.get(&question.id).map(String::as_str).unwrap_or("");
        match question.check(raw) {
            Ok(value) if value.is_empty() => {}
            Ok(value) => {
                answers.insert(question.id.clone(), value);
            }
            Err(message) => errors.push((question.id.clone(), message)),
        }
    }
    if errors.is_empty() {
        Ok(answers)
    } else {
        Err(errors)
    }
}

/// The required questions still unanswered, as (id, message).
pub fn missing(questions: &[&Question], answers: &Answers, tier: i64) -> Vec<(String, String)> {
    questions
        .iter()
        .filter(|q| q.is_required(tier) && answers.get(&q.id).is_none_or(|a| a.is_empty()))
        .map(|q| (q.id.clone(), format!("{}: this is required.", q.label)))
        .collect()
}

pub use crate::platform::time::parse_day as parse_date;

/// The wizard's steps, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    Profile,
    UseCase,
    Questionnaire,
    Evidence,
    Contacts,
    Declaration,
}

impl Step {
    pub const ALL: [Step; 6] = [
        Step::Profile,
        Step::UseCase,
        Step::Questionnaire,
        Step::Evidence,
        Step::Contacts,
        Step::Declaration,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            Self::Profile => "profile",
            Self::UseCase => "use-case",
            Self::Questionnaire => "questionnaire",
            Self::Evidence => "evidence",
            Self::Contacts => "contacts",
            Self::Declaration => "declaration",
        }
    }

    pub fn parse(slug: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.slug() == slug)
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::Profile => "Organisation profile",
            Self::UseCase => "Use case",
            Self::Questionnaire => "Security questionnaire",
            Self::Evidence => "Evidence",
            Self::Contacts => "Technical contacts",
            Self::Declaration => "Declaration",
        }
    }
}

/// A task's status on the task list (GOV.UK Design System, "task list" pattern).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskStatus {
    NotStarted,
    InProgress,
    Completed,
    NeedsAttention,
}

impl TaskStatus {
    pub fn label(self) -> &'static str {
        match self {
            Self::NotStarted => "Not started",
            Self::InProgress => "In progress",
            Self::Completed => "Completed",
            Self::NeedsAttention => "Needs attention",
        }
    }
    pub fn class(self) -> &'static str {
        match self {
            Self::NotStarted => "tag tag-grey",
            Self::InProgress => "tag tag-blue",
            Self::Completed => "tag tag-green",
            Self::NeedsAttention => "tag tag-red",
        }
    }
}

/// The status of a form step from its saved answers.
pub fn step_status(saved: Option<&Answers>, questions: &[&Question], tier: i64) -> TaskStatus {
    match saved {
        None => TaskStatus::NotStarted,
        Some(answers) if missing(questions, answers, tier).is_empty() => TaskStatus::Completed,
        Some(_) => TaskStatus::InProgress,
    }
}

/// Kinds of evidence a partner uploads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    PenTest,
    Iso27001Soc2,
    Licence,
    IncidentResponsePlan,
    Insurance,
}

impl EvidenceKind {
    pub const ALL: [EvidenceKind; 5] = [
        Self::PenTest,
        Self::Iso27001Soc2,
        Self::Licence,
        Self::IncidentResponsePlan,
        Self::Insurance,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PenTest => "pen_test",
            Self::Iso27001Soc2 => "iso27001_soc2",
            Self::Licence => "licence",
            Self::IncidentResponsePlan => "incident_response_plan",
            Self::Insurance => "insurance",
        }
    }
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == value)
    }
    /// Whether the document carries an expiry date (certificates and test
    /// reports do; a licence or a plan is valid until replaced).
    pub fn expires(self) -> bool {
        matches!(self, Self::PenTest | Self::Iso27001Soc2 | Self::Insurance)
    }
    pub fn label(self) -> &'static str {
        match self {
            Self::PenTest => "Penetration test summary",
            Self::Iso27001Soc2 => "ISO 27001 certificate or SOC 2 report",
            Self::Licence => "Regulatory licence (AISP / PISP authorisation)",
            Self::IncidentResponsePlan => "Incident-response plan",
            Self::Insurance => "Insurance certificate",
        }
    }
}

/// What a tier demands of one kind of evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceRule {
    pub kind: EvidenceKind,
    /// The document must have been issued at most this many days before submission.
    pub max_age_days: i64,
}

/// One uploaded document, as the freshness rules see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceFacts {
    pub id: String,
    pub kind: EvidenceKind,
    pub issued_on: String,
    pub expires_on: String,
}

/// How one required kind of evidence stands on `today`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// A current document: its id.
    Fresh(String),
    Missing,
    /// Documents exist but every one is expired or older than the rule allows.
    Stale(String),
}

pub fn freshness(rule: &EvidenceRule, files: &[EvidenceFacts], today: time::Date) -> Freshness {
    let mut stale = None;
    for file in files.iter().filter(|f| f.kind == rule.kind) {
        let Some(issued) = parse_date(&file.issued_on) else {
            continue;
        };
        // No expiry date: valid until replaced (kinds that need one always have it).
        let expires = parse_date(&file.expires_on);
        if file.kind.expires() && expires.is_none() {
            continue;
        }
        if expires.is_some_and(|expires| expires <= today) {
            stale = Some(format!("expired on {}", file.expires_on));
        } else if (today - issued).whole_days() > rule.max_age_days {
            stale = Some(format!(
                "issued on {}, more than {} days ago",
                file.issued_on, rule.max_age_days
            ));
        } else {
            return Freshness::Fresh(file.id.clone());
        }
    }
    stale.map(Freshness::Stale).unwrap_or(Freshness::Missing)
}

/// A tier of the catalogue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tier {
    pub level: i64,
    pub name: String,
    pub description: String,
    pub scopes: Vec<String>,
    pub questionnaire_id: String,
    pub evidence: Vec<EvidenceRule>,
    pub client_auth: Vec<String>,
    pub max_credential_days: i64,
    pub rate_limit_per_minute: i64,
    pub review_sla_hours: i64,
}

/// Client authentication methods, strongest first.
pub const CLIENT_AUTH_METHODS: [(&str, &str); 4] = [
    ("tls_client_auth", "Mutual TLS (tls_client_auth)"),
    (
        "private_key_jwt",
        "Signed client assertion (private_key_jwt)",
    ),
    ("client_secret_basic", "Client secret (client_secret_basic)"),
    ("client_secret_post", "Client secret (client_secret_post)"),
];

pub const DATA_CLASSES: [(&str, &str); 4] = [
    ("public_reference", "Public reference data"),
    ("account_information", "Account information"),
    ("payment_initiation", "Payment initiation"),
    ("account_mutation", "Account mutation"),
];

pub const SENSITIVITIES: [(&str, &str); 3] =
    [("low", "Low"), ("medium", "Medium"), ("high", "High")];

/// Application statuses as partners and reviewers read them.
pub fn status_label(status: &str) -> &'static str {
    match status {
        "draft" => "Draft",
        "submitted" => "Submitted: waiting for review",
        "more_info" => "More information requested",
        "approved" => "Approved",
        "rejected" => "Rejected",
        _ => "Unknown",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn q(kind: Kind) -> Question {
        Question {
            id: "q".into(),
            label: "Q".into(),
            help: String::new(),
            kind,
            required: true,
            required_from_tier: None,
            weight: 3,
        }
    }

    #[test]
    fn answers_are_checked_by_kind() {
        let date = q(Kind::Date);
        assert_eq!(date.check("2026-02-28"), Ok("2026-02-28".into()));
        assert!(date.check("2026-02-30").is_err());
        assert_eq!(date.check("28/02/2026"), Ok("2026-02-28".into()));
        assert!(date.check("30/02/2026").is_err());
        assert!(date.check("February 28").is_err());
        let number = q(Kind::Number);
        assert_eq!(number.check(" 12 "), Ok("12".into()));
        assert!(number.check("-1").is_err());
        assert!(number.check("twelve").is_err());
        let choice = q(Kind::Choice {
            options: vec!["UK".into(), "EEA".into()],
        });
        assert!(choice.check("UK").is_ok());
        assert!(choice.check("Mars").is_err());
        assert!(q(Kind::YesNo { expected: None }).check("maybe").is_err());
        assert!(q(Kind::Email).check("sec@example.com").is_ok());
        assert!(q(Kind::Email).check("nope").is_err());
        assert_eq!(
            q(Kind::Text { long: false }).check("   "),
            Ok(String::new())
        );
        assert!(q(Kind::Text { long: true })
            .check(&"x".repeat(MAX_TEXT + 1))
            .is_err());
    }

    #[test]
    fn required_depends_on_the_tier() {
        let mut licence = q(Kind::Text { long: false });
        licence.required = false;
        licence.required_from_tier = Some(2);
        let questions = [&licence];
        let empty = Answers::new();
        assert!(missing(&questions, &empty, 1).is_empty());
        assert_eq!(missing(&questions, &empty, 2).len(), 1);
        assert_eq!(step_status(None, &questions, 2), TaskStatus::NotStarted);
        assert_eq!(
            step_status(Some(&empty), &questions, 2),
            TaskStatus::InProgress
        );
        assert_eq!(
            step_status(Some(&empty), &questions, 1),
            TaskStatus::Completed
        );
    }

    #[test]
    fn unexpected_answers_score_their_weight() {
        let mfa = q(Kind::YesNo {
            expected: Some(true),
        });
        assert_eq!(mfa.risk_points("no"), 3);
        assert_eq!(mfa.risk_points("yes"), 0);
        assert_eq!(mfa.risk_points(""), 0);
    }

    #[test]
    fn evidence_must_be_current_and_recent() {
        let today = time::macros::date!(2026 - 11 - 21);
        let rule = EvidenceRule {
            kind: EvidenceKind::PenTest,
            max_age_days: 365,
        };
        let file = |id: &str, issued: &str, expires: &str| EvidenceFacts {
            id: id.into(),
            kind: EvidenceKind::PenTest,
            issued_on: issued.into(),
            expires_on: expires.into(),
        };
        assert_eq!(freshness(&rule, &[], today), Freshness::Missing);
        let expired = file("a", "2026-01-01", "2026-11-21");
        assert!(matches!(
            freshness(&rule, std::slice::from_ref(&expired), today),
            Freshness::Stale(_)
        ));
        let old = file("b", "2025-10-01", "2027-10-01");
        assert!(matches!(
            freshness(&rule, &[old], today),
            Freshness::Stale(_)
        ));
        let good = file("c", "2026-06-01", "2027-06-01");
        assert_eq!(
            freshness(&rule, &[expired, good], today),
            Freshness::Fresh("c".into())
        );
    }

    #[test]
    fn questionnaires_are_validated_before_publishing() {
        let good = Questionnaire {
            title: "T".into(),
            sections: vec![Section {
                title: "S".into(),
                questions: vec![q(Kind::YesNo { expected: None })],
            }],
        };
        assert!(validate_questionnaire(&good).is_ok());
        let mut twice = good.clone();
        twice.sections[0].questions.push(q(Kind::Date));
        assert!(validate_questionnaire(&twice)
            .unwrap_err()
            .contains("used twice"));
        let mut bad_choice = good.clone();
        bad_choice.sections[0].questions[0].kind = Kind::Choice {
            options: vec!["only".into()],
        };
        assert!(validate_questionnaire(&bad_choice).is_err());
        let json = serde_json::to_string(&good).unwrap_or_default();
        let back: Questionnaire = serde_json::from_str(&json).unwrap_or_else(|_| good.clone());
        assert_eq!(back, good);
    }
}
