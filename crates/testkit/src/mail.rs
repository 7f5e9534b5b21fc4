//! Reading delivered messages back: split off the headers the server
//! prepends, find bytes, show bytes in assertion messages.

/// Splits a delivered message into (`Return-Path` line, `Received` header
/// unfolded, the rest). Panics with the message text if the first two
/// headers are not those.
pub fn split_delivered(msg: &[u8]) -> (String, String, Vec<u8>) {
    let text = String::from_utf8_lossy(msg);
    let rp_end =
        find(msg, b"\r\n").unwrap_or_else(|| panic!("no CRLF in delivered message: {text:?}"));
    let return_path = String::from_utf8_lossy(&msg[..rp_end]).into_owned();
    let mut pos = rp_end + 2;
    assert!(
        msg[pos..].starts_with(b"Received: "),
        "second header is not Received: {text:?}"
    );
    let start = pos;
    loop {
        let end = find(&msg[pos..], b"\r\n")
            .unwrap_or_else(|| panic!("unterminated Received header: {text:?}"))
            + pos;
        pos = end + 2;
        // RFC 5322 §2.2.3: a folded header continues on lines starting with WSP.
        if !matches!(msg.get(pos), Some(b' ') | Some(b'\t')) {
            break;
        }
    }
    let received = String::from_utf8_lossy(&msg[start..pos])
        .replace("\r\n", "")
        .replace('\t', " ");
    (
        return_path,
        received,
        skip_auth_results(&msg[pos..]).to_vec(),
    )
}

/// `rest` without a leading `Authentication-Results:` field: what the
/// server adds to mail from outside (docs/deliverability.md), not part of
/// what the client sent.
pub fn skip_auth_results(rest: &[u8]) -> &[u8] {
    if !rest.starts_with(b"Authentication-Results: ") {
        return rest;
    }
    let mut pos = 0;
    loop {
        let Some(end) = find(&rest[pos..], b"\r\n") else {
            return rest;
        };
        pos += end + 2;
        if !matches!(rest.get(pos), Some(b' ') | Some(b'\t')) {
            return &rest[pos..];
        }
    }
}

/// The first index of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Bytes shown with escapes, for assertion messages.
pub fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).escape_debug().to_string()
}
