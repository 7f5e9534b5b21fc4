//! The AUTH brute-force defence over the edge (issue 4 §4), through the real
//! binary: failure replies are delayed after `delay_after` failures, the
//! client gets `421 4.7.0` after `ban_after` and its address is refused at
//! connect for `ban_seconds`, shown by `portcullis status` and logged with
//! reason and expiry; a user name attacked from many addresses is cut off
//! without banning them; successes are never slowed; addresses in
//! `relay.allow` or `auth.never_ban` are delayed like anyone (at most 5 s
//! a reply) but never banned or cut off, with the embedded defaults too;
//! everyone else goes on being served. Password checks (Argon2) run a
//! bounded number at a time: past `limits.password_checks` running and
//! `limits.password_checks_waiting` waiting, AUTH gets `454 4.7.0`.

use portcullis_testkit as common;
use portcullis_testkit::auth_support;

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};

use auth_support::{server_with, Smtp, TlsOptions, ALICE_PW};
use common::{describe, Server};

/// Small numbers so the test is quick: delays from the third failure
/// (1 s, then 2 s), a ban at the fourth.
const THROTTLE: &str = "[auth]\n\
delay_after = 2\n\
delay_seconds = 1\n\
ban_after = 4\n\
ban_seconds = 60\n\
window_seconds = 300\n\
never_ban = [\"127.0.77.0/24\"]\n";

/// Below this a reply was not delayed (the delay step is 1 s).
const PROMPT: Duration = Duration::from_millis(800);

const REFUSAL: &str = "421 4.7.0 Too many authentication failures, try again later";

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// A submission session from `src`, past EHLO.
fn session(server: &Server, src: Ipv4Addr) -> Smtp {
    let mut c = Smtp::plain(src, server.submission_port).greeted();
    c.ehlo("client.test");
    c
}

/// One failed CRAM-MD5 login as `user`: the reply and how long it took.
fn fail(c: &mut Smtp, user: &str) -> ((u16, String), Duration) {
    let start = Instant::now();
    let reply = c.auth_cram_md5(user, "not-the-password");
    (reply, start.elapsed())
}

/// The first thing a new connection from `src` to `port` hears.
fn first_words(src: Ipv4Addr, port: u16) -> (u16, String) {
    let mut c = Smtp::plain(src, port);
    c.read_reply()
}

