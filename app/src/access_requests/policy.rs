//! The risk policy: Rego, evaluated in process by `regorus`. Pure: input facts in,
//! decision out. A policy comes with its own test table (JSON); a replacement is
//! accepted only when it compiles, gives a well-formed decision for every case, passes
//! every case and covers all four routes. Every decision records the policy's hash.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub const DEFAULT_POLICY: &str = include_str!("default_policy.rego");
pub const DEFAULT_TESTS: &str = include_str!("default_policy_tests.json");
/// The rule a policy must define.
pub const ENTRYPOINT: &str = "data.gatehouse.access.decision";
const PACKAGE: &str = "data.gatehouse.access";
/// Policies and test tables bigger than this are refused.
pub const MAX_SOURCE_BYTES: usize = 256 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    AutoApprove,
    OneReviewer,
    FourEyes,
    AutoReject,
}

impl Route {
    pub const ALL: [Route; 4] = [
        Route::AutoApprove,
        Route::OneReviewer,
        Route::FourEyes,
        Route::AutoReject,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Route::AutoApprove => "auto_approve",
            Route::OneReviewer => "one_reviewer",
            Route::FourEyes => "four_eyes",
            Route::AutoReject => "auto_reject",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            Route::AutoApprove => "Approved by policy",
            Route::OneReviewer => "One reviewer",
            Route::FourEyes => "Two reviewers (four eyes)",
            Route::AutoReject => "Rejected by policy",
        }
    }
}

/// One factor of the decision: what it is, how much it weighed, what the reviewer
/// reads and what the partner reads ("what would change this outcome").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    pub factor: String,
    pub points: i64,
    pub detail: String,
    pub hint: String,
}

/// What any credential issued must respect.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conditions {
    pub max_lifetime_days: i64,
    pub rate_limit_per_minute: i64,
    /// Tokens must be sender-constrained (DPoP, or mTLS-bound).
    pub sender_constraint: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub score: i64,
    pub band: String,
    pub route: Route,
    /// Risk factors, highest first.
    pub reasons: Vec<Reason>,
    /// Reasons that reject the request outright.
    pub blockers: Vec<Reason>,
    pub conditions: Conditions,
}

/// The reason an automatic approval was held for a reviewer: the tier's production
/// agreements are not accepted (it adds no points; accepting them is the change).
pub const HELD_FOR_AGREEMENTS: &str = "agreements";

impl Decision {
    /// What the partner could change: every blocker, then every factor that added
    /// points or held the request.
    pub fn what_would_change(&self) -> impl Iterator<Item = &Reason> {
        self.blockers.iter().chain(
            self.reasons
                .iter()
                .filter(|r| r.points > 0 || r.factor == HELD_FOR_AGREEMENTS),
        )
    }
}

/// A compiled policy.
pub struct Compiled {
    engine: regorus::Engine,
}

impl Compiled {
    pub fn new(source: &str) -> Result<Self, String> {
        if source.len() > MAX_SOURCE_BYTES {
            return Err(format!(
                "The policy is larger than {} KiB.",
                MAX_SOURCE_BYTES / 1024
            ));
        }
        let mut engine = regorus::Engine::new();
        engine
            .add_policy("policy.rego".into(), source.into())
            .map_err(|e| format!("The policy does not compile: {e}"))?;
        let packages = engine
            .get_packages()
            .map_err(|e| format!("The policy does not compile: {e}"))?;
        if !packages.iter().any(|p| p == PACKAGE) {
            return Err(format!(
                "The policy must be in package gatehouse.access and define decision (it has {}).",
                packages.join(", ")
            ));
        }
        Ok(Self { engine })
    }

    /// Evaluates the policy for one set of input facts.
    pub fn decide(&mut self, input: &Value) -> Result<Decision, String> {
        self.engine.set_input(regorus::Value::from(input.clone()));
        let output = self
            .engine
            .eval_rule(ENTRYPOINT.into())
            .map_err(|e| format!("The policy failed: {e}"))?;
        if output == regorus::Value::Undefined {
            return Err(format!("The policy gives no value for {ENTRYPOINT}."));
        }
        let json = serde_json::to_value(&output)
            .map_err(|e| format!("The policy's decision is not JSON: {e}"))?;
        let mut decision: Decision = serde_json::from_value(json.clone()).map_err(|e| {
            format!("The policy's decision does not have the expected shape ({e}): {json}")
        })?;
        decision
            .reasons
            .sort_by(|a, b| b.points.cmp(&a.points).then(a.factor.cmp(&b.factor)));
        Ok(decision)
    }
}

/// The hash recorded on every decision: the policy's source and its tests.
pub fn hash(source: &str, tests: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(source.as_bytes());
    hasher.update([0u8]);
    hasher.update(tests.as_bytes());
    hex::encode(hasher.finalize())
}

#[derive(Debug, Deserialize)]
struct Table {
    #[serde(default)]
    base: Value,
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    #[serde(default)]
    input: Value,
    expect: Expect,
}

#[derive(Debug, Deserialize)]
struct Expect {
    route: Route,
    #[serde(default)]
    band: Option<String>,
    #[serde(default)]
    reasons: Vec<String>,
}

/// A test case's input: `overrides` merged into `base` (objects key by key).
pub fn merge(base: &Value, overrides: &Value) -> Value {
    match (base, overrides) {
        (Value::Object(b), Value::Object(o)) => {
            let mut out = b.clone();
            for (key, value) in o {
                let merged = match b.get(key) {
                    Some(existing) => merge(existing, value),
                    None => value.clone(),
                };
                out.insert(key.clone(), merged);
            }
            Value::Object(out)
        }
        (_, Value::Null) => base.clone(),
        _ => overrides.clone(),
    }
}

