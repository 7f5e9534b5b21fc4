//! A fast path for what a configuration holds in bulk: long arrays of plain
//! strings (a `relay.allow` of a million entries). The TOML parser keeps
//! every value's position and decoration, and spends most of a large file's
//! load on them; here each long array is cut out of the text, read by a
//! scanner that knows only plain strings, and put back into the parsed
//! table. Anything the scanner does not know (an escape, a multi-line
//! string, a value that is not a string, a syntax error) leaves the whole
//! text to the parser, so every error is still the parser's own sentence.

use std::fmt::Write as _;

/// Arrays shorter than this (in bytes of text) go through the parser.
const MIN_ARRAY_BYTES: usize = 64 * 1024;
/// What a cut-out array is replaced with, numbered: a string no
/// configuration holds (the text is not cut at all if it names it).
const MARK: &str = "portcullis-cut-array-";

/// `text` parsed with its long string arrays read by the scanner, or `None`
/// when the parser must read all of it (no long array, or anything unusual).
pub(crate) fn parse(text: &str) -> Option<toml::Table> {
    let (mut table, arrays) = cut_out(text)?;
    let mut arrays: Vec<Option<Vec<String>>> = arrays.into_iter().map(Some).collect();
    put_back(&mut table, &mut arrays);
    // Each mark must have come back as the value of a key, exactly once.
    arrays.iter().all(Option::is_none).then_some(table)
}

/// `text` parsed with each long string array left as a one-string array
/// holding its mark, and the arrays' strings by mark number: for a caller
/// that puts them back into its own structs ([`take_marked`]) without
/// making a TOML value of each string. `None` as for [`parse`].
pub(crate) fn cut_out(text: &str) -> Option<(toml::Table, Vec<Vec<String>>)> {
    if text.len() < MIN_ARRAY_BYTES
        || text.contains("\"\"\"")
        || text.contains("'''")
        || text.contains(MARK)
    {
        return None;
    }
    let (rest, arrays) = cut(text)?;
    let table = rest.parse::<toml::Table>().ok()?;
    Some((table, arrays))
}

/// If `list` is a mark left by [`cut_out`], replaces it with its array
/// from `arrays`; false if the mark was already taken (then the caller
/// must not trust the result).
pub(crate) fn take_marked(list: &mut Vec<String>, arrays: &mut [Option<Vec<String>>]) -> bool {
    let mark = match list.as_slice() {
        [s] => s.strip_prefix(MARK).and_then(|n| n.parse::<usize>().ok()),
        _ => None,
    };
    match mark.and_then(|n| arrays.get_mut(n)) {
        Some(slot) => match slot.take() {
            Some(values) => {
                *list = values;
                true
            }
            None => false,
        },
        None => true,
    }
}

/// The text with each long array of `key = [...]` replaced by a mark, and
/// the arrays' strings; `None` if there is no long array.
fn cut(text: &str) -> Option<(String, Vec<Vec<String>>)> {
    let mut rest = String::new();
    let mut arrays = Vec::new();
    let mut copied = 0;
    let mut line = 0;
    while line < text.len() {
        let line_end = text[line..].find('\n').map_or(text.len(), |n| line + n + 1);
        let cut_here = array_start(&text[line..line_end])
            .map(|open| line + open)
            .and_then(|open| Some((open, scan_array(text, open)?)))
            .filter(|(open, (_, end))| end - open >= MIN_ARRAY_BYTES);
        match cut_here {
            Some((open, (values, end))) => {
                rest.push_str(&text[copied..open]);
                // A string cannot fail to be written to.
                let _ = write!(rest, "[\"{MARK}{}\"]", arrays.len());
                arrays.push(values);
                line = text[end..].find('\n').map_or(text.len(), |n| end + n + 1);
                rest.push_str(&text[end..line]);
                copied = line;
            }
            None => line = line_end,
        }
    }
    if arrays.is_empty() {
        return None;
    }
    rest.push_str(&text[copied..]);
    Some((rest, arrays))
}

/// Where the `[` of `key = [` is in a line that starts with a bare (or
/// dotted bare) key, if it does.
fn array_start(line: &str) -> Option<usize> {
    let b = line.as_bytes();
    let mut i = b.iter().position(|&c| c != b' ' && c != b'\t')?;
    let key = i;
    while i < b.len() && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'_' | b'-' | b'.')) {
        i += 1;
    }
    if i == key {
        return None;
    }
    i = skip_spaces(b, i);
    if b.get(i) != Some(&b'=') {
        return None;
    }
    i = skip_spaces(b, i + 1);
    (b.get(i) == Some(&b'[')).then_some(i)
}

fn skip_spaces(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    i
}

