//! The one place that decides who may do what: role × action, plus the second-factor
//! rules. Resource scoping (a partner only ever sees its own organisation) is done
//! by the service functions, which take the caller's organisation id and put it in
//! every query, so another organisation's id finds nothing (404).

use serde::{Deserialize, Serialize};

/// A person's role: two partner roles (their organisation's admin and developers) and
/// three bank staff roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    PartnerAdmin,
    PartnerDeveloper,
    Reviewer,
    Approver,
    Admin,
}

impl Role {
    pub const PARTNER: [Role; 2] = [Role::PartnerAdmin, Role::PartnerDeveloper];
    pub const STAFF: [Role; 3] = [Role::Reviewer, Role::Approver, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PartnerAdmin => "partner_admin",
            Self::PartnerDeveloper => "partner_developer",
            Self::Reviewer => "reviewer",
            Self::Approver => "approver",
            Self::Admin => "admin",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::PartnerAdmin,
            Self::PartnerDeveloper,
            Self::Reviewer,
            Self::Approver,
            Self::Admin,
        ]
        .into_iter()
        .find(|r| r.as_str() == value)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::PartnerAdmin => "Partner admin",
            Self::PartnerDeveloper => "Partner developer",
            Self::Reviewer => "Reviewer",
            Self::Approver => "Approver",
            Self::Admin => "Bank admin",
        }
    }

    pub fn is_staff(self) -> bool {
        Self::STAFF.contains(&self)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// See the signed-in home page.
    ViewDashboard,
    /// Manage one's own password, second factor and sessions.
    ManageOwnAccount,
    /// See the organisation's members.
    ViewMembers,
    /// Invite, change the role of and remove members of one's organisation.
    ManageMembers,
    /// Create sandbox apps, manage their credentials, consents and request logs.
    UseSandbox,
    /// See the organisation's onboarding applications.
    ViewOnboarding,
    /// Fill in, upload evidence for and submit an onboarding application.
    ManageOnboarding,
    /// Edit the catalogue: scopes, tiers and questionnaires.
    ManageCatalogue,
    /// Ask for production access (a later issue); needs a second factor.
    RequestProductionAccess,
    /// Work the review queue.
    Review,
    /// Second pair of eyes on high-risk requests.
    Approve,
    /// Read the risk policy, its tests and versions (everyone at the bank).
    ViewPolicy,
    /// Replace the risk policy.
    ManagePolicy,
    /// Create and disable users, staff included.
    ManageUsers,
    /// Browse and export the audit trail.
    ViewAuditTrail,
    /// The bank's consumer inventory and exception register.
    ViewInventory,
    /// The organisation's own inventory.
    ViewOwnInventory,
    /// Rotate, revoke and retire production credentials; name owners; ask for exceptions.
    ManageCredentials,
    /// The kill switch.
    Suspend,
    /// Grant or refuse exceptions.
    DecideException,
    /// End a partner relationship (offboard an organisation).
    Offboard,
    /// See offboardings and download evidence packs.
    ViewEvidencePacks,
    /// Ask the bank to close one's organisation.
    CloseOrganisation,
    /// Start access-review campaigns and set their cadence.
    ManageReviews,
    /// Usage analytics of every partner and the alert register.
    ViewOversight,
    /// Acknowledge and resolve alerts.
    HandleAlerts,
    /// Change the anomaly rules' thresholds and the escalation settings.
    ManageAlertRules,
    /// Register the organisation's webhook endpoints and see their deliveries.
    ManageWebhooks,
    /// Read the agreements (partners: their own obligations; staff: every version and
    /// who accepted it).
    ViewAgreements,
    /// Publish agreement versions.
    ManageAgreements,
    /// Accept an agreement for the organisation (its authorised signatory); needs a
    /// second factor.
    AcceptAgreements,
    /// See a relationship's service levels (partners: their own organisation's;
    /// staff: every partner's) and acknowledge the organisation's incidents.
    ViewRelationship,
    /// Set the service-level commitments per tier.
    ManageSlas,
    /// Set the countries a client may call from, and whether others are refused.
    ManageResidency,
    /// Connect the organisation's own identity provider (issue 28); needs a second
    /// factor: it decides who can sign in as the organisation's members.
    ManageOrgSso,
    /// Download software statements for the organisation's production software
    /// (issue 29); needs a second factor: a statement vouches for the software.
    ManageSoftware,
    /// Withdraw a partner's software from the directory (bank admin).
    WithdrawSoftware,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Denied {
    Role,
    SecondFactorRequired,
}

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Role => f.write_str("Your role does not allow this."),
            Self::SecondFactorRequired => {
                f.write_str("Set up two-step verification on the Account security page first.")
            }
        }
    }
}

