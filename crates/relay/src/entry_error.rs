//! Why a relay-list entry was refused, in one sentence naming the value.

use std::fmt;
use std::net::IpAddr;

/// The most ranges one octet pattern may compile to (2^16: e.g. `10.1-254.1-254.*`);
/// a pattern needing more is refused with a hint to write CIDR blocks.
pub const MAX_PATTERN_RANGES: u64 = 65_536;

/// Why a relay entry was refused: `Display` is one sentence naming the value,
/// e.g. `relay entry "192.168.300.*": octet 300 is over 255`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryError {
    /// The value as written (trimmed).
    pub raw: String,
    /// What is wrong with it.
    pub kind: EntryErrorKind,
}

impl fmt::Display for EntryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "relay entry {:?}: {}", self.raw, self.kind)
    }
}

impl std::error::Error for EntryError {}

/// The kinds of malformed entry, each with its explanation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EntryErrorKind {
    #[error("the entry is empty")]
    Empty,
    #[error("it contains whitespace (write one address, range or name per value)")]
    Whitespace,
    #[error("\"!\" must be followed by an address, range or name")]
    LoneBang,
    #[error("only one \"!\" is allowed")]
    DoubleBang,
    #[error("an address pattern needs exactly four octets, like 192.168.40.* (found {found})")]
    OctetCount { found: usize },
    #[error("an octet is empty")]
    EmptyOctet,
    #[error("octet \"{part}\" is not a number, \"*\" or a range like 40-43")]
    BadOctetRange { part: String },
    #[error("range {lo}-{hi} is reversed (did you mean {hi}-{lo}?)")]
    ReversedRange { lo: u8, hi: u8 },
    #[error("octet {octet} has a leading zero, which some read as octal: write it without")]
    LeadingZero { octet: String },
    #[error("octet {octet} is over 255")]
    OctetOver255 { octet: String },
    #[error("the pattern needs {count} separate address ranges, more than {max}: write it as CIDR blocks (e.g. 10.0.0.0/8)", max = MAX_PATTERN_RANGES)]
    TooManyRanges { count: u64 },
    #[error("\"{addr}\" is not a valid IPv4 or IPv6 address")]
    BadAddress { addr: String },
    #[error("the address before the prefix must be a plain address, not a pattern")]
    PatternInCidr,
    #[error("prefix length \"{prefix}\" is not a plain decimal number")]
    BadPrefix { prefix: String },
    #[error("prefix length {prefix} is over {max}")]
    PrefixTooLong { prefix: u32, max: u32 },
    #[error("host bits are set under the /{prefix} prefix (did you mean {network}/{prefix}?)")]
    HostBits { prefix: u32, network: IpAddr },
    #[error(
        "character {ch:?} is not allowed in a host name (letters, digits, hyphens and dots only)"
    )]
    NameChar { ch: char },
    #[error("character {ch:?} is not allowed in a host name: write an internationalised name in its xn-- form")]
    NonAsciiName { ch: char },
    #[error("a host name label is empty (a leading dot or two dots in a row)")]
    EmptyLabel,
    #[error("host name label \"{label}\" is longer than 63 characters")]
    LabelTooLong { label: String },
    #[error("host name label \"{label}\" starts or ends with a hyphen")]
    LabelHyphen { label: String },
    #[error("the host name is {len} characters long, over 253")]
    NameTooLong { len: usize },
    #[error("the last label of a host name must start with a letter; this looks like a mistyped address")]
    NumericName,
    #[error("a name already matches its subdomains: write \"{domain}\" instead")]
    WildcardName { domain: String },
    #[error("the list has more than 4294967294 entries")]
    ListTooLong,
}
