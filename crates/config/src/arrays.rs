//! Editing a TOML array in place without disturbing its layout: a value
//! appended to a one-per-line list goes on a line of its own with the same
//! indentation, a removed value takes its own line comment with it, and the
//! comments of its neighbours stay where they were.
//!
//! toml_edit stores the text around each element as its prefix and suffix
//! (white space, newlines and comments), and what follows the last element as
//! the array's trailing text. A comment at the end of an element's line is
//! therefore in the *next* element's prefix (or in the trailing text), up to
//! its first newline.

use toml_edit::{Array, RawString, Value};

/// Appends `value`, laid out like the elements already there.
pub(crate) fn push_styled(array: &mut Array, value: &str) {
    normalize_last_suffix(array);
    if array.is_empty() {
        array.push(value);
        return;
    }
    let mut item = Value::from(value);
    if is_multiline(array) {
        let trailing = raw(Some(array.trailing()));
        let (line_end, rest) = split_first_line(&trailing);
        // The comment ending the old last line stays on that line.
        item.decor_mut()
            .set_prefix(format!("{line_end}\n{}", indent(array)));
        item.decor_mut().set_suffix("");
        array.push_formatted(item);
        array.set_trailing(rest);
    } else {
        item.decor_mut().set_prefix(" ");
        item.decor_mut().set_suffix("");
        array.push_formatted(item);
    }
}

/// Removes the element at `index`, with the comment at the end of its line.
pub(crate) fn remove_styled(array: &mut Array, index: usize) {
    normalize_last_suffix(array);
    let removed_prefix = raw(array.get(index).and_then(|v| v.decor().prefix()));
    let (before, _) = split_first_line(&removed_prefix);
    let before = before.to_string();
    array.remove(index);
    if array.is_empty() {
        array.set_trailing("");
        array.set_trailing_comma(false);
        return;
    }
    if let Some(next) = array.get_mut(index) {
        // `before` ends the previous element's line (or follows `[`); what
        // followed the removed element on its line is dropped with it.
        let next_prefix = raw(next.decor().prefix());
        let (_, rest) = split_first_line(&next_prefix);
        next.decor_mut().set_prefix(format!("{before}{rest}"));
    } else {
        let trailing = raw(Some(array.trailing()));
        let (_, rest) = split_first_line(&trailing);
        let keep = if before.contains('#') {
            before
        } else {
            String::new()
        };
        array.set_trailing(format!("{keep}{rest}"));
    }
}

/// A new array holding `values`, laid out like `like` (one per line with its
/// indentation, or inline).
pub(crate) fn array_like(values: &[String], like: Option<&Array>) -> Array {
    let mut array = Array::new();
    match like.filter(|a| is_multiline(a) && !values.is_empty()) {
        Some(old) => {
            let indent = indent(old);
            for v in values {
                let mut item = Value::from(v.as_str());
                item.decor_mut().set_prefix(format!("\n{indent}"));
                item.decor_mut().set_suffix("");
                array.push_formatted(item);
            }
            let old_trailing = raw(Some(old.trailing()));
            let closing = old_trailing.rsplit('\n').next().unwrap_or("");
            array.set_trailing(format!("\n{closing}"));
            array.set_trailing_comma(true);
        }
        None => {
            for v in values {
                array.push(v.as_str());
            }
        }
    }
    array
}

/// True when the elements are laid out one (or more) per line.
fn is_multiline(array: &Array) -> bool {
    array
        .iter()
        .any(|v| raw(v.decor().prefix()).contains('\n') || raw(v.decor().suffix()).contains('\n'))
        || raw(Some(array.trailing())).contains('\n')
}

/// The indentation of the last element that starts a line, or four spaces.
fn indent(array: &Array) -> String {
    array
        .iter()
        .filter_map(|v| {
            let prefix = raw(v.decor().prefix());
            prefix.rfind('\n').map(|i| prefix[i + 1..].to_string())
        })
        .last()
        .unwrap_or_else(|| "    ".to_string())
}

/// Without a trailing comma, the text after the last element is split
/// between its suffix and the array's trailing text; gather it into the
/// trailing text so the other functions see one layout.
fn normalize_last_suffix(array: &mut Array) {
    if array.trailing_comma() {
        return;
    }
    let trailing = raw(Some(array.trailing()));
    let Some(last) = array.len().checked_sub(1).and_then(|i| array.get_mut(i)) else {
        return;
    };
    let suffix = raw(last.decor().suffix());
    if suffix.is_empty() {
        return;
    }
    last.decor_mut().set_suffix("");
    array.set_trailing(format!("{suffix}{trailing}"));
}

/// (the rest of the current line, the text from the first newline on).
fn split_first_line(s: &str) -> (&str, &str) {
    match s.find('\n') {
        Some(i) => s.split_at(i),
        None => (s, ""),
    }
}

/// The text of a decor part; a part toml_edit has not set is empty.
fn raw(part: Option<&RawString>) -> String {
    part.and_then(RawString::as_str).unwrap_or("").to_string()
}
