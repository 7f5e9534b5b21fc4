//! The seeds' set-ups done entirely in the console (docs/recipes.md shows
//! both ways): an admin in headless Chromium clicks through the 10.1
//! Restricted SMTP Relay procedure and the 10.2 default and Phases I–III,
//! and after each step real SMTP clients bound to 127.x.y.z addresses prove
//! its effect: who may send out, and which AUTH mechanisms are offered.
//! The CLI reads the same file back, and the server's log names the admin.
//!
//! Addresses as in tests/recipes.rs: the seed's `192.168.40-43.*` office is
//! `127.0.40-43.*`; 127.0.0.1 is the server itself; 127.0.55.5 roams.

use portcullis_testkit as common;

use std::net::Ipv4Addr;

use common::auth_support::ALICE_PW;
use common::browser::Browser;
use common::console::{add_relay_entry, log_in};
use common::relay_probe::{auth_offered, send, Got, Via, EVERY_MECHANISM};
use common::{describe, Server, Setup, Zone};

const ROOT_PW: &str = "root-pw-12345";

const SERVER: Ipv4Addr = Ipv4Addr::LOCALHOST;
const OFFICE: Ipv4Addr = Ipv4Addr::new(127, 0, 41, 7);
const ROAMING: Ipv4Addr = Ipv4Addr::new(127, 0, 55, 5);

const LOCAL_USER: &str = "bob@local.test";
const INTERNET: &str = "someone@example.org";

/// The recipes' server (relay.allow = ["127.0.0.1"], users alice and bob)
/// with an admin `root` for the console.
fn server(zone: Zone) -> Server {
    let setup = Setup::with_dns("", zone);
    setup.add_user("alice", ALICE_PW);
    setup.add_user("bob", "bob-Pw-2");
    let out = setup.cli_stdin(
        &["user", "add", "root", "--password-stdin", "--admin"],
        Some(&format!("{ROOT_PW}\n")),
    );
    assert!(out.status.success(), "{}", describe(&out));
    setup.start()
}

/// A browser logged in to the server's console, and the console's base URL.
fn console(server: &Server) -> (Browser, String) {
    let browser = Browser::start();
    let base = format!("https://127.0.0.1:{}", server.admin_port);
    log_in(&browser, &base, "root", ROOT_PW);
    (browser, base)
}

