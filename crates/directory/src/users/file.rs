//! The users file format, version 1.
//!
//! ```text
//! # portcullis users v1
//! alice:argon2:$argon2id$v=19$m=19456,t=2,p=1$…$…:scram:4096,<salt>,<StoredKey>,<ServerKey>:cram:<64 hex>
//! root:argon2:…:scram:…:cram:<64 hex>:admin
//! ```
//!
//! A trailing `:admin` gives the user the admin right (the console and the
//! JSON API). It is optional, so files written before it existed read
//! unchanged, and a user without the right is written as before.
//!
//! The first non-blank line is the version header; later lines starting
//! with `#` and blank lines are ignored (the file is rewritten by the tool,
//! so comments are not preserved). Base64 is standard with padding; the
//! CRAM-MD5 field is the inner then the outer MD5 state, as Dovecot stores
//! its `{CRAM-MD5}` scheme. None of the fields can contain `:`.

use std::collections::HashSet;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use super::credentials::{CramMd5State, Credentials, ScramKeys};
use super::validate_user_name;

/// The header line of the current format.
pub(crate) const HEADER: &str = "# portcullis users v1";

/// The header prefix, to recognise other versions.
const HEADER_PREFIX: &str = "# portcullis users v";

/// What the file documents about its own format, right after the header.
const FORMAT_COMMENT: &str = "# name:argon2:<PHC>:scram:<iterations>,<salt>,<StoredKey>,<ServerKey>:cram:<inner+outer MD5 state, hex>[:admin]";

/// One user as the file holds it: name, credentials, and the admin right.
pub(crate) type Entry = (String, Credentials, bool);

/// Renders the whole file from (name, credentials, admin right).
pub(crate) fn render<'a>(users: impl Iterator<Item = (&'a str, &'a Credentials, bool)>) -> String {
    let mut out = format!("{HEADER}\n{FORMAT_COMMENT}\n");
    for (name, creds, admin) in users {
        out.push_str(&render_line(name, creds));
        if admin {
            out.push_str(":admin");
        }
        out.push('\n');
    }
    out
}

fn render_line(name: &str, creds: &Credentials) -> String {
    let scram = creds.scram_keys();
    format!(
        "{name}:argon2:{}:scram:{},{},{},{}:cram:{}",
        creds.argon2_phc(),
        scram.iterations,
        B64.encode(&scram.salt),
        B64.encode(scram.stored_key),
        B64.encode(scram.server_key),
        hex_encode(&creds.cram_md5_state().to_bytes()),
    )
}

/// Parses the whole file into (name, credentials, admin right) in file
/// order. Errors are `(line number, reason)`.
pub(crate) fn parse(text: &str) -> Result<Vec<Entry>, (usize, String)> {
    let mut users = Vec::new();
    // A set, not a scan of `users`: a scan made reading 10,000 users take
    // 50 million comparisons (the console's Users screen reads the file).
    let mut seen = HashSet::new();
    let mut seen_header = false;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        if !seen_header {
            check_header(line).map_err(|reason| (number, reason))?;
            seen_header = true;
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let user = parse_line(line).map_err(|reason| (number, reason))?;
        if !seen.insert(user.0.clone()) {
            return Err((number, format!("user {:?} is listed twice", user.0)));
        }
        users.push(user);
    }
    Ok(users)
}

/// Whether the text starts (after blank lines) with the current header.
pub(crate) fn has_header(text: &str) -> bool {
    text.lines()
        .map(|line| line.trim_end_matches('\r'))
        .find(|line| !line.trim().is_empty())
        == Some(HEADER)
}

fn check_header(line: &str) -> Result<(), String> {
    if line == HEADER {
        return Ok(());
    }
    match line.strip_prefix(HEADER_PREFIX) {
        Some(version) => Err(format!(
            "users file version {version:?} is not supported (this build reads v1)"
        )),
        None => Err(format!("expected the header {HEADER:?}, found {line:?}")),
    }
}

fn parse_line(line: &str) -> Result<Entry, String> {
    let mut fields: Vec<&str> = line.split(':').collect();
    let admin = fields.len() == 8 && fields.last() == Some(&"admin");
    if admin {
        fields.pop();
    }
    let [name, "argon2", phc, "scram", scram, "cram", cram] = fields.as_slice() else {
        return Err(
            "expected name:argon2:<PHC>:scram:<i>,<salt>,<StoredKey>,<ServerKey>:cram:<hex>[:admin]"
                .to_string(),
        );
    };
    let name = validate_user_name(name).map_err(|e| e.to_string())?;
    if name != *fields[0] {
        return Err(format!("user name {:?} is not lower-case", fields[0]));
    }
    let scram = parse_scram(scram).map_err(|e| format!("user {name:?}: {e}"))?;
    let cram = parse_cram(cram).map_err(|e| format!("user {name:?}: {e}"))?;
    let creds = Credentials::from_parts(phc.to_string(), scram, cram)
        .map_err(|e| format!("user {name:?}: {e}"))?;
    Ok((name, creds, admin))
}

