//! The brute-force defence with a clock under the test's control: delays
//! grow, bans start and end, successes are never slowed, IPv6 counts by /64,
//! exempt clients are delayed (less) but never closed or banned, and the
//! tables stay bounded.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::*;
use portcullis_config::Config;
use portcullis_relay::RelayList;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// delay after 3, +2 s each, ban after 6 for 60 s, window 100 s.
fn settings() -> Settings {
    Settings {
        delay_after: 3,
        delay_step: secs(2),
        ban_after: 6,
        ban_for: secs(60),
        window: secs(100),
    }
}

fn fail(t: &mut AuthThrottle, who: &str, user: &str, now: Instant) -> Verdict {
    t.failure(&settings(), ip(who), false, Some(user), now)
}

fn list(entries: &[&str]) -> RelayList {
    let entries: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
    RelayList::compile(&entries, &HashMap::new(), None).0
}

#[test]
fn the_first_failures_are_answered_at_once_then_delays_grow_until_the_ban() {
    let mut t = AuthThrottle::default();
    let now = Instant::now();
    let verdicts: Vec<Verdict> = (0..5)
        .map(|i| fail(&mut t, "192.0.2.7", "alice", now + secs(i)))
        .collect();
    assert_eq!(
        verdicts,
        [
            Verdict::Answer,
            Verdict::Answer,
            Verdict::Answer,
            Verdict::Delay(secs(2)),
            Verdict::Delay(secs(4)),
        ]
    );
    let Verdict::Close {
        reason,
        ban: Some(ban),
        ..
    } = fail(&mut t, "192.0.2.7", "alice", now + secs(5))
    else {
        panic!("the sixth failure bans");
    };
    assert_eq!(ban.client, ClientKey::V4("192.0.2.7".parse().unwrap()));
    assert_eq!(ban.until, now + secs(5) + secs(60));
    assert_eq!(
        reason,
        "6 failed AUTH attempts from 192.0.2.7 within 100s (last user \"alice\")"
    );
    assert_eq!(ban.reason, reason);
}

