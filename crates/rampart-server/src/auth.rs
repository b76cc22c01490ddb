//! API tokens, roles and the permission check every handler goes through.
//!
//! Tokens are random 32-byte secrets shown once; only their SHA-256 is kept (in the config
//! file or the data directory). A request presents `Authorization: Bearer <token>`; the
//! middleware resolves it to a [`Principal`] or answers 401. Handlers then call
//! [`Principal::require`] with the [`Permission`] their action needs.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// The roles a SOC has. Each maps to a fixed set of permissions (see [`Role::allows`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including token and retention administration.
    Admin,
    /// Runs the platform: configuration, rules, retention; reads everything.
    SocEngineer,
    /// Manages the team: reads everything, reviews metrics and the audit trail.
    SocManager,
    /// Leads incident response: reads and acts on events and cases.
    IncidentResponder,
    /// Tier 1-3 analysts and threat hunters: search and investigate.
    Analyst,
    /// Read-only dashboards (for example a CISO).
    Viewer,
}

/// An action a request wants to perform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Search and read stored events.
    EventsRead,
    /// Read health, metrics and status.
    StatusRead,
    /// Read the audit trail.
    AuditRead,
    /// Run retention, change storage settings.
    StorageAdmin,
    /// List detections and read the detection rules and their diagnostics.
    DetectionsRead,
    /// Enable, disable and reload detection rules.
    RulesAdmin,
    /// List and read alerts, alert groups, suppressions, risk scores and rule noise.
    AlertsRead,
    /// Acknowledge, assign, change the status of and close alerts.
    AlertsTriage,
    /// Create and revoke suppressions.
    SuppressionsAdmin,
    /// Change the fatigue controls' settings (dedup, grouping, risk, …) on a running server.
    TriageSettingsAdmin,
    /// List threat-intel indicators, feeds, the allow-list, sightings and intel status.
    IntelRead,
    /// Import indicators, add, remove and poll feeds, change the intel allow-list.
    IntelAdmin,
}

impl Permission {
    /// What a permission changes when every tenant shares it (then a token bound to one
    /// tenant may not use it), or `None` for a permission scoped by tenant.
    pub fn shared_by_every_tenant(self) -> Option<&'static str> {
        match self {
            Permission::StorageAdmin => Some("retention"),
            Permission::RulesAdmin => Some("the detection rules"),
            Permission::TriageSettingsAdmin => Some("the triage settings"),
            Permission::IntelAdmin => Some("the threat-intel indicators, feeds and allow-list"),
            _ => None,
        }
    }
}

impl Role {
    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        if matches!(
            permission,
            AlertsRead | AlertsTriage | SuppressionsAdmin | TriageSettingsAdmin
        ) {
            return self.allows_triage(permission);
        }
        if permission == IntelRead {
            return true;
        }
        if permission == IntelAdmin {
            return matches!(self, Role::Admin | Role::SocEngineer | Role::SocManager);
        }
        match self {
            Role::Admin => true,
            Role::SocEngineer => matches!(
                permission,
                EventsRead | StatusRead | StorageAdmin | DetectionsRead | RulesAdmin
            ),
            Role::SocManager => {
                matches!(
                    permission,
                    EventsRead | StatusRead | AuditRead | DetectionsRead
                )
            }
            Role::IncidentResponder | Role::Analyst => {
                matches!(permission, EventsRead | StatusRead | DetectionsRead)
            }
            Role::Viewer => matches!(permission, StatusRead | DetectionsRead),
        }
    }

    /// Alert triage: every role reads, responders and above triage, engineers and managers
    /// tune suppressions and the triage settings.
    fn allows_triage(self, permission: Permission) -> bool {
        match permission {
            Permission::AlertsRead => true,
            Permission::AlertsTriage => self != Role::Viewer,
            Permission::SuppressionsAdmin | Permission::TriageSettingsAdmin => {
                matches!(self, Role::Admin | Role::SocEngineer | Role::SocManager)
            }
            _ => false,
        }
    }
}