fn parse_scram(field: &str) -> Result<ScramKeys, String> {
    let parts: Vec<&str> = field.split(',').collect();
    let [iterations, salt, stored, server] = parts.as_slice() else {
        return Err(format!(
            "SCRAM field {field:?} is not <iterations>,<salt>,<StoredKey>,<ServerKey>"
        ));
    };
    let iterations: u32 =
        iterations.parse().ok().filter(|&i| i > 0).ok_or_else(|| {
            format!("SCRAM iteration count {iterations:?} is not a positive number")
        })?;
    let salt = B64
        .decode(salt)
        .ok()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("SCRAM salt {salt:?} is not non-empty base64"))?;
    Ok(ScramKeys {
        iterations,
        salt,
        stored_key: decode_key(stored, "StoredKey")?,
        server_key: decode_key(server, "ServerKey")?,
    })
}

fn decode_key(text: &str, what: &str) -> Result<[u8; 32], String> {
    B64.decode(text)
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| format!("SCRAM {what} {text:?} is not 32 bytes of base64"))
}

fn parse_cram(field: &str) -> Result<CramMd5State, String> {
    let bytes = hex_decode(field)
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| format!("CRAM-MD5 state {field:?} is not 64 hex digits"))?;
    Ok(CramMd5State::from_bytes(&bytes))
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    text.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [hi, lo] => Some((hex_digit(*hi)? << 4) | hex_digit(*lo)?),
            _ => None,
        })
        .collect()
}

fn hex_digit(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::super::credentials::cheap_argon2;
    use super::*;

    fn creds(pw: &str) -> Credentials {
        Credentials::derive_with(pw, &cheap_argon2(), 4096).unwrap()
    }

    #[test]
    fn render_then_parse_round_trips() {
        let a = creds("alpha");
        let b = creds("beta");
        let text = render([("alice", &a, false), ("bob", &b, true)].into_iter());
        assert!(text.starts_with("# portcullis users v1\n"));
        let parsed = parse(&text).unwrap();
        assert_eq!(
            parsed,
            vec![
                ("alice".to_string(), a, false),
                ("bob".to_string(), b, true)
            ]
        );
    }

    #[test]
    fn the_admin_right_is_an_optional_last_field() {
        let text = render([("root", &creds("x"), true), ("ann", &creds("y"), false)].into_iter());
        let lines: Vec<&str> = text.lines().skip(2).collect();
        assert!(lines[0].ends_with(":admin"), "{}", lines[0]);
        assert_eq!(lines[1].split(':').count(), 7, "{}", lines[1]);
        // A file written before the field existed reads as before.
        let old = text.replace(":admin", "");
        assert!(parse(&old).unwrap().iter().all(|(_, _, admin)| !admin));
        let (line, reason) = parse(&text.replace(":admin", ":root")).unwrap_err();
        assert_eq!(line, 3);
        assert!(reason.contains("[:admin]"), "{reason}");
    }

    #[test]
    fn line_has_the_documented_shape_and_no_password() {
        let text = render([("carol", &creds("p4ssw0rd-visible?"), false)].into_iter());
        let line = text.lines().nth(2).unwrap();
        assert!(!text.contains("p4ssw0rd"));
        let fields: Vec<&str> = line.split(':').collect();
        assert_eq!(fields.len(), 7, "{line}");
        assert_eq!(
            (fields[0], fields[1], fields[3], fields[5]),
            ("carol", "argon2", "scram", "cram")
        );
        assert!(fields[2].starts_with("$argon2id$"));
        assert!(fields[4].starts_with("4096,"));
        assert_eq!(fields[6].len(), 64);
    }

    #[test]
    fn empty_text_and_header_only_are_empty() {
        assert_eq!(parse("").unwrap(), vec![]);
        assert_eq!(
            parse("\n# portcullis users v1\n\n# comment\n").unwrap(),
            vec![]
        );
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        let good = render([("dave", &creds("x"), false)].into_iter());
        let cases: Vec<(String, usize, &str)> = vec![
            ("alice:argon2:x\n".into(), 1, "expected the header"),
            (
                "# portcullis users v2\n".into(),
                1,
                "\"2\" is not supported",
            ),
            (
                format!("{HEADER}\nalice:plain:secret\n"),
                2,
                "expected name:argon2",
            ),
            (good.replace("dave:", "Dave:"), 3, "not lower-case"),
            (good.replace("dave:", "../x:"), 3, "\"../x\""),
            (good.replace(":4096,", ":0,"), 3, "iteration count \"0\""),
            (good.replace(":4096,", ":4096,!!,"), 3, "SCRAM field"),
            (good.replace(":cram:", ":cram:zz"), 3, "CRAM-MD5 state"),
            (good.replace("$argon2id$", "$argon2i$"), 3, "not argon2id"),
            (
                format!("{good}{}", good.lines().nth(2).unwrap()),
                4,
                "listed twice",
            ),
        ];
        for (text, line, needle) in cases {
            let (got_line, reason) = parse(&text).unwrap_err();
            assert_eq!(got_line, line, "{reason}");
            assert!(
                reason.contains(needle),
                "{reason:?} should contain {needle:?}"
            );
        }
    }
}
