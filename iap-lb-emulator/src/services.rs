//! The mutable state of the project's services: Cloud Run ingress and invoker IAM, and who holds
//! `roles/iap.httpsResourceAccessor` on each backend service.
//!
//! Initialised from the topology; scenarios change it at run time through the admin routes
//! (`/_emulator/services/NAME/...`) or [`crate::RunningEmulator`] ("Given coffee-service has
//! ingress all"), and every change is logged. The lock is a `std::sync::RwLock` never held
//! across an `.await`; readers share a snapshot (an `Arc`, so a request copies no member list)
//! and writers replace it (`Arc::make_mut`), so a reader keeps what it read.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use blueprint::{Ingress, InvokerIamCheck, Member, Topology};

/// What the front end checks for one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceState {
    pub ingress: Ingress,
    /// Members holding `roles/run.invoker` on the service (item 45).
    pub invokers: Vec<Member>,
    /// Whether the invoker check runs at all (`invokerIamDisabled`, items 39, 45).
    pub invoker_iam: InvokerIamCheck,
    /// Members holding `roles/iap.httpsResourceAccessor` on its backend service, project-level
    /// bindings included (items 17, 28).
    pub iap_accessors: Vec<Member>,
    /// Extra time the service takes before it answers (fault injection; zero by default).
    pub delay: std::time::Duration,
}

/// Every service's current state, by name.
#[derive(Debug)]
pub struct Services {
    by_name: RwLock<BTreeMap<String, Arc<ServiceState>>>,
}

