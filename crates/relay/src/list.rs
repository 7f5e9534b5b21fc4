//! The compiled relay list: every entry of `relay.allow`, in order, folded
//! into one first-match interval table per address family plus a map of the
//! name entries, immutable once built (share it in an `Arc`; a reload builds
//! a new one and swaps it in).
//!
//! First match across ALL entries (exceptions included, docs/reference.md §4): each
//! interval is owned by the index of the first entry covering it, so a lookup
//! is one binary search however long the list. A name entry takes part in
//! two ways: its resolved addresses are host intervals owned by its index
//! (so its position in the list still counts), and the name matches a client
//! whose forward-confirmed reverse-DNS name is the name or a subdomain of it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use super::entry::{is_name_notation, parse_entry, EntryKind};
use super::range::canonical;
use super::table::{Table, NOBODY};

/// The caller's DNS answer (A and AAAA together) for one name entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameResolution {
    /// The name's addresses.
    Addresses(Vec<IpAddr>),
    /// NXDOMAIN or NODATA: the name has no address.
    NoAddress,
    /// Timeout or SERVFAIL: nothing is known, the previous answer is kept.
    TempFail,
}

/// What the caller knows of the client's host name: the reverse-DNS (PTR)
/// names that resolve forward to the client's address again (FCrDNS).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReverseDns {
    /// Not looked up (the caller asked [`RelayList::needs_reverse_dns`] and was told no).
    NotChecked,
    /// No PTR record, or none forward-confirmed.
    NoName,
    /// Forward-confirmed names, lower-case.
    Verified(Vec<String>),
    /// The lookup failed temporarily (timeout, SERVFAIL).
    TempFail,
}

/// How a name entry or address entry came to match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MatchVia {
    /// The client's address is in the entry's ranges (or a name's addresses).
    Address,
    /// The client's verified reverse-DNS name (given) is the entry's name or under it.
    ReverseDns(String),
}

/// The answer of the list for one client: the first entry that matches decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListMatch {
    /// An allow entry matched first.
    Allow {
        /// Its index in `relay.allow`.
        index: usize,
        /// The entry as written.
        entry: String,
        /// How it matched.
        via: MatchVia,
    },
    /// An exception (`!…`) matched first.
    Except {
        /// Its index in `relay.allow`.
        index: usize,
        /// The entry as written.
        entry: String,
        /// How it matched.
        via: MatchVia,
    },
    /// No entry matches.
    NoMatch,
    /// The answer depends on the client's reverse DNS, whose lookup failed
    /// temporarily; `entry` is the name entry that could have changed it.
    TempFail {
        /// Its index in `relay.allow`.
        index: usize,
        /// The entry as written.
        entry: String,
    },
}

/// A compiled relay list (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayList {
    pub(crate) v4: Table<u32>,
    pub(crate) v6: Table<u128>,
    /// The raw text of every entry, by index (skipped ones included),
    /// shared with the load report's warnings.
    pub(crate) raws: Arc<RawStore>,
    /// `!` per entry index (false for skipped entries).
    pub(crate) negated: Vec<bool>,
    /// Name → index of the first name entry with exactly that name.
    pub(crate) names: HashMap<String, u32>,
    /// Index of the first allow / exception name entry, `NOBODY` if none.
    pub(crate) first_allow_name: u32,
    pub(crate) first_except_name: u32,
    /// Addresses in effect for each name, kept for the next reload's DNS failures.
    pub(crate) resolved: HashMap<String, Vec<IpAddr>>,
    pub(crate) added: usize,
}

impl Default for RelayList {
    fn default() -> RelayList {
        RelayList::compile(&[], &HashMap::new(), None).0
    }
}