#[test]
fn a_ban_refuses_the_address_until_it_expires_then_it_starts_afresh() {
    let mut t = AuthThrottle::default();
    let now = Instant::now();
    for i in 0..6 {
        fail(&mut t, "192.0.2.7", "alice", now + secs(i));
    }
    let start = now + secs(5);
    assert!(t.banned(ip("192.0.2.7"), start).is_some());
    assert!(t.banned(ip("192.0.2.7"), start + secs(59)).is_some());
    assert!(
        t.banned(ip("192.0.2.8"), start).is_none(),
        "only that address"
    );
    // Another connection of the banned address that fails is closed, without a second ban.
    match fail(&mut t, "192.0.2.7", "bob", start + secs(1)) {
        Verdict::Close {
            ban: None, reason, ..
        } => assert!(reason.contains("is banned"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(t.bans(start + secs(1)).len(), 1);
    // The cool-down is over: the address is served again, its count restarted.
    assert!(t.banned(ip("192.0.2.7"), start + secs(60)).is_none());
    assert_eq!(t.bans(start + secs(60)), []);
    assert_eq!(
        t.address_failures(ip("192.0.2.7"), start + secs(60), &settings()),
        0
    );
    assert_eq!(
        fail(&mut t, "192.0.2.7", "carol", start + secs(61)),
        Verdict::Answer
    );
}

#[test]
fn a_success_is_never_slowed_and_clears_the_address_count() {
    let mut t = AuthThrottle::default();
    let now = Instant::now();
    for i in 0..4 {
        fail(&mut t, "192.0.2.7", "alice", now + secs(i));
    }
    assert_eq!(t.address_failures(ip("192.0.2.7"), now, &settings()), 4);
    t.success(ip("192.0.2.7"));
    assert_eq!(t.address_failures(ip("192.0.2.7"), now, &settings()), 0);
    // The user name's count is kept: four failures on "alice" are still known.
    assert_eq!(t.user_failures("alice", now, &settings()), 4);
    // A failure now is the address's first, but "alice" is past delay_after.
    assert_eq!(
        fail(&mut t, "192.0.2.7", "alice", now + secs(6)),
        Verdict::Delay(secs(4))
    );
    assert_eq!(
        fail(&mut t, "192.0.2.7", "bob", now + secs(7)),
        Verdict::Answer
    );
}

#[test]
fn failures_older_than_the_window_no_longer_count() {
    let mut t = AuthThrottle::default();
    let now = Instant::now();
    for i in 0..5 {
        fail(&mut t, "192.0.2.7", &format!("user{i}"), now + secs(i));
    }
    // 100 s after the first failure its series is over: a new one starts.
    assert_eq!(
        fail(&mut t, "192.0.2.7", "alice", now + secs(100)),
        Verdict::Answer
    );
    assert_eq!(
        t.address_failures(ip("192.0.2.7"), now + secs(100), &settings()),
        1
    );
    assert_eq!(
        t.address_failures(ip("192.0.2.7"), now + secs(200), &settings()),
        0
    );
}

#[test]
fn ipv6_clients_count_by_their_64_and_mapped_ipv4_as_ipv4() {
    let mut t = AuthThrottle::default();
    let now = Instant::now();
    // Six different addresses of one /64: one series, banned at the sixth.
    for i in 1..=5 {
        let v = fail(&mut t, &format!("2001:db8:1:2::{i:x}"), "alice", now);
        assert!(!matches!(v, Verdict::Close { .. }), "{v:?}");
    }
    let Verdict::Close { ban: Some(ban), .. } =
        t.failure(&settings(), ip("2001:db8:1:2:ffff::1"), false, None, now)
    else {
        panic!("the /64 is banned");
    };
    assert_eq!(ban.client.to_string(), "2001:db8:1:2::/64");
    assert!(t.banned(ip("2001:db8:1:2:abcd::9"), now).is_some());
    assert!(
        t.banned(ip("2001:db8:1:3::1"), now).is_none(),
        "the next /64 is another site"
    );
    // ::ffff:192.0.2.9 is 192.0.2.9.
    assert_eq!(
        ClientKey::of(ip("::ffff:192.0.2.9")),
        ClientKey::of(ip("192.0.2.9"))
    );
    assert_eq!(ClientKey::of(ip("192.0.2.9")).to_string(), "192.0.2.9");
}

#[test]
fn a_user_name_attacked_from_many_addresses_slows_and_closes_without_banning_them() {
    let mut t = AuthThrottle::default();
    let now = Instant::now();
    let mut verdicts = Vec::new();
    for i in 1..=6u64 {
        verdicts.push(fail(
            &mut t,
            &format!("198.51.100.{i}"),
            "Alice",
            now + secs(i),
        ));
    }
    assert_eq!(
        verdicts[..3],
        [Verdict::Answer, Verdict::Answer, Verdict::Answer]
    );
    assert_eq!(
        verdicts[3..5],
        [Verdict::Delay(secs(2)), Verdict::Delay(secs(4))]
    );
    match &verdicts[5] {
        Verdict::Close {
            ban: None, reason, ..
        } => assert_eq!(
            reason,
            "6 failed AUTH attempts for user \"alice\" within 100s"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(t.bans(now + secs(6)), [], "no address was banned");
    for i in 1..=6 {
        assert!(t.banned(ip(&format!("198.51.100.{i}")), now).is_none());
    }
    // Another user from one of those addresses is served normally.
    assert_eq!(
        fail(&mut t, "198.51.100.1", "bob", now + secs(7)),
        Verdict::Answer
    );
}

#[test]
fn a_user_names_delay_keeps_growing_past_ban_after_and_holds_at_the_cap_for_the_window() {
    // One guess per fresh address against one user: the address counts
    // never grow, so only the user name's count can hold the guesser back.
    let mut t = AuthThrottle::default();
    let now = Instant::now();
    let delays: Vec<Duration> = (1..=40u64)
        .map(|i| {
            let from = format!("198.51.{}.{}", i / 200, i % 200 + 1);
            match fail(&mut t, &from, "alice", now + secs(i)) {
                Verdict::Answer => Duration::ZERO,
                Verdict::Delay(d) => d,
                Verdict::Close { ban, delay, .. } => {
                    assert_eq!(ban, None, "no address is banned for one guess");
                    delay
                }
            }
        })
        .collect();
    // 3 answered at once, then +2 s per failure, past ban_after (6) too…
    let want: Vec<Duration> = (1..=40u32)
        .map(|n| (secs(2) * n.saturating_sub(3)).min(MAX_DELAY))
        .collect();
    assert_eq!(delays, want);
    // …reaching the cap at the 18th failure and holding it.
    assert_eq!(delays[17], MAX_DELAY);
    assert!(delays[17..].iter().all(|d| *d == MAX_DELAY));
    // Still held at the end of the window (100 s after the first failure)…
    match fail(&mut t, "203.0.113.1", "alice", now + secs(100)) {
        Verdict::Close { delay, .. } => assert_eq!(delay, MAX_DELAY),
        other => panic!("{other:?}"),
    }
    // …and over after it: a new series starts.
    assert_eq!(
        fail(&mut t, "203.0.113.2", "alice", now + secs(201)),
        Verdict::Answer
    );
}

#[test]
fn delays_are_capped() {
    let mut t = AuthThrottle::default();
    let s = Settings {
        delay_after: 1,
        delay_step: secs(20),
        ban_after: 100,
        ban_for: secs(60),
        window: secs(1000),
    };
    let now = Instant::now();
    let v: Vec<Verdict> = (0..4)
        .map(|_| t.failure(&s, ip("192.0.2.1"), false, None, now))
        .collect();
    assert_eq!(
        v,
        [
            Verdict::Answer,
            Verdict::Delay(secs(20)),
            Verdict::Delay(MAX_DELAY),
            Verdict::Delay(MAX_DELAY),
        ]
    );
    // An exempt client's delays stop at the lower cap at once.
    let mut t = AuthThrottle::default();
    let v: Vec<Verdict> = (0..3)
        .map(|_| t.failure(&s, ip("127.0.0.1"), true, None, now))
        .collect();
    assert_eq!(
        v,
        [
            Verdict::Answer,
            Verdict::Delay(MAX_EXEMPT_DELAY),
            Verdict::Delay(MAX_EXEMPT_DELAY),
        ]
    );
    assert!(MAX_EXEMPT_DELAY < MAX_DELAY);
}

#[test]
fn an_exempt_client_is_not_closed_by_a_ban_left_on_its_address() {
    // Banned while unlisted, then added to auth.never_ban: the exemption wins.
    let mut t = AuthThrottle::default();
    let now = Instant::now();
    for i in 0..6 {
        fail(&mut t, "192.0.2.9", "bob", now + secs(i));
    }
    assert!(t.banned(ip("192.0.2.9"), now + secs(6)).is_some());
    let v = t.failure(&settings(), ip("192.0.2.9"), true, None, now + secs(7));
    assert_eq!(v, Verdict::Answer);
    // ...while the same address unlisted is still refused.
    assert!(matches!(
        t.failure(&settings(), ip("192.0.2.9"), false, None, now + secs(8)),
        Verdict::Close { ban: None, .. }
    ));
}

#[test]
fn exempt_clients_are_delayed_but_never_closed_or_banned() {
    let mut t = AuthThrottle::default();
    let now = Instant::now();
    let verdicts: Vec<Verdict> = (0..100)
        .map(|i| {
            t.failure(
                &settings(),
                ip("127.0.0.1"),
                true,
                Some("alice"),
                now + secs(i),
            )
        })
        .collect();
    assert_eq!(
        verdicts[..6],
        [
            Verdict::Answer,
            Verdict::Answer,
            Verdict::Answer,
            Verdict::Delay(secs(2)),
            Verdict::Delay(secs(4)),
            Verdict::Delay(MAX_EXEMPT_DELAY),
        ]
    );
    // Far past ban_after (6) for the address and for "alice": still only
    // delays, held at the exempt cap (5 s), never MAX_DELAY.
    assert!(
        verdicts[5..]
            .iter()
            .all(|v| *v == Verdict::Delay(MAX_EXEMPT_DELAY)),
        "{verdicts:?}"
    );
    assert!(t.banned(ip("127.0.0.1"), now + secs(100)).is_none());
    assert_eq!(t.bans(now + secs(100)), []);
    // Its failures do count against the user name for everyone else
    // (within the window that started with the first of them).
    assert!(matches!(
        fail(&mut t, "192.0.2.1", "alice", now + secs(99)),
        Verdict::Close { ban: None, .. }
    ));
    // A success clears the exempt address's count like any other.
    t.success(ip("127.0.0.1"));
    assert_eq!(
        t.address_failures(ip("127.0.0.1"), now + secs(100), &settings()),
        0
    );
}

#[test]
fn relay_allow_and_never_ban_exempt_exceptions_and_dns_failures_do_not() {
    let relay = list(&["!192.168.99.*", "192.168.*.*", "127.0.0.1"]);
    let never = list(&["203.0.113.0/24", "ops.example"]);
    let ex = |s: &str, rdns: &ReverseDns| exemption(ip(s), rdns, &relay, &never);
    let none = ReverseDns::NotChecked;
    assert_eq!(
        ex("192.168.1.5", &none),
        Some(Exemption::RelayAllow("192.168.*.*".into()))
    );
    assert_eq!(
        ex("192.168.99.5", &none),
        None,
        "the guest subnet is excepted"
    );
    assert_eq!(
        ex("203.0.113.9", &none),
        Some(Exemption::NeverBan("203.0.113.0/24".into()))
    );
    assert_eq!(
        ex(
            "198.51.100.1",
            &ReverseDns::Verified(vec!["laptop.ops.example".into()])
        ),
        Some(Exemption::NeverBan("ops.example".into()))
    );
    assert_eq!(ex("198.51.100.1", &ReverseDns::TempFail), None);
    assert_eq!(ex("198.51.100.1", &none), None);
    assert_eq!(
        Exemption::NeverBan("ops.example".into()).to_string(),
        "auth.never_ban \"ops.example\""
    );
}

#[test]
fn the_tables_are_bounded_and_forget_the_oldest_first() {
    let mut t = AuthThrottle::with_capacity(3);
    let s = Settings {
        ban_after: 2,
        ..settings()
    };
    let now = Instant::now();
    for i in 0..10u64 {
        t.failure(
            &s,
            ip(&format!("192.0.2.{i}")),
            false,
            Some(&format!("u{i}")),
            now + secs(i),
        );
    }
    let (addresses, users, _) = t.sizes();
    assert_eq!((addresses, users), (3, 3));
    // The newest are kept.
    assert_eq!(t.address_failures(ip("192.0.2.9"), now + secs(10), &s), 1);
    assert_eq!(t.address_failures(ip("192.0.2.0"), now + secs(10), &s), 0);
    // Bans too: five addresses banned, the three ending last are kept.
    for i in 0..5u64 {
        let who = ip(&format!("198.51.100.{i}"));
        t.failure(&s, who, false, None, now + secs(20 + i));
        t.failure(&s, who, false, None, now + secs(20 + i));
    }
    let bans = t.bans(now + secs(30));
    let banned: Vec<String> = bans.iter().map(|b| b.client.to_string()).collect();
    assert_eq!(banned, ["198.51.100.2", "198.51.100.3", "198.51.100.4"]);
}

#[test]
fn long_user_names_are_cut_so_they_cannot_grow_the_table() {
    let mut t = AuthThrottle::default();
    let now = Instant::now();
    let long = "é".repeat(500);
    t.failure(&settings(), ip("192.0.2.1"), false, Some(&long), now);
    assert_eq!(t.user_failures(&long, now, &settings()), 1);
    assert!(user_key(&long).len() <= MAX_USER_KEY);
    assert_eq!(user_key("ALICE"), "alice");
}

#[test]
fn settings_come_from_the_auth_table() {
    let cfg = Config::from_str(
        "[auth]\ndelay_after = 2\ndelay_seconds = 1\nban_after = 4\nban_seconds = 30\nwindow_seconds = 60\n",
        std::path::Path::new("/etc/portcullis/portcullis.toml"),
    )
    .unwrap();
    assert_eq!(
        Settings::from_config(&cfg.auth),
        Settings {
            delay_after: 2,
            delay_step: secs(1),
            ban_after: 4,
            ban_for: secs(30),
            window: secs(60),
        }
    );
    let defaults = Config::defaults(std::path::Path::new("/etc/portcullis/portcullis.toml"));
    assert_eq!(Settings::from_config(&defaults.auth), Settings::default());
}
