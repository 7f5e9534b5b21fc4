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
    /// Nothing but whitespace.
    #[error("the entry is empty")]
    Empty,
    /// Whitespace inside the value.
    #[error("it contains whitespace (write one address, range or name per value)")]
    Whitespace,
    /// A `!` with nothing after it.
    #[error("\"!\" must be followed by an address, range or name")]
    LoneBang,
    /// More than one `!`.
    #[error("only one \"!\" is allowed")]
    DoubleBang,
    /// A dotted pattern without four octets.
    #[error("an address pattern needs exactly four octets, like 192.168.40.* (found {found})")]
    OctetCount {
        /// How many octets it has.
        found: usize,
    },
    /// Two dots in a row, or one at an end.
    #[error("an octet is empty")]
    EmptyOctet,
    /// An octet that is not a number, `*` or `lo-hi`.
    #[error("octet \"{part}\" is not a number, \"*\" or a range like 40-43")]
    BadOctetRange {
        /// The octet as written.
        part: String,
    },
    /// An octet range written high to low.
    #[error("range {lo}-{hi} is reversed (did you mean {hi}-{lo}?)")]
    ReversedRange {
        /// The first bound as written (the larger).
        lo: u8,
        /// The second bound as written (the smaller).
        hi: u8,
    },
    /// An octet with a leading zero (octal to some parsers).
    #[error("octet {octet} has a leading zero, which some read as octal: write it without")]
    LeadingZero {
        /// The octet as written.
        octet: String,
    },
    /// An octet over 255.
    #[error("octet {octet} is over 255")]
    OctetOver255 {
        /// The octet as written.
        octet: String,
    },
    /// A pattern that would compile to more than [`MAX_PATTERN_RANGES`] ranges.
    #[error("the pattern needs {count} separate address ranges, more than {max}: write it as CIDR blocks (e.g. 10.0.0.0/8)", max = MAX_PATTERN_RANGES)]
    TooManyRanges {
        /// How many ranges it would need.
        count: u64,
    },
    /// Not an IPv4 or IPv6 address.
    #[error("\"{addr}\" is not a valid IPv4 or IPv6 address")]
    BadAddress {
        /// The address part as written.
        addr: String,
    },
    /// A pattern (`*`, `lo-hi`) before a `/prefix`.
    #[error("the address before the prefix must be a plain address, not a pattern")]
    PatternInCidr,
    /// A prefix length that is not a plain decimal number.
    #[error("prefix length \"{prefix}\" is not a plain decimal number")]
    BadPrefix {
        /// The prefix as written.
        prefix: String,
    },
    /// A prefix longer than the address family allows.
    #[error("prefix length {prefix} is over {max}")]
    PrefixTooLong {
        /// The prefix length given.
        prefix: u32,
        /// 32 for IPv4, 128 for IPv6.
        max: u32,
    },
    /// Host bits set under the prefix (`10.1.2.3/8`).
    #[error("host bits are set under the /{prefix} prefix (did you mean {network}/{prefix}?)")]
    HostBits {
        /// The prefix length given.
        prefix: u32,
        /// The network address that was probably meant.
        network: IpAddr,
    },
    /// A character not allowed in a host name.
    #[error(
        "character {ch:?} is not allowed in a host name (letters, digits, hyphens and dots only)"
    )]
    NameChar {
        /// The first such character.
        ch: char,
    },
    /// A non-ASCII character in a host name (write its `xn--` form).
    #[error("character {ch:?} is not allowed in a host name: write an internationalised name in its xn-- form")]
    NonAsciiName {
        /// The first such character.
        ch: char,
    },
    /// An empty label (a leading dot or two dots in a row).
    #[error("a host name label is empty (a leading dot or two dots in a row)")]
    EmptyLabel,
    /// A label over 63 characters (RFC 1035 §2.3.4).
    #[error("host name label \"{label}\" is longer than 63 characters")]
    LabelTooLong {
        /// The label.
        label: String,
    },
    /// A label starting or ending with a hyphen.
    #[error("host name label \"{label}\" starts or ends with a hyphen")]
    LabelHyphen {
        /// The label.
        label: String,
    },
    /// A host name over 253 characters.
    #[error("the host name is {len} characters long, over 253")]
    NameTooLong {
        /// Its length.
        len: usize,
    },
    /// A name whose last label is numeric: a mistyped address.
    #[error("the last label of a host name must start with a letter; this looks like a mistyped address")]
    NumericName,
    /// A `*.` name: names already match their subdomains.
    #[error("a name already matches its subdomains: write \"{domain}\" instead")]
    WildcardName {
        /// The name without the `*.`.
        domain: String,
    },
    /// More entries than an index can number.
    #[error("the list has more than 4294967294 entries")]
    ListTooLong,
}