/// A configured API token: who it is, the role, an optional tenant restriction, and
/// the SHA-256 of the secret (hex).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiTokenConfig {
    pub name: String,
    pub role: Role,
    /// Restrict the token to one tenant; absent = every tenant.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Hex SHA-256 of the token (`rampart token hash` prints it).
    pub sha256: String,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, Serialize)]
pub struct Principal {
    pub name: String,
    pub role: Role,
    pub tenant: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("authentication required")]
    Missing,
    #[error("invalid token")]
    Invalid,
    #[error("role '{role:?}' may not {permission:?}")]
    Forbidden { role: Role, permission: Permission },
    #[error("a token bound to tenant '{tenant}' may not change {what}, which every tenant shares")]
    TenantBound { tenant: String, what: &'static str },
    #[error("token '{name}' has an invalid sha256: {reason}")]
    BadConfig { name: String, reason: String },
}

impl Principal {
    /// The role must allow `permission`; a permission over what every tenant shares also
    /// needs a token bound to no tenant.
    pub fn require(&self, permission: Permission) -> Result<(), AuthError> {
        if !self.role.allows(permission) {
            return Err(AuthError::Forbidden {
                role: self.role,
                permission,
            });
        }
        match (&self.tenant, permission.shared_by_every_tenant()) {
            (Some(tenant), Some(what)) => Err(AuthError::TenantBound {
                tenant: tenant.clone(),
                what,
            }),
            _ => Ok(()),
        }
    }

    /// The tenant a request may see: the token's own, or the requested one when the
    /// token is not restricted (`None` = all tenants).
    pub fn tenant_scope(&self, requested: Option<String>) -> Result<Option<String>, AuthError> {
        match (&self.tenant, requested) {
            (Some(own), Some(req)) if *own != req => Err(AuthError::Forbidden {
                role: self.role,
                permission: Permission::EventsRead,
            }),
            (Some(own), _) => Ok(Some(own.clone())),
            (None, req) => Ok(req),
        }
    }
}

/// Token lookup by digest.
#[derive(Debug, Default)]
pub struct Authenticator {
    by_digest: HashMap<[u8; 32], Principal>,
}

impl Authenticator {
    pub fn new(tokens: &[ApiTokenConfig]) -> Result<Self, AuthError> {
        let mut by_digest = HashMap::new();
        for token in tokens {
            let bytes = hex::decode(token.sha256.trim()).map_err(|e| AuthError::BadConfig {
                name: token.name.clone(),
                reason: e.to_string(),
            })?;
            let digest: [u8; 32] = bytes.try_into().map_err(|_| AuthError::BadConfig {
                name: token.name.clone(),
                reason: "expected 64 hex digits".into(),
            })?;
            by_digest.insert(
                digest,
                Principal {
                    name: token.name.clone(),
                    role: token.role,
                    tenant: token.tenant.clone(),
                },
            );
        }
        Ok(Authenticator { by_digest })
    }

    /// Resolve a presented secret. The map is keyed by SHA-256, so lookup time does not
    /// depend on how many leading bytes of a secret are right.
    pub fn authenticate(&self, secret: &str) -> Result<Principal, AuthError> {
        let digest = sha256(secret.trim());
        self.by_digest
            .get(&digest)
            .cloned()
            .ok_or(AuthError::Invalid)
    }

    pub fn len(&self) -> usize {
        self.by_digest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }
}

pub fn sha256(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

pub fn sha256_hex(secret: &str) -> String {
    hex::encode(sha256(secret))
}

/// A fresh random token, `rmp_` followed by 64 hex digits.
pub fn generate_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("rmp_{}", hex::encode(bytes)))
}

