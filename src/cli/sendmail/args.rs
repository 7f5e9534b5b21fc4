//! The sendmail command line, parsed by hand: sendmail's options are single
//! dashes with values attached or separate (`-fuser@x`, `-f user@x`) and
//! the `-o*` family (`-oi`, `-odi`, `-oem`), which no derive parser reads.

use std::path::PathBuf;

/// What the command line asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Args {
    /// `-t`: recipients from the To, Cc and Bcc headers too.
    pub from_headers: bool,
    /// `-f ADDR` / `-r ADDR`: the envelope sender; `Some("")` is the null sender.
    pub sender: Option<String>,
    /// `-F NAME`: the full name for an added From header.
    pub full_name: Option<String>,
    /// `-i` / `-oi`: a line holding a single `.` does not end the input.
    pub ignore_dots: bool,
    /// `-v`: the SMTP dialog on stderr.
    pub verbose: bool,
    /// `-C FILE`: the Portcullis configuration file.
    pub config: Option<PathBuf>,
    /// `-B 8BITMIME` (the body is 8-bit, whatever it looks like).
    pub eight_bit: bool,
    /// Recipients given as arguments (comma-separated lists split).
    pub recipients: Vec<String>,
}

/// A command line sendmail cannot run: exit 64 (EX_USAGE) with this sentence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Usage(pub String);

/// Options taking a value that is ignored (attached or the next argument):
/// `-N dsn`, `-R ret`, `-V envid`, `-h hops`, `-L tag`, `-X log`, `-q…` is not
/// one of them (queue runs are refused).
const IGNORED_WITH_VALUE: &[char] = &['N', 'R', 'V', 'h', 'L', 'X'];
/// Harmless flags without a value: `-m` (me too), `-n` (no aliasing), `-U`
/// (initial submission), `-G` (gateway), `-x`/`-d…` are not among them.
const IGNORED_FLAGS: &[char] = &['m', 'n', 'U', 'G'];

/// Parses the arguments after the program (or subcommand) name. Options
/// end at `--` or at the first argument not starting with `-`.
pub(super) fn parse(argv: &[String]) -> Result<Args, Usage> {
    let mut args = Args::default();
    let mut i = 0;
    while i < argv.len() {
        let arg = &argv[i];
        i += 1;
        if arg == "--" {
            break;
        }
        let Some(opt) = arg.strip_prefix('-').filter(|o| !o.is_empty()) else {
            i -= 1;
            break;
        };
        let mut chars = opt.chars();
        let flag = chars.next().unwrap_or('-');
        let attached: String = chars.collect();
        // The value of an option that takes one: attached, else the next argument.
        let mut value = |name: &str| -> Result<String, Usage> {
            if !attached.is_empty() {
                return Ok(attached.clone());
            }
            let v = argv
                .get(i)
                .cloned()
                .ok_or_else(|| Usage(format!("option -{name} needs a value")))?;
            i += 1;
            Ok(v)
        };
        match flag {
            't' if attached.is_empty() => args.from_headers = true,
            'i' if attached.is_empty() => args.ignore_dots = true,
            'v' if attached.is_empty() => args.verbose = true,
            'f' | 'r' => args.sender = Some(clean_sender(&value(&flag.to_string())?)),
            'F' => args.full_name = Some(value("F")?),
            'C' => args.config = Some(PathBuf::from(value("C")?)),
            'B' => {
                let body = value("B")?;
                match body.to_ascii_uppercase().as_str() {
                    "8BITMIME" => args.eight_bit = true,
                    "7BIT" => {}
                    _ => return Err(Usage(format!("-B {body}: expected 7BIT or 8BITMIME"))),
                }
            }
            'b' => match attached.as_str() {
                // -bm: read a message and deliver it (the default mode).
                "m" => {}
                "s" => {
                    return Err(Usage(
                        "-bs (SMTP on standard input) is not supported: connect to the smtp listener instead"
                            .into(),
                    ))
                }
                "p" => return Err(Usage("-bp is not supported: use `portcullis queue list`".into())),
                other => {
                    return Err(Usage(format!(
                        "-b{other} is not supported (only -bm, the default, is)"
                    )))
                }
            },
            // -oi is -i; every other -o option (-odi, -oem, -oQ/dir…) is a
            // setting of the classic sendmail that has no meaning here.
            'o' => {
                if attached == "i" {
                    args.ignore_dots = true;
                } else if attached.is_empty() {
                    return Err(Usage("option -o needs a setting (e.g. -oi)".into()));
                }
            }
            c if IGNORED_WITH_VALUE.contains(&c) => {
                value(&c.to_string())?;
            }
            c if IGNORED_FLAGS.contains(&c) && attached.is_empty() => {}
            'q' => {
                return Err(Usage(
                    "-q (queue runs) is not supported: use `portcullis queue flush`".into(),
                ))
            }
            _ => {
                return Err(Usage(format!(
                    "unknown option {arg} (supported: -t, -f ADDR, -F NAME, -i, -oi, -bm, -v, -C FILE, -B TYPE, and the ignored -o*, -m, -n, -U, -N, -R, -V, -h)"
                )))
            }
        }
    }
    for rest in &argv[i..] {
        args.recipients.extend(
            rest.split(',')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_string),
        );
    }
    Ok(args)
}