#[test]
fn failures_are_delayed_then_421_and_the_address_is_refused_at_connect() {
    let server = server_with(THROTTLE, &[]);
    let attacker = ip("127.0.66.6");
    let mut c = session(&server, attacker);
    for n in 1..=2 {
        let ((code, _), took) = fail(&mut c, "alice");
        assert_eq!(code, 535);
        assert!(took < PROMPT, "failure {n} was delayed: {took:?}");
    }
    let ((code, _), took) = fail(&mut c, "alice");
    assert_eq!(code, 535);
    assert!(
        took >= Duration::from_secs(1),
        "third failure not delayed: {took:?}"
    );
    // The fourth: its 535, then the 421, then the server hangs up.
    let ((code, text), _) = fail(&mut c, "alice");
    assert_eq!(code, 535, "{text}");
    let (code, text) = c.read_reply();
    assert_eq!((code, text.as_str()), (421, REFUSAL));
    assert!(c.try_read_reply(Duration::from_secs(2)).is_err());

    // New connections from that address hear the 421 instead of a greeting,
    // on every listener (implicit TLS after the handshake).
    for port in [server.smtp_port, server.submission_port] {
        let (code, text) = first_words(attacker, port);
        assert_eq!((code, text.as_str()), (421, REFUSAL), "port {port}");
    }
    let opts = TlsOptions::for_server(&server);
    let mut tls = Smtp::implicit_tls(attacker, server.submissions_port, &opts);
    assert_eq!(tls.read_reply().1, REFUSAL);

    // Everybody else is served: a login and a message from a neighbour.
    let mut other = session(&server, ip("127.0.66.7"));
    assert_eq!(other.auth_cram_md5("alice", ALICE_PW).0, 235);
    other.expect("MAIL FROM:<alice@local.test>", 250, "2.1.0");
    other.expect("RCPT TO:<someone@example.org>", 250, "2.1.5");

    // The ban shows in `portcullis status`, and in the log with reason and expiry.
    let out = server.cli(&["status"]);
    assert!(out.status.success(), "{}", describe(&out));
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(status.contains("auth bans: 1"), "{status}");
    let line = status
        .lines()
        .find(|l| l.starts_with("auth ban: 127.0.66.6 until "))
        .unwrap_or_else(|| panic!("no ban line in {status}"));
    assert!(
        line.contains("4 failed AUTH attempts from 127.0.66.6"),
        "{line}"
    );
    let log = server.log();
    let ban_log = log
        .lines()
        .find(|l| l.contains("AUTH ban"))
        .unwrap_or_else(|| panic!("no ban in the log:\n{log}"));
    assert!(
        ban_log.contains("until=") && ban_log.contains("reason=") && ban_log.contains("127.0.66.6"),
        "{ban_log}"
    );

    // A reload keeps the bans.
    let out = server.cli(&["reload"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(first_words(attacker, server.smtp_port).1, REFUSAL);
}

/// Bans at the second failure, delays from the fourth: an exempt client
/// shows the two rules apart.
const EXEMPT_THROTTLE: &str = "[auth]\n\
delay_after = 3\n\
delay_seconds = 1\n\
ban_after = 2\n\
ban_seconds = 60\n\
never_ban = [\"127.0.77.0/24\"]\n";

#[test]
fn exempt_addresses_are_delayed_but_never_banned_or_cut_off() {
    let server = server_with(EXEMPT_THROTTLE, &[]);
    // 127.0.0.1 is in relay.allow, 127.0.77.7 in auth.never_ban.
    // (Each tries its own wrong name: failures on one name count for all.)
    for (operator, name) in [(ip("127.0.0.1"), "root"), (ip("127.0.77.7"), "admin")] {
        let mut c = session(&server, operator);
        for n in 1..=5u32 {
            let ((code, text), took) = fail(&mut c, name);
            assert_eq!(code, 535, "{operator} failure {n}: {text}");
            if n <= 3 {
                assert!(took < PROMPT, "{operator} failure {n} delayed: {took:?}");
            } else {
                let expected = Duration::from_secs(u64::from(n - 3));
                assert!(took >= expected, "{operator} failure {n}: {took:?}");
            }
        }
        // Still connected, still able to log in, and welcome next time.
        assert_eq!(c.auth_cram_md5("alice", ALICE_PW).0, 235);
        assert_eq!(first_words(operator, server.smtp_port).0, 220);
    }
    // A client outside both lists is banned at its second failure.
    let outsider = ip("127.0.66.5");
    let mut c = session(&server, outsider);
    assert_eq!(fail(&mut c, "nobody").0 .0, 535);
    assert_eq!(fail(&mut c, "nobody").0 .0, 535);
    assert_eq!(c.read_reply().1, REFUSAL);
    assert_eq!(first_words(outsider, server.smtp_port).1, REFUSAL);
    let out = server.cli(&["status"]);
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(status.contains("auth bans: 1"), "{status}");
    assert!(status.contains("auth ban: 127.0.66.5 until "), "{status}");
    assert!(server.log().contains("exempt from bans"));
}

#[test]
fn the_default_config_delays_repeated_failures_from_127_0_0_1_but_keeps_serving_it() {
    // No [auth] override: delays after 3 failures, growing by 2 s.
    let server = server_with("", &[]);
    let operator = ip("127.0.0.1");
    let mut c = session(&server, operator);
    for n in 1..=3 {
        let ((code, text), took) = fail(&mut c, "root");
        assert_eq!(code, 535, "failure {n}: {text}");
        assert!(took < PROMPT, "failure {n} delayed: {took:?}");
    }
    for (n, at_least) in [(4, 2), (5, 4)] {
        let ((code, text), took) = fail(&mut c, "root");
        assert_eq!(code, 535, "failure {n}: {text}");
        assert!(
            took >= Duration::from_secs(at_least),
            "failure {n} from 127.0.0.1 not throttled: {took:?}"
        );
    }
    // Never cut off: the same connection logs in, the next one is greeted.
    assert_eq!(c.auth_cram_md5("alice", ALICE_PW).0, 235);
    assert_eq!(first_words(operator, server.smtp_port).0, 220);
    assert!(server.log().contains("exempt from bans"));
}

/// A 20 s step: the second failure would wait 20 s, but an exempt client
/// waits at most 5 s. AUTH PLAIN in clear keeps the raw client below simple.
const STEEP_THROTTLE: &str = "[auth]\n\
plaintext_requires_tls = false\n\
delay_after = 1\n\
delay_seconds = 20\n\
ban_after = 2\n\
ban_seconds = 60\n";

/// A plain session from 127.0.0.1 (the harness's relay.allow) whose reads
/// wait 15 s: the shared client gives up after 5 s, the exempt cap itself.
struct Patient {
    reader: BufReader<TcpStream>,
}

impl Patient {
    fn connect(port: u16) -> Patient {
        let tcp = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let mut p = Patient {
            reader: BufReader::new(tcp),
        };
        assert_eq!(p.reply().0, 220);
        assert_eq!(p.cmd("EHLO client.test").0, 250);
        p
    }

    /// The code and last line of one (multi-line) reply.
    fn reply(&mut self) -> (u16, String) {
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).unwrap();
            assert!(line.len() >= 4, "short reply line {line:?}");
            if line.as_bytes()[3] == b' ' {
                return (line[..3].parse().unwrap(), line.trim_end().to_string());
            }
        }
    }

    fn cmd(&mut self, line: &str) -> (u16, String) {
        self.reader
            .get_mut()
            .write_all(format!("{line}\r\n").as_bytes())
            .unwrap();
        self.reply()
    }

    /// `AUTH PLAIN` with an initial response: the reply and how long it took.
    fn plain(&mut self, user: &str, password: &str) -> ((u16, String), Duration) {
        let start = Instant::now();
        let token = auth_support::b64(format!("\0{user}\0{password}"));
        let reply = self.cmd(&format!("AUTH PLAIN {token}"));
        (reply, start.elapsed())
    }
}