impl Services {
    pub fn from_topology(topology: &Topology) -> Self {
        let by_name = topology
            .services()
            .iter()
            .map(|s| {
                (
                    s.name().as_str().to_string(),
                    Arc::new(ServiceState {
                        ingress: s.ingress(),
                        invokers: s.invokers().to_vec(),
                        invoker_iam: s.invoker_iam(),
                        iap_accessors: topology.iap_accessors(s).into_iter().cloned().collect(),
                        delay: std::time::Duration::ZERO,
                    }),
                )
            })
            .collect();
        Self {
            by_name: RwLock::new(by_name),
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<ServiceState>>> {
        match self.by_name.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// `name`'s current state, shared: later changes do not alter it.
    pub fn get(&self, name: &str) -> Option<Arc<ServiceState>> {
        let map = match self.by_name.read() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.get(name).cloned()
    }

    /// Sets `name`'s ingress; `false` when there is no such service.
    pub fn set_ingress(&self, name: &str, ingress: Ingress) -> bool {
        let changed = self
            .write()
            .get_mut(name)
            .map(|s| Arc::make_mut(s).ingress = ingress)
            .is_some();
        if changed {
            tracing::info!(service = name, ingress = %ingress, "mutation: ingress changed");
        }
        changed
    }

    /// Turns `name`'s invoker check on or off (`invokerIamDisabled`); `false` when there is no
    /// such service. Turning it off is logged as a warning: it is a relaxation.
    pub fn set_invoker_iam(&self, name: &str, check: InvokerIamCheck) -> bool {
        let changed = self
            .write()
            .get_mut(name)
            .map(|s| Arc::make_mut(s).invoker_iam = check)
            .is_some();
        if changed {
            match check {
                InvokerIamCheck::Disabled => tracing::warn!(
                    service = name,
                    "mutation: invoker IAM check disabled (invokerIamDisabled: true); ingress still applies"
                ),
                InvokerIamCheck::Enabled => {
                    tracing::info!(service = name, "mutation: invoker IAM check enabled")
                }
            }
        }
        changed
    }

    /// Makes `name` take `delay` longer to answer; `false` when there is no such service.
    pub fn set_delay(&self, name: &str, delay: std::time::Duration) -> bool {
        let changed = self
            .write()
            .get_mut(name)
            .map(|s| Arc::make_mut(s).delay = delay)
            .is_some();
        if changed {
            tracing::info!(
                service = name,
                delay_ms = delay.as_millis() as u64,
                "mutation: service delay set"
            );
        }
        changed
    }

    /// Grants `roles/run.invoker` to `member`; `false` when there is no such service.
    pub fn add_invoker(&self, name: &str, member: Member) -> bool {
        let mut map = self.write();
        let Some(state) = map.get_mut(name).map(Arc::make_mut) else {
            return false;
        };
        if !state.invokers.contains(&member) {
            tracing::info!(service = name, member = %member, "mutation: invoker added");
            state.invokers.push(member);
        }
        true
    }

    /// Grants `roles/iap.httpsResourceAccessor` on `name`'s backend service to `member`; `false`
    /// when there is no such service.
    pub fn add_iap_accessor(&self, name: &str, member: Member) -> bool {
        let mut map = self.write();
        let Some(state) = map.get_mut(name).map(Arc::make_mut) else {
            return false;
        };
        if !state.iap_accessors.contains(&member) {
            tracing::info!(service = name, member = %member, "mutation: IAP accessor added");
            state.iap_accessors.push(member);
        }
        true
    }

    /// Revokes `roles/iap.httpsResourceAccessor` on `name`'s backend service from `member`
    /// (wherever the topology granted it); `false` when there is no such service.
    pub fn remove_iap_accessor(&self, name: &str, member: &Member) -> bool {
        let mut map = self.write();
        let Some(state) = map.get_mut(name).map(Arc::make_mut) else {
            return false;
        };
        state.iap_accessors.retain(|m| m != member);
        tracing::info!(service = name, member = %member, "mutation: IAP accessor removed");
        true
    }

    /// Revokes `roles/run.invoker` from `member`; `false` when there is no such service.
    pub fn remove_invoker(&self, name: &str, member: &Member) -> bool {
        let mut map = self.write();
        let Some(state) = map.get_mut(name).map(Arc::make_mut) else {
            return false;
        };
        state.invokers.retain(|m| m != member);
        tracing::info!(service = name, member = %member, "mutation: invoker removed");
        true
    }
}

/// Whether an authenticated principal is a person or a service account: IAM members name one
/// kind (`user:` / `serviceAccount:`), and a person must never match a service account's binding
/// because the two happen to share an email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    User,
    ServiceAccount,
}

impl PrincipalKind {
    /// Service accounts are the project's accounts and any `*.gserviceaccount.com` email.
    pub fn of(email: &str, accounts: &crate::service_accounts::ServiceAccounts) -> Self {
        const DOMAIN: &[u8] = b".gserviceaccount.com";
        // The domain first: it needs no lookup and covers every Google-made account.
        let bytes = email.as_bytes();
        let google_domain = bytes.len() >= DOMAIN.len()
            && bytes[bytes.len() - DOMAIN.len()..].eq_ignore_ascii_case(DOMAIN);
        if google_domain || accounts.resolve(email).is_some() {
            Self::ServiceAccount
        } else {
            Self::User
        }
    }
}

/// Whether IAM `member` covers an authenticated principal (`email` of `kind`). `allUsers` and
/// `allAuthenticatedUsers` cover everyone who got this far; `domain:` covers the domain's people;
/// group membership is not modelled, so no `group:` ever matches.
pub fn covers(member: &Member, email: &str, kind: PrincipalKind) -> bool {
    match member {
        Member::AllUsers | Member::AllAuthenticatedUsers => true,
        Member::ServiceAccount(sa) => {
            kind == PrincipalKind::ServiceAccount && sa.as_str().eq_ignore_ascii_case(email)
        }
        Member::User(user) => kind == PrincipalKind::User && user.eq_ignore_ascii_case(email),
        Member::Domain(domain) => {
            kind == PrincipalKind::User
                && email
                    .rsplit_once('@')
                    .is_some_and(|(_, d)| d.eq_ignore_ascii_case(domain.as_str()))
        }
        Member::Group(_) => false,
    }
}
