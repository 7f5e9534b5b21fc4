//! SASLprep (RFC 4013) of passwords, so the same password typed on two
//! systems gives the same bytes: non-ASCII spaces become U+0020, soft
//! hyphens and other "mapped to nothing" characters vanish, and NFKC folds
//! compatibility forms (`ⅨＩ` → `IXI`, `ﬁ` → `fi`).
//!
//! RFC 5802 §2.2 computes SCRAM's `Hi()` over `Normalize(password)` and
//! RFC 4616 §2 asks a PLAIN server to SASLprep the password before comparing,
//! so enrolment stores hashes of the prepared password and PLAIN/LOGIN
//! prepare what the client sends. CRAM-MD5 (RFC 2195) defines no
//! normalisation and keeps the raw bytes (see `credentials.rs`).
//!
//! The algorithm is the `stringprep` crate's; this module adds the empty
//! result check and error messages that never show the password.

use std::borrow::Cow;
use std::fmt;

/// Why SASLprep refuses a password. It holds at most one code point of the
/// password, never the password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SaslprepError {
    /// RFC 4013 §2.3 and §2.5: a prohibited character (control, private use,
    /// non-character, surrogate, tagging, display-changing) or a code point
    /// unassigned in Unicode 3.2.
    Prohibited(char),
    /// RFC 4013 §2.4 (RFC 3454 §6): right-to-left characters mixed with
    /// left-to-right ones, or not at both ends.
    Bidirectional,
    /// RFC 4013 §2.1 maps every character of the password to nothing.
    Empty,
}

impl fmt::Display for SaslprepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Why U+XXXX and not the character: it may be a control
            // character (a terminal escape) and the rest of the password
            // stays out of the message.
            SaslprepError::Prohibited(c) => write!(
                f,
                "the password contains U+{:04X}, which SASLprep (RFC 4013 §2.3, §2.5) prohibits \
                 (control, private-use, non-character or unassigned code points)",
                u32::from(*c)
            ),
            SaslprepError::Bidirectional => f.write_str(
                "the password mixes right-to-left and left-to-right characters in a way \
                 SASLprep (RFC 4013 §2.4) prohibits",
            ),
            SaslprepError::Empty => f.write_str(
                "the password is empty once SASLprep (RFC 4013 §2.1) removes the characters \
                 it maps to nothing",
            ),
        }
    }
}

impl std::error::Error for SaslprepError {}

/// SASLprep of `password` (RFC 4013 §2), with the stored-string rules of
/// RFC 3454 §7 (unassigned code points refused).
///
/// The same function serves queries (a password from PLAIN or LOGIN): the
/// query rules would let unassigned code points through, but a prepared
/// stored password never contains one, so such a query could not match
/// anyway; refusing it gives the same verdict.
///
/// Printable ASCII comes back unchanged and borrowed, so passwords enrolled
/// before SASLprep was applied keep their stored credentials.
pub(crate) fn prepare(password: &str) -> Result<Cow<'_, str>, SaslprepError> {
    match stringprep::saslprep(password) {
        Ok(prepared) if prepared.is_empty() => Err(SaslprepError::Empty),
        Ok(prepared) => Ok(prepared),
        Err(_) => Err(why_refused(password)),
    }
}

