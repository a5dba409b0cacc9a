# Gatehouse's default risk-routing policy for production access requests.
#
# Input: the facts Gatehouse gathers for a request (README, "Production access"):
#   input.request    scopes, their data classes, client authentication, volume,
#                    IP allow-list, the credential lifetime asked for
#   input.tier       the tier that governs the scopes (maximum lifetime, rate limit)
#   input.dossier    questionnaire risk points, evidence expired or expiring soon,
#                    incidents the partner reported
#   input.history    earlier revocations and rejected requests, open anomaly alerts
#   input.readiness  sandbox calls per scope and the flows completed
#
# Output: data.gatehouse.access.decision, an object with a score, a band, a route
# (auto_approve, one_reviewer, four_eyes or auto_reject), the reasons factor by
# factor (each with points, a detail for reviewers and a hint for the partner), and
# the conditions of any credential issued.
package gatehouse.access

classes := {c | some c in input.request.data_classes}

payment if "payment_initiation" in classes

payment if "account_mutation" in classes

account_information if "account_information" in classes

reference_only if {
	count(classes) > 0
	every c in classes {
		c == "public_reference"
	}
}

client_secret if input.request.auth_method in {"client_secret_basic", "client_secret_post"}

# ---- Risk factors: each adds points to the score. ----

factors contains {
	"factor": "data_class",
	"points": 40,
	"detail": "Payment initiation moves customers' money.",
	"hint": "Payment initiation always needs two reviewers.",
} if payment

factors contains {
	"factor": "data_class",
	"points": 25,
	"detail": "Account information reads customers' financial data.",
	"hint": "Access to customers' account data always needs a reviewer.",
} if {
	account_information
	not payment
}

factors contains {
	"factor": "data_class",
	"points": 0,
	"detail": "Public reference data only.",
	"hint": "Reference data alone is the lowest-risk request.",
} if reference_only

factors contains {
	"factor": "client_auth",
	"points": 10,
	"detail": sprintf("The client authenticates with a shared secret (%s).", [input.request.auth_method]),
	"hint": "Use private_key_jwt or mutual TLS instead of a client secret.",
} if client_secret

factors contains {
	"factor": "volume",
	"points": 10,
	"detail": sprintf("A peak of %d calls per second is above the tier's limit of %d per minute.", [input.request.peak_per_second, input.tier.rate_limit_per_minute]),
	"hint": "Ask for a peak within the tier's rate limit, or explain the volume to the reviewer.",
} if input.request.peak_per_second * 60 > input.tier.rate_limit_per_minute

factors contains {
	"factor": "volume",
	"points": 5,
	"detail": sprintf("%d calls a day expected.", [input.request.calls_per_day]),
	"hint": "High daily volume is looked at by a reviewer.",
} if input.request.calls_per_day > 100000

factors contains {
	"factor": "ip_allowlist",
	"points": 5,
	"detail": "No IP allow-list: tokens can be requested from anywhere.",
	"hint": "Register the IP ranges your servers call from.",
} if not input.request.ip_allowlist

factors contains {
	"factor": "questionnaire",
	"points": input.dossier.risk_points * 2,
	"detail": sprintf("Due-diligence answers below expectations: %s.", [concat(", ", input.dossier.failed_answers)]),
	"hint": "Improve the controls behind these answers and update your due diligence.",
} if input.dossier.risk_points > 0

factors contains {
	"factor": "evidence",
	"points": 10,
	"detail": sprintf("Evidence expiring within 30 days: %s.", [concat(", ", input.dossier.evidence_expiring)]),
	"hint": "Upload renewed evidence before it expires.",
} if count(input.dossier.evidence_expiring) > 0

factors contains {
	"factor": "incidents",
	"points": 10,
	"detail": sprintf("%d security incidents reported to a regulator in the last 12 months.", [input.dossier.incidents]),
	"hint": "Reported incidents are looked at by a reviewer.",
} if input.dossier.incidents > 0

factors contains {
	"factor": "readiness",
	"points": 15,
	"detail": sprintf("No recent successful sandbox calls with an acceptable error rate for: %s.", [concat(", ", not_ready)]),
	"hint": "Call these APIs successfully in the sandbox before asking for production.",
} if count(not_ready) > 0

factors contains {
	"factor": "history",
	"points": 15 * input.history.previous_revocations,
	"detail": sprintf("%d production credentials revoked by the bank before.", [input.history.previous_revocations]),
	"hint": "Earlier revocations are looked at by a reviewer.",
} if input.history.previous_revocations > 0

factors contains {
	"factor": "history",
	"points": 5,
	"detail": sprintf("%d production requests rejected in the last year.", [input.history.rejected_requests]),
	"hint": "Address the reasons given for earlier rejections.",
} if input.history.rejected_requests > 0

factors contains {
	"factor": "alerts",
	"points": 20,
	"detail": sprintf("%d anomaly alerts open on the organisation's API access.", [input.history.open_alerts]),
	"hint": "Open alerts are looked at by a reviewer before production access is granted.",
} if input.history.open_alerts > 0

not_ready contains scope if {
	some scope, facts in input.readiness.scopes
	not facts.ready
}

# ---- Blockers: any one rejects the request outright. ----

blockers contains {
	"factor": "client_auth",
	"points": 0,
	"detail": "Payment scopes with a shared client secret are never allowed.",
	"hint": "Register a private_key_jwt key or an mTLS certificate for payment initiation.",
} if {
	payment
	client_secret
}

blockers contains {
	"factor": "evidence",
	"points": 0,
	"detail": sprintf("Evidence has expired: %s.", [concat(", ", input.dossier.evidence_expired)]),
	"hint": "Upload current evidence and ask again.",
} if count(input.dossier.evidence_expired) > 0

blockers contains {
	"factor": "readiness",
	"points": 0,
	"detail": "No domestic payment with an idempotency key was completed in the sandbox.",
	"hint": "Complete a payment consent and a domestic payment in the sandbox first.",
} if {
	payment
	not input.readiness.flows.payment_with_idempotency_key
}

blockers contains {
	"factor": "history",
	"points": 0,
	"detail": sprintf("%d production credentials revoked by the bank before.", [input.history.previous_revocations]),
	"hint": "Contact the bank's partner team.",
} if input.history.previous_revocations >= 3

# ---- The decision. ----

score := sum([f.points | some f in factors])

band := "high" if score >= 60
else := "medium" if score >= 20
else := "low"

route := "auto_reject" if count(blockers) > 0
else := "four_eyes" if payment
else := "four_eyes" if score >= 60
else := "one_reviewer" if account_information
else := "one_reviewer" if score >= 20
else := "one_reviewer" if count(not_ready) > 0
else := "auto_approve"

default sender_constraint := false

sender_constraint if payment

sender_constraint if account_information

max_lifetime_days := min([input.tier.max_credential_days, 90]) if band == "high"
else := input.tier.max_credential_days

rate_limit_per_minute := min([input.tier.rate_limit_per_minute, max([60, input.request.peak_per_second * 60])])

decision := {
	"score": score,
	"band": band,
	"route": route,
	"reasons": [r | some r in factors],
	"blockers": [r | some r in blockers],
	"conditions": {
		"max_lifetime_days": max_lifetime_days,
		"rate_limit_per_minute": rate_limit_per_minute,
		"sender_constraint": sender_constraint,
	},
}
