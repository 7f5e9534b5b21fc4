//! Resolution of a local recipient (docs/reference.md §3 step 2): users, `[aliases]`,
//! plus-addressing and the always-present `postmaster`.
//!
//! Rules, in order:
//! - names are case-insensitive;
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
/// lower-case, as the config stores them) and the users.
pub fn resolve_local(
    local_part: &str,
    aliases: &BTreeMap<String, Vec<String>>,
    users: &UserDb,
) -> LocalResolution {
    let resolver = Resolver { aliases, users };
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
    fn known(&self, name: &str) -> bool {
        self.aliases.contains_key(name) || self.users.contains(name) || name == POSTMASTER
    }

    /// The name a local part stands for: itself if known, else the part
    /// before the first '+' if that is known.
    fn lookup_name(&self, local_part: &str) -> Option<String> {
        let name = local_part.to_lowercase();
        if name.is_empty() {
            return None;
        }
        if self.known(&name) {
            return Some(name);
        }
        let (base, _tag) = name.split_once('+')?;
        (!base.is_empty() && self.known(base)).then(|| base.to_string())
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
    let resolver = Resolver { aliases, users };
    let mut out = Vec::new();
    for (alias, targets) in aliases {
        for target in targets {
            let target = target.trim();
            let local = match target.rsplit_once('@') {
                None => target,
                Some((l, d)) if local_domains.iter().any(|ld| ld.eq_ignore_ascii_case(d)) => l,
                Some(_) => continue,
            };
            if resolver.lookup_name(local).is_none() {
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
mod tests {
    use super::*;
    use crate::users::Credentials;

    fn users(names: &[&str]) -> UserDb {
        // One real enrolment reused: resolution only looks at names.
        let creds =
            Credentials::derive_with("pw", &crate::users::cheap_argon2_for_tests(), 1).unwrap();
        let mut db = UserDb::new();
        for name in names {
            db.add(name, creds.clone()).unwrap();
        }
        db
    }

    fn aliases(entries: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    fn mailbox(name: &str) -> Target {
        Target::Mailbox(name.to_string())
    }

    fn remote(addr: &str) -> Target {
        Target::Remote(addr.to_string())
    }

    fn missing(name: &str) -> Target {
        Target::Missing(name.to_string())
    }

    fn deliver(targets: Vec<Target>) -> LocalResolution {
        LocalResolution::Deliver(targets)
    }

    #[test]
    fn users_resolve_case_insensitively_and_strangers_are_unknown() {
        let db = users(&["alice"]);
        let none = aliases(&[]);
        assert_eq!(
            resolve_local("alice", &none, &db),
            deliver(vec![mailbox("alice")])
        );
        assert_eq!(
            resolve_local("ALICE", &none, &db),
            deliver(vec![mailbox("alice")])
        );
        assert_eq!(
            resolve_local("mallory", &none, &db),
            LocalResolution::Unknown
        );
        assert_eq!(resolve_local("", &none, &db), LocalResolution::Unknown);
        // docs/reference.md §3: '%' and '!' are just characters of a local name.
        assert_eq!(
            resolve_local("alice%remote.example", &none, &db),
            LocalResolution::Unknown
        );
    }

    #[test]
    fn plus_addressing_falls_back_to_the_part_before_the_first_plus() {
        let db = users(&["alice", "bob"]);
        let map = aliases(&[("team", &["alice"]), ("bob+lists", &["alice"])]);
        assert_eq!(
            resolve_local("alice+news", &map, &db),
            deliver(vec![mailbox("alice")])
        );
        assert_eq!(
            resolve_local("Alice+a+b", &map, &db),
            deliver(vec![mailbox("alice")])
        );
        assert_eq!(
            resolve_local("team+x", &map, &db),
            deliver(vec![mailbox("alice")])
        );
        // The full name wins when it exists itself.
        assert_eq!(
            resolve_local("bob+lists", &map, &db),
            deliver(vec![mailbox("alice")])
        );
        assert_eq!(
            resolve_local("bob+other", &map, &db),
            deliver(vec![mailbox("bob")])
        );
        assert_eq!(resolve_local("+alice", &map, &db), LocalResolution::Unknown);
        assert_eq!(
            resolve_local("carol+x", &map, &db),
            LocalResolution::Unknown
        );
    }

    #[test]
    fn aliases_expand_recursively_to_mailboxes_and_remote_addresses() {
        let db = users(&["alice", "bob"]);
        let map = aliases(&[
            ("sales", &["alice", "team"]),
            ("team", &["bob", "Carol@Remote.EXAMPLE", "alice"]),
        ]);
        assert_eq!(
            resolve_local("Sales", &map, &db),
            deliver(vec![
                mailbox("alice"),
                mailbox("bob"),
                remote("Carol@remote.example")
            ])
        );
    }

    #[test]
    fn an_alias_wins_over_a_user_of_the_same_name() {
        let db = users(&["alice", "bob"]);
        let map = aliases(&[("alice", &["bob"])]);
        assert_eq!(
            resolve_local("alice", &map, &db),
            deliver(vec![mailbox("bob")])
        );
    }

    #[test]
    fn an_alias_to_itself_keeps_a_copy_in_the_users_mailbox() {
        let db = users(&["alice"]);
        let map = aliases(&[("alice", &["alice", "alice@elsewhere.example"])]);
        assert_eq!(
            resolve_local("alice", &map, &db),
            deliver(vec![mailbox("alice"), remote("alice@elsewhere.example")])
        );
    }

    #[test]
    fn loops_between_aliases_terminate() {
        let db = users(&["alice"]);
        let map = aliases(&[
            ("a", &["b", "alice"]),
            ("b", &["a"]),
            ("x", &["y"]),
            ("y", &["x"]),
        ]);
        assert_eq!(
            resolve_local("a", &map, &db),
            deliver(vec![mailbox("alice")])
        );
        assert_eq!(
            resolve_local("b", &map, &db),
            deliver(vec![mailbox("alice")])
        );
        assert_eq!(resolve_local("x", &map, &db), LocalResolution::Unknown);
    }

    #[test]
    fn nesting_is_limited_to_ten_aliases() {
        let db = users(&["alice"]);
        let chain = |len: usize| {
            let mut map = BTreeMap::new();
            for i in 0..len {
                let next = if i + 1 == len {
                    "alice".to_string()
                } else {
                    format!("a{}", i + 1)
                };
                map.insert(format!("a{i}"), vec![next]);
            }
            map
        };
        assert_eq!(
            resolve_local("a0", &chain(10), &db),
            deliver(vec![mailbox("alice")])
        );
        assert_eq!(
            resolve_local("a0", &chain(11), &db),
            LocalResolution::Unknown
        );
    }

    #[test]
    fn targets_are_deduplicated_and_dangling_ones_marked_missing() {
        let db = users(&["alice", "bob"]);
        let map = aliases(&[
            (
                "all",
                &[
                    "alice",
                    "ALICE",
                    "bob",
                    "alice+tag",
                    "ghost",
                    "x@r.example",
                    "x@R.example",
                    "@",
                    "dev",
                ],
            ),
            ("dev", &["bob"]),
            ("nobody", &["ghost"]),
        ]);
        assert_eq!(
            resolve_local("all", &map, &db),
            deliver(vec![
                mailbox("alice"),
                mailbox("bob"),
                missing("ghost"),
                remote("x@r.example")
            ])
        );
        // Nothing receives: refused at RCPT, not accepted and bounced.
        assert_eq!(resolve_local("nobody", &map, &db), LocalResolution::Unknown);
    }

    #[test]
    fn dangling_targets_are_named_at_edit_time() {
        let db = users(&["alice"]);
        let map = aliases(&[
            (
                "sales",
                &["alice", "Ghost", "alice+tag", "team", "bob@remote.example"],
            ),
            (
                "team",
                &["alice@local.test", "nobody@LOCAL.test", "postmaster"],
            ),
        ]);
        let found = dangling_targets(&map, &db, &["local.test".to_string()]);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].starts_with("aliases.sales: target \"Ghost\" is no local user"),
            "{found:?}"
        );
        assert!(
            found[1].starts_with("aliases.team: target \"nobody@LOCAL.test\""),
            "{found:?}"
        );
        assert!(found[0].contains("5.1.1"));
        assert!(dangling_targets(&aliases(&[("a", &["alice"])]), &db, &[]).is_empty());
    }

    #[test]
    fn postmaster_always_resolves() {
        let db = users(&["alice"]);
        // RFC 5321 §4.5.1: no user, no alias: its own Maildir.
        assert_eq!(
            resolve_local("PostMaster", &aliases(&[]), &db),
            deliver(vec![mailbox("postmaster")])
        );
        assert_eq!(
            resolve_local("postmaster+x", &aliases(&[]), &db),
            deliver(vec![mailbox("postmaster")])
        );
        // Aliased: wherever the alias says.
        let map = aliases(&[("postmaster", &["alice", "root@admin.example"])]);
        assert_eq!(
            resolve_local("postmaster", &map, &db),
            deliver(vec![mailbox("alice"), remote("root@admin.example")])
        );
        // An alias that leads nowhere still leaves postmaster deliverable.
        let broken = aliases(&[("postmaster", &["ghost"])]);
        assert_eq!(
            resolve_local("postmaster", &broken, &db),
            deliver(vec![mailbox("postmaster")])
        );
        // A target naming postmaster reaches its Maildir.
        let to_pm = aliases(&[("abuse", &["postmaster"])]);
        assert_eq!(
            resolve_local("abuse", &to_pm, &db),
            deliver(vec![mailbox("postmaster")])
        );
    }

    #[test]
    fn targets_route_to_maildirs_and_the_queue_with_missing_names_in_the_domain() {
        let routes = route(
            vec![
                Target::Mailbox("alice".into()),
                Target::Remote("bob@elsewhere.example".into()),
                Target::Missing("carol".into()),
            ],
            "local.test",
        );
        assert_eq!(routes.mailboxes, ["alice"]);
        assert_eq!(routes.queued, ["bob@elsewhere.example", "carol@local.test"]);
    }
}
