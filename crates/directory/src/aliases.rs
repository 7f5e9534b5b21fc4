//! Resolution of a local recipient (docs/reference.md §3 step 2): users, `[aliases]`,
//! plus-addressing and the always-present `postmaster`.
//!
//! Rules, in order:
//! - names are case-insensitive;
//! - in domain `example.com`, a user named by that full address
//!   (`alice@example.com`, a mailbox of that domain only) comes first; then
//!   the aliases and the bare user names, which hold in every local domain;
//! - a name that is an alias expands (an alias wins over a user of the same
//!   name, as in Postfix); otherwise a user name is that user's mailbox;
//! - `alice+tag` means `alice` when `alice+tag` itself is neither a user nor
//!   an alias (the part before the first `+`);
//! - alias targets are local names (resolved by these same rules) or full
//!   addresses `bob@remote.example`, which become remote targets;
//! - expansion is recursive with loop detection and at most
//!   [`MAX_ALIAS_DEPTH`] nested aliases; an alias reaching itself again
//!   delivers to the user of that name if there is one (`alice = ["alice",
//!   "alice@elsewhere.example"]` keeps a copy), else that branch is dropped;
//!   a local target that names no user or alias is [`Target::Missing`]: the
//!   caller bounces it with 5.1.1 (an admin's typo must not lose mail
//!   silently), and [`dangling_targets`] warns of it at edit and load time;
//!   results are deduplicated;
//! - RFC 5321 §4.5.1: `postmaster` always resolves: its alias if set (and it
//!   yields something), else the local Maildir `postmaster`.
//!
//! A full-address target is always [`Target::Remote`], even when its domain
//! is one of ours: this module does not know `local_domains`, the caller
//! routes it.

use std::collections::{BTreeMap, BTreeSet};

use crate::users::UserDb;

/// The most aliases expanded inside one another.
pub const MAX_ALIAS_DEPTH: usize = 10;

/// RFC 5321 §4.5.1: the mailbox every SMTP server must accept.
pub const POSTMASTER: &str = "postmaster";

/// Where a recipient's mail goes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// The Maildir of this local name (a user, or `postmaster`).
    Mailbox(String),
    /// A full address to relay to (domain lower-cased, local part as written).
    Remote(String),
    /// A local target naming no user or alias (lower-cased): bounced with
    /// 5.1.1 by the caller, while the other targets get the message.
    Missing(String),
}

impl Target {
    /// True for a target that receives the message (not [`Target::Missing`]).
    pub fn receives(&self) -> bool {
        !matches!(self, Target::Missing(_))
    }
}

/// The outcome of [`resolve_local`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocalResolution {
    /// Deliver to these targets (deduplicated, in alias order; at least one
    /// of them [`Target::receives`]).
    Deliver(Vec<Target>),
    /// No such local recipient (`550 5.1.1`).
    Unknown,
}

/// Resolves an (already unquoted) local part against the aliases (keys
/// lower-case, as the config stores them) and the bare user names.
pub fn resolve_local(
    local_part: &str,
    aliases: &BTreeMap<String, Vec<String>>,
    users: &UserDb,
) -> LocalResolution {
    resolve_in_domain(local_part, "", aliases, users)
}

/// Resolves an (already unquoted) local part of a recipient in local
/// domain `domain`: the users of that domain (`local@domain`) first, then
/// the aliases and bare users of every domain; alias targets given as bare
/// names are resolved in the same domain. An empty `domain` (the bare
/// `postmaster`, an address literal) has no users of its own.
pub fn resolve_in_domain(
    local_part: &str,
    domain: &str,
    aliases: &BTreeMap<String, Vec<String>>,
    users: &UserDb,
) -> LocalResolution {
    let domain = domain.to_ascii_lowercase();
    let resolver = Resolver {
        aliases,
        users,
        domain: &domain,
    };
    let Some(name) = resolver.lookup_name(local_part) else {
        return LocalResolution::Unknown;
    };
    let mut expansion = Expansion::default();
    resolver.expand(&name, 0, &mut Vec::new(), &mut expansion);
    let receives = expansion.targets.iter().any(Target::receives);
    if !receives && name == POSTMASTER {
        // RFC 5321 §4.5.1: postmaster must always be deliverable, even when
        // its alias leads nowhere.
        return LocalResolution::Deliver(vec![Target::Mailbox(POSTMASTER.to_string())]);
    }
    if !receives {
        // Nothing would get it: refused at RCPT (550 5.1.1), not bounced later.
        LocalResolution::Unknown
    } else {
        LocalResolution::Deliver(expansion.targets)
    }
}

struct Resolver<'a> {
    aliases: &'a BTreeMap<String, Vec<String>>,
    users: &'a UserDb,
    /// The recipient's domain, lower-case (empty: none).
    domain: &'a str,
}

#[derive(Default)]
struct Expansion {
    targets: Vec<Target>,
    seen: BTreeSet<Target>,
}

impl Expansion {
    fn push(&mut self, target: Target) {
        if self.seen.insert(target.clone()) {
            self.targets.push(target);
        }
    }
}