impl RelayList {
    /// The names (lower-case, each once, in list order) of the parseable name
    /// entries, for the caller to resolve (A and AAAA) before [`RelayList::compile`].
    pub fn names_to_resolve(entries: &[String]) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        entries
            .iter()
            .filter(|raw| is_name_notation(raw))
            .filter_map(|raw| match parse_entry(raw) {
                Ok(entry) => match entry.kind {
                    EntryKind::Name(name) => Some(name),
                    EntryKind::Ranges(_) => None,
                },
                Err(_) => None,
            })
            .filter(|name| seen.insert(name.clone()))
            .collect()
    }

    /// Whether the answer for `ip` could depend on the client's verified
    /// reverse-DNS name: some name entry comes before the first address entry
    /// matching `ip`. When false the caller may skip the FCrDNS lookup and
    /// pass [`ReverseDns::NotChecked`].
    pub fn needs_reverse_dns(&self, ip: IpAddr) -> bool {
        self.first_allow_name.min(self.first_except_name) < self.ip_owner(ip)
    }

    /// First-match lookup of a client (docs/reference.md §4). Name entries match only
    /// through `rdns`; with [`ReverseDns::NotChecked`] they do not match.
    pub fn lookup(&self, ip: IpAddr, rdns: &ReverseDns) -> ListMatch {
        let i = self.ip_owner(ip);
        match rdns {
            ReverseDns::Verified(names) => match self.name_owner(names, i) {
                Some((j, name)) => self.hit(j, MatchVia::ReverseDns(name)),
                None => self.hit(i, MatchVia::Address),
            },
            ReverseDns::TempFail => {
                // A DNS failure must never allow relay (docs/reference.md §4): if a name entry
                // before the deciding address entry could have changed the answer
                // to or from an allow, the answer is "try again later".
                let allowed_by_address = i != NOBODY && !self.is_negated(i);
                if allowed_by_address {
                    // An exception name before it might have matched and denied.
                    if self.first_except_name < i {
                        return self.temp_fail(self.first_except_name);
                    }
                } else if self.first_allow_name < i {
                    // An allow name before it (or anywhere, with no address match)
                    // might have matched and allowed.
                    return self.temp_fail(self.first_allow_name);
                }
                self.hit(i, MatchVia::Address)
            }
            ReverseDns::NotChecked | ReverseDns::NoName => self.hit(i, MatchVia::Address),
        }
    }

    /// Whether no entry was added.
    pub fn is_empty(&self) -> bool {
        self.added == 0
    }

    /// How many entries were added (skipped ones do not count).
    pub fn len(&self) -> usize {
        self.added
    }

    /// How many intervals the compiled tables hold (both families, gaps
    /// included): the size of the binary search, for the log and benchmarks.
    pub fn interval_count(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// The raw text of the entry at `index` (skipped entries too).
    pub fn entry(&self, index: usize) -> Option<&str> {
        self.raws.get(index)
    }

    /// The addresses in effect for a name entry after this load.
    pub fn addresses_of(&self, name: &str) -> Option<&[IpAddr]> {
        self.resolved.get(name).map(Vec::as_slice)
    }

    /// Index of the first entry whose addresses contain `ip` (`NOBODY` if none).
    pub(crate) fn ip_owner(&self, ip: IpAddr) -> u32 {
        match canonical(ip) {
            IpAddr::V4(v4) => self.v4.owner(u32::from(v4)),
            IpAddr::V6(v6) => self.v6.owner(u128::from(v6)),
        }
    }

    /// The first name entry (index below `below`) that one of the verified
    /// names equals or lies under, with the verified name that matched.
    fn name_owner(&self, verified: &[String], below: u32) -> Option<(u32, String)> {
        if self.names.is_empty() {
            return None;
        }
        let mut best: Option<(u32, &String)> = None;
        for original in verified {
            let name = normalize(original);
            // The name itself, then each parent domain: `a.b.example.com`
            // matches entries `a.b.example.com`, `b.example.com`, `example.com`,
            // `com`, always on a label boundary, never `badexample.com`.
            let suffixes = std::iter::once(&name[..])
                .chain(name.match_indices('.').map(|(dot, _)| &name[dot + 1..]));
            for suffix in suffixes {
                if let Some(&j) = self.names.get(suffix) {
                    let better = match best {
                        Some((b, _)) => j < b,
                        None => true,
                    };
                    if j < below && better {
                        best = Some((j, original));
                    }
                }
            }
        }
        best.map(|(j, name)| (j, name.clone()))
    }

    pub(crate) fn is_negated(&self, index: u32) -> bool {
        self.negated.get(index as usize).copied().unwrap_or(false)
    }

    pub(crate) fn raw(&self, index: u32) -> &str {
        self.raws.get(index as usize).unwrap_or("")
    }

    fn hit(&self, index: u32, via: MatchVia) -> ListMatch {
        if index == NOBODY {
            return ListMatch::NoMatch;
        }
        let entry = self.raw(index).to_string();
        let index = index as usize;
        if self.negated[index] {
            ListMatch::Except { index, entry, via }
        } else {
            ListMatch::Allow { index, entry, via }
        }
    }

    fn temp_fail(&self, index: u32) -> ListMatch {
        ListMatch::TempFail {
            index: index as usize,
            entry: self.raw(index).to_string(),
        }
    }
}

/// Lower-case, without a trailing dot: how names are compared (RFC 4343).
fn normalize(name: &str) -> Cow<'_, str> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

/// Every entry's raw text in one buffer (a million entries, one allocation).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RawStore {
    text: String,
    ends: Vec<usize>,
}

impl RawStore {
    pub(crate) fn push(&mut self, raw: &str) {
        self.text.push_str(raw);
        self.ends.push(self.text.len());
    }

    pub(crate) fn get(&self, index: usize) -> Option<&str> {
        let end = *self.ends.get(index)?;
        let start = if index == 0 { 0 } else { self.ends[index - 1] };
        self.text.get(start..end)
    }
}