/// The reason `stringprep::saslprep` refused `password` (its error keeps
/// the cause private and would print the raw character). A character that
/// is refused on its own is the culprit; when every character passes alone,
/// only the string-level rule is left: the bidirectional one (RFC 4013 §2.4).
fn why_refused(password: &str) -> SaslprepError {
    let mut buf = [0u8; 4];
    password
        .chars()
        .find(|c| stringprep::saslprep(c.encode_utf8(&mut buf)).is_err())
        .map_or(SaslprepError::Bidirectional, SaslprepError::Prohibited)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 4013 §3, the examples table.
    #[test]
    fn rfc4013_section3_examples() {
        // 1. SOFT HYPHEN mapped to nothing.
        assert_eq!(prepare("I\u{AD}X").unwrap(), "IX");
        // 2. No transformation.
        assert_eq!(prepare("user").unwrap(), "user");
        // 3. Case preserved, will not match #2.
        assert_eq!(prepare("USER").unwrap(), "USER");
        // 4. Output is NFKC, input in ISO 8859-1.
        assert_eq!(prepare("\u{AA}").unwrap(), "a");
        // 5. Output is NFKC, will match #1.
        assert_eq!(prepare("\u{2168}").unwrap(), "IX");
        // 6. Error: prohibited character.
        assert_eq!(prepare("\u{7}"), Err(SaslprepError::Prohibited('\u{7}')));
        // 7. Error: bidirectional check.
        assert_eq!(prepare("\u{627}\u{31}"), Err(SaslprepError::Bidirectional));
    }

    #[test]
    fn non_ascii_spaces_become_ascii_spaces_and_ligatures_unfold() {
        // RFC 4013 §2.1: C.1.2 spaces map to SPACE; NFKC unfolds U+FB01
        // and fullwidth forms.
        assert_eq!(prepare("a\u{A0}b\u{3000}c").unwrap(), "a b c");
        assert_eq!(prepare("\u{FB01}ne").unwrap(), "fine");
        assert_eq!(prepare("\u{FF30}\u{FF57}").unwrap(), "Pw");
        // NFKC composes: 'a' + COMBINING DIAERESIS is 'ä'.
        assert_eq!(prepare("pa\u{308}ss").unwrap(), "p\u{E4}ss");
    }

    #[test]
    fn refusals_name_the_code_point_not_the_password() {
        for (password, culprit) in [
            ("secret\u{7}", '\u{7}'),
            ("tab\there", '\t'),
            ("del\u{7F}", '\u{7F}'),
            ("private\u{E000}", '\u{E000}'),
            ("nonchar\u{FFFF}", '\u{FFFF}'),
            // U+0221 was unassigned in Unicode 3.2 (RFC 3454 table A.1).
            ("unassigned\u{221}", '\u{221}'),
        ] {
            let err = prepare(password).unwrap_err();
            assert_eq!(err, SaslprepError::Prohibited(culprit), "{password:?}");
            let text = err.to_string();
            assert!(
                text.contains(&format!("U+{:04X}", u32::from(culprit))),
                "{text}"
            );
            assert!(!text.contains(password), "{text}");
            assert!(!text.contains(culprit), "{text}");
        }
    }

    #[test]
    fn a_password_of_only_mapped_to_nothing_characters_is_empty() {
        assert_eq!(prepare("\u{AD}\u{2060}\u{FE0F}"), Err(SaslprepError::Empty));
        assert!(SaslprepError::Empty.to_string().contains("empty"));
    }

    #[test]
    fn right_to_left_passwords_are_fine_when_wholly_right_to_left() {
        assert_eq!(prepare("\u{627}\u{628}").unwrap(), "\u{627}\u{628}");
        assert_eq!(
            prepare("\u{627}a\u{628}"),
            Err(SaslprepError::Bidirectional)
        );
    }

    proptest! {
        /// Compatibility: printable ASCII, the only passwords whose stored
        /// credentials did not depend on normalisation, is left as it is.
        #[test]
        fn printable_ascii_is_unchanged(password in "[ -~]{1,80}") {
            let prepared = prepare(&password).unwrap();
            prop_assert!(matches!(prepared, Cow::Borrowed(_)));
            prop_assert_eq!(prepared.as_ref(), password.as_str());
        }

        /// SASLprep is idempotent: preparing a prepared password changes nothing,
        /// so enrolment and login agree whichever side normalised first.
        #[test]
        fn prepare_is_idempotent(password in "\\PC{1,24}") {
            if let Ok(once) = prepare(&password) {
                let once = once.into_owned();
                let twice = prepare(&once).unwrap();
                prop_assert_eq!(twice.as_ref(), once.as_str());
            }
        }
    }
}