/// `-f <user@x>` and `-f user@x` are the same sender; `-f <>` and `-f ""`
/// are the null sender.
fn clean_sender(s: &str) -> String {
    let s = s.trim();
    s.strip_prefix('<')
        .and_then(|r| r.strip_suffix('>'))
        .unwrap_or(s)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::{parse, Args};

    fn p(args: &[&str]) -> Result<Args, String> {
        let v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse(&v).map_err(|u| u.0)
    }

    #[test]
    fn values_attached_or_separate() {
        let a = p(&["-fcron@example.org", "-F", "Cron Daemon", "alice@x"]).unwrap();
        assert_eq!(a.sender.as_deref(), Some("cron@example.org"));
        assert_eq!(a.full_name.as_deref(), Some("Cron Daemon"));
        assert_eq!(a.recipients, ["alice@x"]);
        let b = p(&["-f", "<>", "-t"]).unwrap();
        assert_eq!(b.sender.as_deref(), Some(""));
        assert!(b.from_headers);
        assert_eq!(p(&["-r", "<x@y>"]).unwrap().sender.as_deref(), Some("x@y"));
    }

    #[test]
    fn the_o_family_is_ignored_except_oi() {
        let a = p(&["-oi", "-odi", "-oem", "-oQ/var/spool", "-bm", "bob"]).unwrap();
        assert!(a.ignore_dots);
        assert_eq!(a.recipients, ["bob"]);
        assert!(!p(&["-odb", "bob"]).unwrap().ignore_dots);
        assert!(p(&["-i", "bob"]).unwrap().ignore_dots);
    }

    #[test]
    fn ignored_options_swallow_their_values() {
        let a = p(&["-N", "never", "-Rhdrs", "-V", "envid", "-U", "-m", "carol"]).unwrap();
        assert_eq!(a.recipients, ["carol"]);
    }

    #[test]
    fn recipients_split_on_commas_and_options_end_at_the_first_address() {
        let a = p(&["a@x,b@y", "c@z", "-t"]).unwrap();
        assert_eq!(a.recipients, ["a@x", "b@y", "c@z", "-t"]);
        assert!(!a.from_headers);
        let b = p(&["--", "-weird@x"]).unwrap();
        assert_eq!(b.recipients, ["-weird@x"]);
    }

    #[test]
    fn unknown_and_unsupported_options_are_refused_with_a_sentence() {
        assert!(p(&["-x", "a@b"])
            .unwrap_err()
            .starts_with("unknown option -x"));
        assert!(p(&["-tx"]).unwrap_err().starts_with("unknown option -tx"));
        assert!(p(&["-bs"]).unwrap_err().contains("not supported"));
        assert!(p(&["-bp"]).unwrap_err().contains("portcullis queue list"));
        assert!(p(&["-q"]).unwrap_err().contains("queue flush"));
        assert_eq!(p(&["-f"]).unwrap_err(), "option -f needs a value");
        assert!(p(&["-B", "BINARY"])
            .unwrap_err()
            .contains("7BIT or 8BITMIME"));
    }
}
