//! Tiered onboarding and due diligence: the catalogue (scopes, tiers, versioned
//! questionnaires), the partner's wizard (task list, steps saved as drafts, evidence,
//! submission into frozen dossier rounds), and the reviewer's queue and decisions.

pub mod catalogue;
#[cfg(feature = "ssr")]
pub mod demo;
pub mod evidence;
pub mod handlers;
pub mod model;
pub mod pages;
pub mod review;
pub mod service;
