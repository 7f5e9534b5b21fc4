//! RFC 5321 paths (`parse_forward_path`, `parse_reverse_path`): no panic,
//! and every accepted path prints as a path that parses to the same mailbox
//! (one address, one reading). A path accepted without SMTPUTF8 is accepted
//! the same way with it, and prints as ASCII.

use portcullis_smtp::address::{
    parse_forward_path, parse_reverse_path, Domain, MAX_DOMAIN_LEN, MAX_LOCAL_PART_LEN,
};
use portcullis_smtp::ReversePath;

pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for utf8 in [false, true] {
        if let Ok(mailbox) = parse_forward_path(text, utf8) {
            assert!(
                mailbox.local.len() <= MAX_LOCAL_PART_LEN,
                "local part over the limit: {mailbox:?}"
            );
            if let Domain::Name(name) = &mailbox.domain {
                assert!(
                    name.len() <= MAX_DOMAIN_LEN,
                    "domain over the limit: {name:?}"
                );
                assert_eq!(name, &name.to_lowercase(), "domain not lower-cased");
            }
            let printed = format!("<{mailbox}>");
            let again = parse_forward_path(&printed, utf8).unwrap_or_else(|e| {
                panic!("{text:?} parsed, but its print {printed:?} does not: {e}")
            });
            assert_eq!(again, mailbox, "{text:?} → {printed:?} reads differently");
            if !utf8 {
                assert!(
                    printed.is_ascii(),
                    "non-ASCII without SMTPUTF8: {printed:?}"
                );
                assert_eq!(
                    parse_forward_path(text, true).ok(),
                    Some(mailbox),
                    "{text:?}: SMTPUTF8 changed the reading of an ASCII path"
                );
            }
        }
        if let Ok(path) = parse_reverse_path(text, utf8) {
            let printed = format!("<{path}>");
            let again = parse_reverse_path(&printed, utf8).unwrap_or_else(|e| {
                panic!("{text:?} parsed, but its print {printed:?} does not: {e}")
            });
            assert_eq!(again, path, "{text:?} → {printed:?} reads differently");
            if let ReversePath::Mailbox(m) = &path {
                assert!(m.local.len() <= MAX_LOCAL_PART_LEN);
            }
        }
    }
}