/// `portcullis config read KEY` on the server's file.
fn read(server: &Server, key: &str) -> String {
    let out = server.cli(&["config", "read", key]);
    assert!(out.status.success(), "{}", describe(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// On the Relay screen: sets the three switches and saves them.
fn switches(browser: &Browser, base: &str, restricted: bool, local_only: bool, auth: bool) {
    browser.goto(&format!("{base}/console/relay"));
    browser.set_checked("#switches input[name=restricted]", restricted);
    browser.set_checked("#switches input[name=local_only]", local_only);
    browser.set_checked("#switches input[name=authenticated]", auth);
    browser.click("#switches button");
    browser.wait_for(r#"class="report""#);
}

/// On the Settings screen: the `auth.mechanisms` field, saved, or its
/// Default button when `mechanisms` is None; returns the page.
fn mechanisms(browser: &Browser, base: &str, mechanisms: Option<&str>) -> String {
    browser.goto(&format!("{base}/console/settings?section=auth"));
    let row = "#set-auth-mechanisms";
    match mechanisms {
        Some(list) => {
            browser.fill(&format!("{row} input[name=value]"), list);
            browser.click(&format!(
                "{row} form[action='/console/settings/set'] button"
            ));
        }
        None => browser.click(&format!(
            "{row} form[action='/console/settings/unset'] button"
        )),
    }
    browser.wait_for(r#"class="report""#)
}

fn local_users_get_mail_from_anyone(server: &Server) {
    for src in [SERVER, OFFICE, ROAMING] {
        let got = send(server, src, Via::None, LOCAL_USER);
        assert_eq!(got, Got::Rcpt(250), "{src}");
    }
}

#[test]
fn seed_10_1_restricted_relay_in_the_console() {
    let zone = Zone::new().a("myserver.example.com", Ipv4Addr::new(127, 0, 90, 9));
    let server = server(zone);
    assert_eq!(send(&server, OFFICE, Via::None, INTERNET), Got::Rcpt(554));
    let (browser, base) = console(&server);

    // Steps 7 and 11: Restricted relay on, "Local only" off, saved.
    switches(&browser, &base, true, false, true);
    // Step 8: every notation of the seed, each previewed and saved.
    browser.goto(&format!("{base}/console/relay"));
    for entry in [
        "127.0.123.55",
        "127.0.40.*",
        "127.0.50-53.0-255",
        "127.0.60-61.*",
        "myserver.example.com",
        "example.com",
    ] {
        browser.fill("#add input[name=entry]", entry);
        browser.click("#add button");
        let preview = browser.wait_for("/console/relay/save");
        assert!(
            preview.contains(&format!("<code>{entry}</code>")),
            "{preview}"
        );
        if entry == "myserver.example.com" {
            // Resolved as the reload will resolve it, before saving.
            assert!(preview.contains("127.0.90.9"), "{preview}");
        }
        browser.click("form[action='/console/relay/save'] button");
        browser.wait_for("<h3>Reload</h3>");
    }
    let page = browser.source();
    assert!(page.contains("added 127.0.50.0-127.0.53.255"), "{page}");
    // A host name shows the addresses the server resolved it to (in its
    // row of the list: the reload report names only problems at info level).
    let row = page
        .split("<tr data-entry=\"myserver.example.com\">")
        .nth(1)
        .and_then(|rest| rest.split("</tr>").next())
        .unwrap_or_default();
    assert!(row.contains("127.0.90.9"), "{page}");
    // A malformed range is refused next to the field; nothing is written.
    browser.fill("#add input[name=entry]", "127.0.300.*");
    browser.click("#add button");
    browser.wait_for("field-error");
    assert!(browser.text("#add .field-error").contains("127.0.300.*"));
    // Step 9's `niutil -read`, from the command line: the same file.
    assert_eq!(
        read(&server, "relay.allow"),
        "relay.allow: 127.0.0.1 127.0.123.55 127.0.40.* 127.0.50-53.0-255 127.0.60-61.* myserver.example.com example.com"
    );

    // Step 10 happened at each save (a reload); the network agrees.
    for src in [
        Ipv4Addr::new(127, 0, 123, 55),
        Ipv4Addr::new(127, 0, 40, 200),
        Ipv4Addr::new(127, 0, 52, 1),
        Ipv4Addr::new(127, 0, 61, 255),
        Ipv4Addr::new(127, 0, 90, 9),
    ] {
        let got = send(&server, src, Via::None, INTERNET);
        assert_eq!(got, Got::Rcpt(250), "{src}");
    }
    assert_eq!(send(&server, ROAMING, Via::None, INTERNET), Got::Rcpt(554));
    let outside = Ipv4Addr::new(127, 0, 54, 1);
    assert_eq!(send(&server, outside, Via::None, INTERNET), Got::Rcpt(554));
    let got = send(&server, ROAMING, Via::CramMd5, INTERNET);
    assert_eq!(got, Got::Rcpt(250));
    local_users_get_mail_from_anyone(&server);
    let log = server.log();
    assert!(
        log.lines().any(|l| l.contains("console change")
            && l.contains("root")
            && l.contains("127.0.0.1")
            && l.contains("myserver.example.com")),
        "{log}"
    );
}

#[test]
fn seed_10_2_default_and_phases_one_to_three_in_the_console() {
    let server = server(Zone::new());
    let (browser, base) = console(&server);
    let admin = Admin {
        server: &server,
        browser: &browser,
        base: &base,
    };
    admin.default_local_mail_only();
    admin.phase_one_the_server_and_cram_md5_users();
    admin.an_unknown_mechanism_is_refused_under_its_field();
    admin.phase_two_the_office_range();
    admin.phase_three_any_mechanism();
    admin.every_decision_is_on_the_decisions_screen();
}

/// The admin at the console of `server`.
struct Admin<'a> {
    server: &'a Server,
    browser: &'a Browser,
    base: &'a str,
}

impl Admin<'_> {
    /// "not to send email to the Internet outside of your domain": nobody
    /// sends out, not even with AUTH.
    fn default_local_mail_only(&self) {
        let (server, browser, base) = (self.server, self.browser, self.base);
        switches(browser, base, true, true, true);
        assert_eq!(read(server, "relay.local_only"), "relay.local_only: true");
        local_users_get_mail_from_anyone(server);
        for src in [SERVER, OFFICE, ROAMING] {
            let got = send(server, src, Via::None, INTERNET);
            assert_eq!(got, Got::Rcpt(550), "{src}");
        }
        let got = send(server, ROAMING, Via::CramMd5, INTERNET);
        assert_eq!(got, Got::Rcpt(550));
    }

    /// Phase I: the server itself, and CRAM-MD5 users, send out.
    fn phase_one_the_server_and_cram_md5_users(&self) {
        let (server, browser, base) = (self.server, self.browser, self.base);
        switches(browser, base, true, false, true);
        browser.goto(&format!("{base}/console/relay"));
        add_relay_entry(browser, "::1");
        let page = mechanisms(browser, base, Some("CRAM-MD5"));
        assert!(page.contains("→ <code>CRAM-MD5</code>"), "{page}");
        assert!(page.contains("<h3>Reload</h3>"), "{page}");
        browser.shot("settings");
        let read_back = read(server, "auth.mechanisms");
        assert_eq!(read_back, "auth.mechanisms: CRAM-MD5");
        assert_eq!(read(server, "relay.allow"), "relay.allow: 127.0.0.1 ::1");
        assert_eq!(send(server, SERVER, Via::None, INTERNET), Got::Rcpt(250));
        assert_eq!(send(server, OFFICE, Via::None, INTERNET), Got::Rcpt(554));
        let got = send(server, ROAMING, Via::CramMd5, INTERNET);
        assert_eq!(got, Got::Rcpt(250));
        for login in [Via::ScramSha256, Via::Plain, Via::Login] {
            let got = send(server, ROAMING, login, INTERNET);
            assert_eq!(got, Got::AuthRefused(504), "{login:?}");
        }
        let offered = auth_offered(server, ROAMING);
        assert_eq!(offered.as_deref(), Some("AUTH CRAM-MD5"));
        let log = server.log();
        assert!(
            log.lines().any(|l| l.contains("console change")
                && l.contains("root")
                && l.contains("config set auth.mechanisms CRAM-MD5")),
            "{log}"
        );
    }

    /// A mechanism Portcullis does not have: the sentence under the field,
    /// the typed value kept, the file as it was.
    fn an_unknown_mechanism_is_refused_under_its_field(&self) {
        let row = "#set-auth-mechanisms";
        self.browser
            .fill(&format!("{row} input[name=value]"), "CRAM-MD5 DIGEST-MD5");
        self.browser.click(&format!(
            "{row} form[action='/console/settings/set'] button"
        ));
        self.browser.wait_for("field-error");
        let sentence = self.browser.text(&format!("{row} .field-error"));
        assert!(sentence.contains("DIGEST-MD5"), "{sentence}");
        let kept = self.browser.source();
        assert!(kept.contains(r#"value="CRAM-MD5 DIGEST-MD5""#), "{kept}");
        let read_back = read(self.server, "auth.mechanisms");
        assert_eq!(read_back, "auth.mechanisms: CRAM-MD5");
    }

    /// Phase II: the office range sends out without AUTH.
    fn phase_two_the_office_range(&self) {
        let server = self.server;
        self.browser.goto(&format!("{}/console/relay", self.base));
        add_relay_entry(self.browser, "127.0.40-43.*");
        for src in [OFFICE, Ipv4Addr::new(127, 0, 40, 0), SERVER] {
            let got = send(server, src, Via::None, INTERNET);
            assert_eq!(got, Got::Rcpt(250), "{src}");
        }
        let outside = Ipv4Addr::new(127, 0, 44, 0);
        assert_eq!(send(server, outside, Via::None, INTERNET), Got::Rcpt(554));
        let got = send(server, ROAMING, Via::ScramSha256, INTERNET);
        assert_eq!(got, Got::AuthRefused(504));
    }

    /// Phase III: the default mechanisms again; any of them sends out.
    fn phase_three_any_mechanism(&self) {
        let server = self.server;
        let page = mechanisms(self.browser, self.base, None);
        assert!(page.contains("<h3>Reload</h3>"), "{page}");
        for login in EVERY_MECHANISM {
            let got = send(server, ROAMING, login, INTERNET);
            assert_eq!(got, Got::Rcpt(250), "{login:?}");
        }
        assert_eq!(send(server, ROAMING, Via::None, INTERNET), Got::Rcpt(554));
        let offered = auth_offered(server, ROAMING);
        assert_eq!(offered.as_deref(), Some("AUTH SCRAM-SHA-256 CRAM-MD5"));
        local_users_get_mail_from_anyone(server);
    }

    /// Every one of those RCPTs is on the Decisions screen, with its rule
    /// and a UTC time.
    fn every_decision_is_on_the_decisions_screen(&self) {
        let (browser, base) = (self.browser, self.base);
        browser.goto(&format!("{base}/console/decisions?client=127.0.44."));
        let page = browser.wait_for("<h1>Decisions</h1>");
        assert!(page.contains("127.0.44.0"), "{page}");
        assert!(page.contains(" UTC</time>"), "{page}");
        browser.goto(&format!("{base}/console/decisions"));
        browser.wait_for("<h1>Decisions</h1>");
        browser.shot("decisions");
    }
}