/// The outcome of a policy's own tests: the names that passed, or what failed.
pub fn run_tests(source: &str, tests: &str) -> Result<Vec<String>, Vec<String>> {
    if tests.len() > MAX_SOURCE_BYTES {
        return Err(vec![format!(
            "The test table is larger than {} KiB.",
            MAX_SOURCE_BYTES / 1024
        )]);
    }
    let mut compiled = Compiled::new(source).map_err(|e| vec![e])?;
    let table: Table = serde_json::from_str(tests)
        .map_err(|e| vec![format!("The test table is not valid: {e}")])?;
    let mut passed = Vec::new();
    let mut failures = Vec::new();
    for case in &table.cases {
        let input = merge(&table.base, &case.input);
        match compiled.decide(&input) {
            Err(e) => failures.push(format!("{}: {e}", case.name)),
            Ok(decision) => {
                let mut problems = Vec::new();
                if decision.route != case.expect.route {
                    problems.push(format!(
                        "route {} instead of {}",
                        decision.route.as_str(),
                        case.expect.route.as_str()
                    ));
                }
                if let Some(band) = &case.expect.band {
                    if &decision.band != band {
                        problems.push(format!("band {} instead of {band}", decision.band));
                    }
                }
                for factor in &case.expect.reasons {
                    let found = decision
                        .reasons
                        .iter()
                        .chain(&decision.blockers)
                        .any(|r| &r.factor == factor);
                    if !found {
                        problems.push(format!("no {factor} reason"));
                    }
                }
                if problems.is_empty() {
                    passed.push(case.name.clone());
                } else {
                    failures.push(format!("{}: {}", case.name, problems.join("; ")));
                }
            }
        }
    }
    for route in Route::ALL {
        if !table.cases.iter().any(|c| c.expect.route == route) {
            failures.push(format!(
                "The test table has no case for the route {}.",
                route.as_str()
            ));
        }
    }
    if failures.is_empty() {
        Ok(passed)
    } else {
        Err(failures)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_passes_its_table() {
        let passed = run_tests(DEFAULT_POLICY, DEFAULT_TESTS)
            .unwrap_or_else(|failures| panic!("default policy failures:\n{}", failures.join("\n")));
        assert!(passed.len() >= 10, "{passed:?}");
    }

    #[test]
    fn a_decision_explains_itself_and_sets_conditions() {
        let table: Value = serde_json::from_str(DEFAULT_TESTS).unwrap();
        let input = merge(
            &table["base"],
            &serde_json::json!({
                "request": {"scopes": ["accounts"], "data_classes": ["account_information"], "ip_allowlist": false, "peak_per_second": 1},
                "tier": {"level": 2, "max_credential_days": 180, "rate_limit_per_minute": 300}
            }),
        );
        let decision = Compiled::new(DEFAULT_POLICY)
            .unwrap()
            .decide(&input)
            .unwrap();
        assert_eq!(decision.route, Route::OneReviewer);
        assert_eq!(decision.score, 30);
        assert_eq!(decision.band, "medium");
        assert_eq!(decision.reasons[0].factor, "data_class");
        assert_eq!(decision.reasons[1].factor, "ip_allowlist");
        assert!(decision.blockers.is_empty());
        assert_eq!(
            decision.conditions,
            Conditions {
                max_lifetime_days: 180,
                rate_limit_per_minute: 60,
                sender_constraint: true
            }
        );
    }

    #[test]
    fn a_policy_that_fails_its_own_tests_is_refused() {
        // Everything goes to one reviewer: the table expects other routes.
        let lazy = "package gatehouse.access\n\ndecision := {\"score\": 0, \"band\": \"low\", \"route\": \"one_reviewer\", \"reasons\": [], \"blockers\": [], \"conditions\": {\"max_lifetime_days\": 30, \"rate_limit_per_minute\": 60, \"sender_constraint\": true}}\n";
        let failures = run_tests(lazy, DEFAULT_TESTS).unwrap_err();
        assert!(failures
            .iter()
            .any(|f| f.contains("route one_reviewer instead of auto_approve")));
        // A syntax error, a missing decision, a malformed decision, a table without
        // every route: each refused with a message.
        assert!(
            run_tests("package gatehouse.access\ndecision := {", DEFAULT_TESTS).unwrap_err()[0]
                .contains("does not compile")
        );
        let missing = run_tests("package gatehouse.other\nx := 1\n", DEFAULT_TESTS).unwrap_err();
        assert!(
            missing[0].contains("package gatehouse.access"),
            "{missing:?}"
        );
        assert!(run_tests(
            "package gatehouse.access\ndecision := {\"score\": \"high\"}\n",
            DEFAULT_TESTS
        )
        .unwrap_err()[0]
            .contains("expected shape"));
        let one_case = r#"{"base": {}, "cases": [{"name": "only", "input": {}, "expect": {"route": "one_reviewer"}}]}"#;
        let failures = run_tests(lazy, one_case).unwrap_err();
        assert_eq!(failures.len(), 3, "{failures:?}");
        assert!(run_tests(DEFAULT_POLICY, "not json").unwrap_err()[0].contains("not valid"));
    }

    #[test]
    fn the_hash_covers_policy_and_tests() {
        let a = hash(DEFAULT_POLICY, DEFAULT_TESTS);
        assert_eq!(a.len(), 64);
        assert_ne!(a, hash(DEFAULT_POLICY, "{}"));
        assert_eq!(a, hash(DEFAULT_POLICY, DEFAULT_TESTS));
    }
}