#[test]
fn an_exempt_clients_delay_stops_at_5_seconds_while_others_are_banned() {
    let server = server_with(STEEP_THROTTLE, &[]);
    let mut c = Patient::connect(server.submission_port);
    let ((code, _), took) = c.plain("root", "wrong-1");
    assert_eq!(code, 535);
    assert!(took < PROMPT, "first failure delayed: {took:?}");
    // Past ban_after, with 20 s due: 535 after about 5 s, and no 421.
    for n in 2..=3 {
        let ((code, text), took) = c.plain("root", &format!("wrong-{n}"));
        assert_eq!(code, 535, "failure {n}: {text}");
        assert!(
            took >= Duration::from_millis(4900) && took < Duration::from_secs(10),
            "failure {n} of an exempt client took {took:?}"
        );
    }
    let ((code, text), took) = c.plain("alice", ALICE_PW);
    assert_eq!(code, 235, "{text}");
    assert!(took < PROMPT, "the success was slowed: {took:?}");
    assert_eq!(first_words(ip("127.0.0.1"), server.smtp_port).0, 220);
    // The same settings ban an unlisted client at its second failure,
    // without making it wait first (two names: no user name's delay is due).
    let outsider = ip("127.0.66.4");
    let mut c = session(&server, outsider);
    assert_eq!(fail(&mut c, "nobody1").0 .0, 535);
    let start = Instant::now();
    assert_eq!(fail(&mut c, "nobody2").0 .0, 535);
    assert_eq!(c.read_reply().1, REFUSAL);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(first_words(outsider, server.smtp_port).1, REFUSAL);
    let log = server.log();
    assert!(log.contains("delay_ms=5000"), "{log}");
    assert!(!log.contains("delay_ms=20000"), "{log}");
}

#[test]
fn a_success_is_never_slowed_and_starts_the_address_afresh() {
    let server = server_with(THROTTLE, &[]);
    let client = ip("127.0.66.8");
    let mut c = session(&server, client);
    // Different names each time: only the address's count grows.
    for user in ["nobody1", "nobody2"] {
        assert_eq!(fail(&mut c, user).0 .0, 535);
    }
    let start = Instant::now();
    assert_eq!(c.auth_cram_md5("alice", ALICE_PW).0, 235);
    assert!(start.elapsed() < PROMPT, "the success was slowed");
    // Without the reset the next two failures would be delayed and banned.
    let mut c = session(&server, client);
    for user in ["nobody3", "nobody4"] {
        let ((code, _), took) = fail(&mut c, user);
        assert_eq!(code, 535);
        assert!(took < PROMPT, "{user}: {took:?}");
    }
    assert_eq!(first_words(client, server.smtp_port).0, 220);
}

#[test]
fn a_user_attacked_from_many_addresses_is_cut_off_without_banning_them() {
    let server = server_with(THROTTLE, &[("bob", "bob-Pw-2")]);
    let attackers: Vec<Ipv4Addr> = (1..=4).map(|i| Ipv4Addr::new(127, 0, 68, i)).collect();
    let mut timings = Vec::new();
    let mut last = None;
    for src in &attackers {
        let mut c = session(&server, *src);
        let ((code, _), took) = fail(&mut c, "bob");
        assert_eq!(code, 535);
        timings.push(took);
        last = Some(c);
    }
    assert!(timings[0] < PROMPT && timings[1] < PROMPT, "{timings:?}");
    assert!(timings[2] >= Duration::from_secs(1), "{timings:?}");
    // The fourth failure on "bob" closes that connection...
    let mut c = last.unwrap();
    assert_eq!(c.read_reply().1, REFUSAL);
    // ...but bans no address: each may connect again.
    for src in &attackers {
        assert_eq!(first_words(*src, server.smtp_port).0, 220, "{src}");
    }
    // And bob himself, with his password, is never refused.
    let mut c = session(&server, ip("127.0.68.9"));
    assert_eq!(c.auth_scram_sha256("bob", "bob-Pw-2").0, 235);
}