pub fn role_allows(role: Role, action: Action) -> bool {
    use Action::*;
    use Role::*;
    match action {
        ViewDashboard | ManageOwnAccount => true,
        ViewMembers | UseSandbox | ViewOnboarding => {
            matches!(role, PartnerAdmin | PartnerDeveloper)
        }
        ManageMembers
        | ManageOrgSso
        | ManageSoftware
        | RequestProductionAccess
        | ManageOnboarding
        | ManageCredentials
        | ManageWebhooks
        | AcceptAgreements
        | CloseOrganisation => role == PartnerAdmin,
        ViewAgreements | ViewRelationship => true,
        ViewOwnInventory => matches!(role, PartnerAdmin | PartnerDeveloper),
        ViewInventory => matches!(role, Reviewer | Approver | Admin),
        Suspend | Offboard | ManageReviews | ManageAlertRules | WithdrawSoftware => role == Admin,
        ViewOversight | HandleAlerts => role.is_staff(),
        ViewEvidencePacks => role.is_staff(),
        DecideException => role == Approver,
        Review => matches!(role, Reviewer | Approver),
        Approve => role == Approver,
        ViewPolicy => matches!(role, Reviewer | Approver | Admin),
        ManageUsers | ViewAuditTrail | ManageCatalogue | ManagePolicy | ManageAgreements
        | ManageSlas | ManageResidency => role == Admin,
    }
}

/// Actions that need an enrolled second factor (NIST SP 800-63B AAL2): requesting
/// production access, and everything bank staff do.
pub fn needs_mfa(role: Role, action: Action) -> bool {
    matches!(
        action,
        Action::RequestProductionAccess
            | Action::ManageCredentials
            | Action::CloseOrganisation
            | Action::AcceptAgreements
            | Action::ManageOrgSso
            | Action::ManageSoftware
    ) || (role.is_staff() && !allowed_without_mfa(action))
}

pub fn check(role: Role, mfa_enabled: bool, action: Action) -> Result<(), Denied> {
    if !role_allows(role, action) {
        return Err(Denied::Role);
    }
    if needs_mfa(role, action) && !mfa_enabled {
        return Err(Denied::SecondFactorRequired);
    }
    Ok(())
}

/// What a signed-in user may do before verifying their e-mail address.
pub fn allowed_unverified(action: Action) -> bool {
    action == Action::ManageOwnAccount
}

/// What bank staff may do before enrolling their second factor: only enrol it.
pub fn allowed_without_mfa(action: Action) -> bool {
    action == Action::ManageOwnAccount
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partner_roles_stay_on_the_partner_side() {
        assert!(role_allows(Role::PartnerAdmin, Action::ManageMembers));
        assert!(!role_allows(Role::PartnerDeveloper, Action::ManageMembers));
        assert!(role_allows(Role::PartnerDeveloper, Action::ViewMembers));
        for action in [
            Action::Review,
            Action::Approve,
            Action::ManageUsers,
            Action::ViewAuditTrail,
        ] {
            assert!(!role_allows(Role::PartnerAdmin, action), "{action:?}");
            assert!(!role_allows(Role::PartnerDeveloper, action), "{action:?}");
        }
    }

    #[test]
    fn staff_roles_are_separated() {
        assert!(role_allows(Role::Reviewer, Action::Review));
        assert!(!role_allows(Role::Reviewer, Action::Approve));
        assert!(role_allows(Role::Approver, Action::Approve));
        assert!(!role_allows(Role::Reviewer, Action::ViewAuditTrail));
        assert!(role_allows(Role::Admin, Action::ViewAuditTrail));
        assert!(!role_allows(Role::Admin, Action::ViewMembers));
    }

    #[test]
    fn production_access_and_staff_work_need_a_second_factor() {
        assert_eq!(
            check(Role::PartnerAdmin, false, Action::RequestProductionAccess),
            Err(Denied::SecondFactorRequired)
        );
        assert_eq!(
            check(Role::PartnerAdmin, true, Action::RequestProductionAccess),
            Ok(())
        );
        assert_eq!(
            check(Role::PartnerAdmin, false, Action::ManageMembers),
            Ok(())
        );
        assert_eq!(
            check(Role::Reviewer, false, Action::Review),
            Err(Denied::SecondFactorRequired)
        );
        assert_eq!(
            check(Role::Reviewer, false, Action::ManageOwnAccount),
            Ok(())
        );
    }
}
