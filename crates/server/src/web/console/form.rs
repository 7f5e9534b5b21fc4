//! Console form bodies (`application/x-www-form-urlencoded`), and the
//! relay-list edits they ask for.

use portcullis_config::EditOp;
use ring::digest::{digest, SHA256};

/// A parsed form body: its fields in order.
#[derive(Debug, Default)]
pub(crate) struct Form(Vec<(String, String)>);

impl Form {
    /// Parses a urlencoded body; malformed escapes decode leniently, as
    /// browsers send nothing else.
    pub(crate) fn parse(body: &[u8]) -> Form {
        Form(form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of `name`, if present.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name` trimmed, or the sentence saying it is missing.
    pub(crate) fn required(&self, name: &str) -> Result<&str, String> {
        match self.get(name).map(str::trim) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(format!("the field \"{name}\" is empty")),
        }
    }

    /// Every value of `name`, in order (a list posted as repeated fields).
    pub(crate) fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Whether a checkbox is ticked (a browser sends unticked ones not at all).
    pub(crate) fn checked(&self, name: &str) -> bool {
        self.get(name) == Some("on")
    }
}

/// One change to the ordered relay allow list, as the Relay screen asks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ListEdit {
    /// Append an entry.
    Add(String),
    /// Remove the entry at this index.
    Remove(usize),
    /// Swap the entry with the one above it (it is decided earlier).
    Up(usize),
    /// Swap the entry with the one below it.
    Down(usize),
}

impl ListEdit {
    /// The edit a form posted to `/console/relay/{action}` asks for.
    pub(crate) fn from_form(action: &str, form: &Form) -> Result<ListEdit, String> {
        if action == "add" {
            return Ok(ListEdit::Add(form.required("entry")?.to_string()));
        }
        let raw = form.required("index")?;
        let index = raw
            .parse()
            .map_err(|_| format!("the index \"{raw}\" is not a number"))?;
        match action {
            "remove" => Ok(ListEdit::Remove(index)),
            "up" => Ok(ListEdit::Up(index)),
            "down" => Ok(ListEdit::Down(index)),
            other => Err(format!("unknown relay list action \"{other}\"")),
        }
    }

    /// The list after this edit, and a sentence saying what changed; or why
    /// the edit does not apply to `list`. The result is still validated by
    /// the admin API when it is saved, exactly as `config set` validates it.
    pub(crate) fn apply(&self, list: &[String]) -> Result<(Vec<String>, String), String> {
        let mut out = list.to_vec();
        let entry = |i: usize| {
            list.get(i).ok_or_else(|| {
                format!(
                    "there is no relay.allow[{i}]: the list has {} entries",
                    list.len()
                )
            })
        };
        let said = match self {
            ListEdit::Add(raw) => {
                out.push(raw.clone());
                format!("add relay.allow[{}] {raw:?}", list.len())
            }
            ListEdit::Remove(i) => {
                let raw = entry(*i)?;
                out.remove(*i);
                format!("remove relay.allow[{i}] {raw:?}")
            }
            ListEdit::Up(i) | ListEdit::Down(i) => {
                let raw = entry(*i)?;
                let other = match self {
                    ListEdit::Up(_) => i.checked_sub(1),
                    _ => Some(i + 1).filter(|j| *j < list.len()),
                }
                .ok_or_else(|| format!("relay.allow[{i}] {raw:?} cannot move further"))?;
                out.swap(*i, other);
                let (dir, them) = if other < *i {
                    ("above", &list[other])
                } else {
                    ("below", &list[other])
                };
                format!("move relay.allow[{i}] {raw:?} {dir} {them:?}")
            }
        };
        Ok((out, said))
    }
}

/// The `config` edit a form on the domains screen asks for: `kind` is
/// `domain`, `alias` or `route`, `action` is `add` or `remove`.
pub(crate) fn domain_edit(kind: &str, action: &str, form: &Form) -> Result<EditOp, String> {
    let name = form.required("name")?.to_string();
    let value = || form.required("value").map(str::to_string);
    match (kind, action) {
        ("domain", "add") => Ok(EditOp::Add("local_domains".into(), vec![name])),
        ("domain", "remove") => Ok(EditOp::Remove("local_domains".into(), vec![name])),
        ("alias", "add") => {
            let targets = value()?
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect();
            Ok(EditOp::Set(format!("aliases.{name}"), targets))
        }
        ("route", "add") => Ok(EditOp::Set(format!("routes.{name}"), vec![value()?])),
        ("alias", "remove") => Ok(EditOp::Unset(format!("aliases.{name}"))),
        ("route", "remove") => Ok(EditOp::Unset(format!("routes.{name}"))),
        _ => Err(format!("unknown edit \"{kind}/{action}\"")),
    }
}

/// The `config` edit a form on the Settings screen asks for: `set` takes
/// the field as `config set KEY VALUE...` takes its words (a list's values
/// separated by spaces, anything else as one value); `unset` puts the
/// default back. The key and value are judged by the admin API, not here.
pub(crate) fn setting_edit(action: &str, form: &Form) -> Result<EditOp, String> {
    let key = form.required("key")?.to_string();
    let value = form.get("value").unwrap_or_default().trim();
    match action {
        "set" => {
            let is_list = portcullis_config::keys::lookup(&key).is_some_and(|k| k.kind.is_list());
            let values = if is_list {
                value.split_whitespace().map(str::to_string).collect()
            } else {
                vec![value.to_string()]
            };
            Ok(EditOp::Set(key, values))
        }
        "unset" => Ok(EditOp::Unset(key)),
        other => Err(format!("unknown settings action \"{other}\"")),
    }
}

/// A fingerprint of the list a preview was made from. Saving checks it, so
/// an edit previewed against a list another admin has since changed is
/// refused instead of silently undoing that admin's change.
pub(crate) fn fingerprint(list: &[String]) -> String {
    let mut bytes = Vec::new();
    for entry in list {
        // Length-prefixed so ["a,b"] and ["a", "b"] differ.
        bytes.extend_from_slice(&(entry.len() as u64).to_be_bytes());
        bytes.extend_from_slice(entry.as_bytes());
    }
    digest(&SHA256, &bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> Vec<String> {
        entries.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn fields_are_decoded_and_checkboxes_read() {
        let form = Form::parse(b"entry=192.168.40-43.%2A&csrf=ab+c&restricted=on&empty=+");
        assert_eq!(form.get("entry"), Some("192.168.40-43.*"));
        assert_eq!(form.get("csrf"), Some("ab c"));
        assert!(form.checked("restricted"));
        assert!(!form.checked("local_only"));
        assert_eq!(
            form.required("empty"),
            Err("the field \"empty\" is empty".into())
        );
        assert_eq!(
            form.required("missing"),
            Err("the field \"missing\" is empty".into())
        );
    }

    #[test]
    fn an_exception_added_then_moved_up_is_decided_first() {
        let start = list(&["192.168.40-43.*"]);
        let add = ListEdit::from_form("add", &Form::parse(b"entry=%21192.168.41.7")).unwrap();
        let (added, said) = add.apply(&start).unwrap();
        assert_eq!(added, list(&["192.168.40-43.*", "!192.168.41.7"]));
        assert_eq!(said, r#"add relay.allow[1] "!192.168.41.7""#);
        let up = ListEdit::from_form("up", &Form::parse(b"index=1")).unwrap();
        let (moved, said) = up.apply(&added).unwrap();
        assert_eq!(moved, list(&["!192.168.41.7", "192.168.40-43.*"]));
        assert_eq!(
            said,
            r#"move relay.allow[1] "!192.168.41.7" above "192.168.40-43.*""#
        );
        let (back, _) = ListEdit::Down(0).apply(&moved).unwrap();
        assert_eq!(back, added);
        let (removed, said) = ListEdit::Remove(0).apply(&moved).unwrap();
        assert_eq!(removed, start);
        assert_eq!(said, r#"remove relay.allow[0] "!192.168.41.7""#);
    }

    #[test]
    fn edits_that_do_not_apply_say_why() {
        let l = list(&["a.example", "b.example"]);
        assert_eq!(
            ListEdit::Up(0).apply(&l),
            Err(r#"relay.allow[0] "a.example" cannot move further"#.into())
        );
        assert_eq!(
            ListEdit::Down(1).apply(&l),
            Err(r#"relay.allow[1] "b.example" cannot move further"#.into())
        );
        assert_eq!(
            ListEdit::Remove(2).apply(&l),
            Err("there is no relay.allow[2]: the list has 2 entries".into())
        );
        let bad = Form::parse(b"index=two");
        assert_eq!(
            ListEdit::from_form("up", &bad),
            Err("the index \"two\" is not a number".into())
        );
        assert!(ListEdit::from_form("add", &Form::parse(b"entry=")).is_err());
        assert!(ListEdit::from_form("sideways", &Form::parse(b"index=0")).is_err());
    }

    #[test]
    fn domain_forms_become_config_edits() {
        let f = Form::parse(b"name=example.net&value=bob%2C+carol@example.org");
        assert_eq!(
            domain_edit("domain", "add", &f),
            Ok(EditOp::Add(
                "local_domains".into(),
                vec!["example.net".into()]
            ))
        );
        assert_eq!(
            domain_edit("alias", "add", &f),
            Ok(EditOp::Set(
                "aliases.example.net".into(),
                vec!["bob".into(), "carol@example.org".into()]
            ))
        );
        assert_eq!(
            domain_edit("route", "remove", &f),
            Ok(EditOp::Unset("routes.example.net".into()))
        );
        let no_value = Form::parse(b"name=example.net");
        assert_eq!(
            domain_edit("route", "add", &no_value),
            Err("the field \"value\" is empty".into())
        );
        assert!(domain_edit("zone", "add", &f).is_err());
    }

    #[test]
    fn settings_forms_become_config_edits_in_the_command_lines_words() {
        let list = Form::parse(b"key=auth.mechanisms&value=+CRAM-MD5++PLAIN+");
        assert_eq!(
            setting_edit("set", &list),
            Ok(EditOp::Set(
                "auth.mechanisms".into(),
                vec!["CRAM-MD5".into(), "PLAIN".into()]
            ))
        );
        let one = Form::parse(b"key=relay.smarthost&value=+mx.example.net%3A587+");
        assert_eq!(
            setting_edit("set", &one),
            Ok(EditOp::Set(
                "relay.smarthost".into(),
                vec!["mx.example.net:587".into()]
            ))
        );
        assert_eq!(
            setting_edit("unset", &list),
            Ok(EditOp::Unset("auth.mechanisms".into()))
        );
        assert_eq!(
            setting_edit("set", &Form::parse(b"value=x")),
            Err("the field \"key\" is empty".into())
        );
        assert!(setting_edit("toggle", &list).is_err());
    }

    #[test]
    fn the_fingerprint_changes_with_the_list() {
        let a = fingerprint(&list(&["a", "b"]));
        assert_eq!(a, fingerprint(&list(&["a", "b"])));
        assert_ne!(a, fingerprint(&list(&["b", "a"])));
        assert_ne!(a, fingerprint(&list(&["a,b"])));
        assert_ne!(a, fingerprint(&list(&["ab"])));
    }
}