#[test]
fn a_user_names_delay_keeps_growing_past_ban_after_for_guesses_from_fresh_addresses() {
    // One guess per fresh address: no address count ever grows, so only the
    // name's count holds the guesser back, and past ban_after (4) it must
    // go on doing so: 1 s at the third failure, 2 s at the fourth, 3 s at
    // the fifth, each closing reply included.
    let server = server_with(THROTTLE, &[]);
    let mut took = Vec::new();
    for i in 1..=5 {
        let mut c = session(&server, Ipv4Addr::new(127, 0, 69, i));
        let ((code, text), t) = fail(&mut c, "carol");
        assert_eq!(code, 535, "guess {i}: {text}");
        took.push(t);
        if i >= 4 {
            assert_eq!(c.read_reply().1, REFUSAL, "guess {i}");
        }
    }
    assert!(took[0] < PROMPT && took[1] < PROMPT, "{took:?}");
    for (n, want) in [(3, 1), (4, 2), (5, 3)] {
        assert!(
            took[n - 1] >= Duration::from_secs(want) - Duration::from_millis(50),
            "failure {n} on carol answered after {:?}, want {want} s: {took:?}",
            took[n - 1]
        );
    }
}

#[test]
fn pipelined_guesses_stop_at_the_ban_unverified() {
    let server = server_with(THROTTLE, &[]);
    let mut c = session(&server, ip("127.0.66.9"));
    c.starttls(&TlsOptions::for_server(&server));
    c.ehlo("client.test");
    // Five wrong passwords and the right one, in one write.
    let mut burst = String::new();
    for i in 1..=5 {
        let guess = auth_support::b64(format!("\0alice\0guess-{i}"));
        burst.push_str(&format!("AUTH PLAIN {guess}\r\n"));
    }
    let right = auth_support::b64(format!("\0alice\0{ALICE_PW}"));
    burst.push_str(&format!("AUTH PLAIN {right}\r\n"));
    c.send(burst.as_bytes());
    let mut codes = Vec::new();
    while let Ok((code, _)) = c.try_read_reply(Duration::from_secs(10)) {
        codes.push(code);
    }
    // The fourth failure bans: nothing behind it is verified, not even the
    // right password.
    assert_eq!(codes, [535, 535, 535, 535, 421], "{}", c.transcript());
}

#[test]
fn password_checks_past_the_running_and_waiting_bounds_get_454() {
    // One check at a time, two waiting: of 16 wrong passwords sent at once
    // (from 16 addresses, each a different name, so no throttle delay),
    // those that find no room get 454 4.7.0 at once instead of a hash.
    let server = server_with(
        "[auth]\nplaintext_requires_tls = false\n\n\
         [limits]\npassword_checks = 1\npassword_checks_waiting = 2\n",
        &[],
    );
    let port = server.submission_port;
    let go = std::sync::Arc::new(std::sync::Barrier::new(16));
    let clients: Vec<_> = (1..=16u8)
        .map(|i| {
            let go = go.clone();
            std::thread::spawn(move || {
                let mut c = Smtp::plain(Ipv4Addr::new(127, 0, 90, i), port).greeted();
                c.ehlo("client.test");
                go.wait();
                c.auth_plain(&format!("nobody{i}"), "wrong")
            })
        })
        .collect();
    let replies: Vec<(u16, String)> = clients.into_iter().map(|t| t.join().unwrap()).collect();
    let busy: Vec<&(u16, String)> = replies.iter().filter(|(code, _)| *code == 454).collect();
    let wrong = replies.iter().filter(|(code, _)| *code == 535).count();
    assert_eq!(busy.len() + wrong, 16, "{replies:?}");
    assert!(
        wrong >= 3,
        "one running and two waiting are checked: {replies:?}"
    );
    assert!(!busy.is_empty(), "no check was refused: {replies:?}");
    assert!(
        busy.iter().all(|(_, text)| text.starts_with("454 4.7.0 ")),
        "{replies:?}"
    );
    // Afterwards the gate is free: a right password logs in.
    let mut c = Smtp::plain(Ipv4Addr::new(127, 0, 90, 100), port).greeted();
    c.ehlo("client.test");
    assert_eq!(c.auth_plain("alice", ALICE_PW).0, 235);
}