/// Extract the secret from `Authorization: Bearer …`.
pub fn bearer(header: Option<&str>) -> Option<&str> {
    let value = header?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth_with(role: Role, tenant: Option<&str>) -> (Authenticator, String) {
        let secret = generate_token().expect("os randomness");
        let cfg = ApiTokenConfig {
            name: "t".into(),
            role,
            tenant: tenant.map(str::to_owned),
            sha256: sha256_hex(&secret),
        };
        (Authenticator::new(&[cfg]).expect("valid config"), secret)
    }

    #[test]
    fn token_resolves_only_with_the_exact_secret() {
        let (auth, secret) = auth_with(Role::Analyst, None);
        assert_eq!(
            auth.authenticate(&secret).expect("valid").role,
            Role::Analyst
        );
        assert!(matches!(
            auth.authenticate(&format!("{secret}x")),
            Err(AuthError::Invalid)
        ));
        assert!(matches!(auth.authenticate(""), Err(AuthError::Invalid)));
    }

    #[test]
    fn roles_grant_what_the_table_says() {
        let cases = [
            (Role::Admin, Permission::AuditRead, true),
            (Role::Analyst, Permission::EventsRead, true),
            (Role::Analyst, Permission::AuditRead, false),
            (Role::Analyst, Permission::StorageAdmin, false),
            (Role::Viewer, Permission::EventsRead, false),
            (Role::SocManager, Permission::AuditRead, true),
            (Role::SocEngineer, Permission::StorageAdmin, true),
            (Role::Viewer, Permission::DetectionsRead, true),
            (Role::Analyst, Permission::DetectionsRead, true),
            (Role::Viewer, Permission::RulesAdmin, false),
            (Role::Analyst, Permission::RulesAdmin, false),
            (Role::SocManager, Permission::RulesAdmin, false),
            (Role::SocEngineer, Permission::RulesAdmin, true),
            (Role::Admin, Permission::RulesAdmin, true),
            (Role::Viewer, Permission::IntelRead, true),
            (Role::Analyst, Permission::IntelRead, true),
            (Role::Viewer, Permission::IntelAdmin, false),
            (Role::Analyst, Permission::IntelAdmin, false),
            (Role::IncidentResponder, Permission::IntelAdmin, false),
            (Role::SocManager, Permission::IntelAdmin, true),
            (Role::SocEngineer, Permission::IntelAdmin, true),
            (Role::Admin, Permission::IntelAdmin, true),
        ];
        for (role, perm, expected) in cases {
            assert_eq!(role.allows(perm), expected, "{role:?} {perm:?}");
        }
    }

    #[test]
    fn tenant_restricted_token_cannot_widen_scope() {
        let (auth, secret) = auth_with(Role::Analyst, Some("acme"));
        let p = auth.authenticate(&secret).expect("valid");
        assert_eq!(p.tenant_scope(None).expect("own"), Some("acme".into()));
        assert!(p.tenant_scope(Some("other".into())).is_err());
    }

    #[test]
    fn changes_shared_by_every_tenant_need_a_token_bound_to_none() {
        let principal = |role, tenant: Option<&str>| Principal {
            name: "p".into(),
            role,
            tenant: tenant.map(str::to_owned),
        };
        assert!(
            principal(Role::SocEngineer, None)
                .require(Permission::RulesAdmin)
                .is_ok()
        );
        let err = principal(Role::SocEngineer, Some("acme"))
            .require(Permission::RulesAdmin)
            .expect_err("tenant-bound");
        assert!(
            matches!(err, AuthError::TenantBound { .. }) && err.to_string().contains("acme"),
            "{err}"
        );
        assert!(matches!(
            principal(Role::Viewer, None).require(Permission::RulesAdmin),
            Err(AuthError::Forbidden { .. })
        ));
    }

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(bearer(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(Some("Basic abc")), None);
        assert_eq!(bearer(None), None);
    }

    #[test]
    fn bad_digest_in_config_is_reported() {
        let cfg = ApiTokenConfig {
            name: "broken".into(),
            role: Role::Admin,
            tenant: None,
            sha256: "zz".into(),
        };
        let err = Authenticator::new(&[cfg]).expect_err("invalid hex");
        assert!(err.to_string().contains("broken"));
    }
}