impl Resolver<'_> {
    /// The key `name` stands for in the recipient's domain: the user
    /// `name@domain`, else the alias or bare user `name` (or postmaster).
    fn known(&self, name: &str) -> Option<String> {
        if !self.domain.is_empty() {
            let address = format!("{name}@{}", self.domain);
            if self.users.contains(&address) {
                return Some(address);
            }
        }
        let bare =
            self.aliases.contains_key(name) || self.users.contains(name) || name == POSTMASTER;
        bare.then(|| name.to_string())
    }

    /// The key a local part stands for: itself if known, else the part
    /// before the first '+' if that is known.
    fn lookup_name(&self, local_part: &str) -> Option<String> {
        let name = local_part.to_lowercase();
        if name.is_empty() || name.contains('@') {
            return None;
        }
        if let Some(key) = self.known(&name) {
            return Some(key);
        }
        let (base, _tag) = name.split_once('+')?;
        if base.is_empty() {
            return None;
        }
        self.known(base)
    }

    /// Expands a known name. `stack` holds the aliases being expanded
    /// around this one, to detect loops.
    fn expand(&self, name: &str, depth: usize, stack: &mut Vec<String>, out: &mut Expansion) {
        let Some(targets) = self.aliases.get(name) else {
            // Not an alias: a user, or postmaster's own Maildir.
            out.push(Target::Mailbox(name.to_string()));
            return;
        };
        if depth >= MAX_ALIAS_DEPTH {
            tracing::warn!(
                alias = name,
                "alias nesting deeper than {MAX_ALIAS_DEPTH}: branch dropped"
            );
            return;
        }
        stack.push(name.to_string());
        for target in targets {
            let target = target.trim();
            if let Some((local, domain)) = target.rsplit_once('@') {
                if !local.is_empty() && !domain.is_empty() {
                    out.push(Target::Remote(format!(
                        "{local}@{}",
                        domain.to_ascii_lowercase()
                    )));
                } else {
                    tracing::warn!(
                        alias = name,
                        target,
                        "alias target is not an address: dropped"
                    );
                }
                continue;
            }
            let Some(next) = self.lookup_name(target) else {
                tracing::warn!(
                    alias = name,
                    target,
                    "alias target is no local user or alias: bounced (5.1.1)"
                );
                if !target.is_empty() {
                    out.push(Target::Missing(target.to_lowercase()));
                }
                continue;
            };
            if stack.contains(&next) {
                // A loop back to an alias being expanded: deliver to the user
                // of that name if there is one (the "keep a copy" idiom),
                // never expand again.
                if self.users.contains(&next) {
                    out.push(Target::Mailbox(next));
                } else {
                    tracing::warn!(alias = name, target, "alias loop: branch dropped");
                }
                continue;
            }
            self.expand(&next, depth + 1, stack, out);
        }
        stack.pop();
    }
}

/// Where the targets of one local recipient go.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Routes {
    /// Local names whose Maildir gets the message.
    pub mailboxes: Vec<String>,
    /// Addresses for the queue: forwarding targets, and missing local
    /// names as `name@domain`, queued so that the runner's local delivery
    /// bounces them (5.1.1) through the crash-safe DSN path.
    pub queued: Vec<String>,
}

/// Splits `targets` of a recipient in `domain` into Maildirs and queue
/// addresses: the one place alias routing is decided, for mail arriving
/// (the session's store) and mail leaving the queue (local delivery).
pub fn route(targets: Vec<Target>, domain: &str) -> Routes {
    let mut routes = Routes::default();
    for target in targets {
        match target {
            Target::Mailbox(user) => routes.mailboxes.push(user),
            Target::Remote(addr) => routes.queued.push(addr),
            Target::Missing(name) => routes.queued.push(format!("{name}@{domain}")),
        }
    }
    routes
}

/// One sentence per alias target that leads nowhere: a local name that is
/// no user and no alias, or an address in one of `local_domains` whose
/// local part is none either. For `config` edits, `config check` and
/// reload: the typo is found before mail to it bounces.
pub fn dangling_targets(
    aliases: &BTreeMap<String, Vec<String>>,
    users: &UserDb,
    local_domains: &[String],
) -> Vec<String> {
    let in_domain = |domain: &str, local: &str| {
        let domain = domain.to_ascii_lowercase();
        let resolver = Resolver {
            aliases,
            users,
            domain: &domain,
        };
        resolver.lookup_name(local).is_some()
    };
    let mut out = Vec::new();
    for (alias, targets) in aliases {
        for target in targets {
            let target = target.trim();
            let found = match target.rsplit_once('@') {
                // A bare name: found if some local domain resolves it.
                None => in_domain("", target) || local_domains.iter().any(|d| in_domain(d, target)),
                Some((l, d)) if local_domains.iter().any(|ld| ld.eq_ignore_ascii_case(d)) => {
                    in_domain(d, l)
                }
                Some(_) => continue,
            };
            if !found {
                out.push(format!(
                    "aliases.{alias}: target {target:?} is no local user or alias; \
                     mail for it bounces with 5.1.1 (add the user, or fix the alias)"
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