/// Reads the array whose `[` is at `open`: its strings and the offset just
/// past its `]`. `None` for anything but plain one-line strings (basic
/// without escapes, or literal) separated by commas, blanks and comments.
fn scan_array(text: &str, open: usize) -> Option<(Vec<String>, usize)> {
    let b = text.as_bytes();
    let mut values = Vec::new();
    let mut i = skip_blank(b, open + 1)?;
    loop {
        match *b.get(i)? {
            b']' => return Some((values, i + 1)),
            quote @ (b'"' | b'\'') => {
                let start = i + 1;
                let len = b[start..].iter().position(|&c| c == quote)?;
                let value = &b[start..start + len];
                // Control characters are not allowed in a string (TOML 1.0); a
                // backslash starts an escape: the parser decides on both.
                let plain = value.iter().all(|&c| {
                    (c >= 0x20 || c == b'\t') && c != 0x7f && !(quote == b'"' && c == b'\\')
                });
                if !plain {
                    return None;
                }
                values.push(text[start..start + len].to_string());
                i = skip_blank(b, start + len + 1)?;
                match *b.get(i)? {
                    b',' => i = skip_blank(b, i + 1)?,
                    b']' => return Some((values, i + 1)),
                    _ => return None,
                }
            }
            _ => return None,
        }
    }
}

/// Skips spaces, tabs, line ends and comments inside an array.
fn skip_blank(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        match b.get(i) {
            Some(b' ' | b'\t' | b'\n') => i += 1,
            Some(b'\r') if b.get(i + 1) == Some(&b'\n') => i += 2,
            Some(b'#') => {
                let end = b[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len(), |n| i + n);
                let comment = &b[i..end];
                let allowed = |c: &u8| (*c >= 0x20 || *c == b'\t') && *c != 0x7f;
                // A comment before a CRLF line end keeps its CR; others are the parser's to judge.
                let body = comment.strip_suffix(b"\r").unwrap_or(comment);
                if !body.iter().all(allowed) {
                    return None;
                }
                i = end;
            }
            Some(b'\r') => return None,
            _ => return Some(i),
        }
    }
}

/// Puts each cut-out array back where its mark landed in the parsed table.
/// A mark found twice, or not where a key's value is, leaves its slot full
/// (the caller then falls back to the parser).
fn put_back(table: &mut toml::Table, arrays: &mut [Option<Vec<String>>]) {
    for (_, value) in table.iter_mut() {
        put_back_value(value, arrays);
    }
}

fn put_back_value(value: &mut toml::Value, arrays: &mut [Option<Vec<String>>]) {
    match value {
        toml::Value::Table(table) => put_back(table, arrays),
        toml::Value::Array(items) => {
            let mark = match items.as_slice() {
                [toml::Value::String(s)] => {
                    s.strip_prefix(MARK).and_then(|n| n.parse::<usize>().ok())
                }
                _ => None,
            };
            match mark.and_then(|n| arrays.get_mut(n)) {
                Some(slot) => {
                    if let Some(values) = slot.take() {
                        *items = values.into_iter().map(toml::Value::String).collect();
                    } else {
                        // Seen twice: make the check fail.
                        *slot = Some(Vec::new());
                    }
                }
                None => {
                    for item in items {
                        put_back_value(item, arrays);
                    }
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file with a long `relay.allow`, written as `items` joins them.
    fn file(items: &[String], sep: &str) -> String {
        format!(
            "hostname = \"mx.example\" # the name\n\n[relay]\nallow = [{}] # many\nlocal_only = false\n[log]\nlevel = \"info\"\n",
            items.join(sep)
        )
    }

    fn entries(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("\"10.{}.{}.0/24\"", i / 256 % 256, i % 256))
            .collect()
    }

    #[test]
    fn a_long_array_reads_as_the_parser_reads_it() {
        let mut items = entries(20_000);
        items[7] = "'192.168.*.*'".into();
        items[8] = "\"\"".into();
        for sep in [
            ", ",
            ",\n  ",
            " ,\r\n# a comment\n\t",
            ",\n  # ünïcode comment\n",
        ] {
            let text = file(&items, sep);
            let fast = parse(&text).expect("the fast path takes it");
            assert_eq!(fast, text.parse::<toml::Table>().unwrap(), "{sep:?}");
        }
        // A trailing comma and an array on lines of its own.
        let text = format!("[relay]\nallow = [\n{},\n]\n", items.join(",\n"));
        assert_eq!(parse(&text).unwrap(), text.parse::<toml::Table>().unwrap());
    }

    #[test]
    fn anything_unusual_is_left_to_the_parser() {
        let items = entries(20_000);
        for (what, odd) in [
            ("an escape", "\"10\\u002e0.0.1\""),
            ("a number", "5"),
            ("a control character", "\"a\u{1}b\""),
            ("a missing comma", "\"a\" \"b\""),
            ("an empty item", ","),
            ("an unterminated string", "\"a"),
        ] {
            let mut items = items.clone();
            items[100] = odd.to_string();
            assert_eq!(parse(&file(&items, ", ")), None, "{what}");
        }
        // Short arrays, multi-line strings, a syntax error elsewhere, a
        // mark in the file, a key defined twice.
        assert_eq!(parse(&file(&entries(10), ", ")), None);
        let long = file(&items, ", ");
        assert_eq!(parse(&format!("{long}motd = \"\"\"x\"\"\"\n")), None);
        assert_eq!(parse(&format!("{long}[log\n")), None);
        assert_eq!(parse(&format!("{long}x = \"{MARK}0\"\n")), None);
        assert_eq!(parse(&format!("{long}[relay]\nallow = []\n")), None);
    }
}
