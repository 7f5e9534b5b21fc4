//! Every console form an admin uses, clicked in headless Chromium, with its
//! effect read back through the JSON API or the command line, never from
//! the page alone: reset a password, grant and revoke the admin right,
//! remove a user; add and remove a local domain, an alias and a route; move
//! a relay entry down and remove one. (tests/console.rs covers logging in,
//! adding relay entries and users, moving up, flushing; the recipes are in
//! tests/console_recipes.rs.)
//!
//! Each step opens its screen afresh, so the report it waits for is the
//! one its own click produced.

use portcullis_testkit as common;

use common::api::Api;
use common::browser::Browser;
use common::console::log_in;
use common::{describe, Server, Setup};

const ROOT_PW: &str = "root-pw-12345";
const ANN_PW: &str = "ann-pw-12345";
const ANN_NEW_PW: &str = "ann-new-pw-67890";

/// A server with an admin `root`, a plain user `ann`, and the seed's range
/// with an exception below it (so the range decides for that host).
fn server() -> Server {
    let setup = Setup::new("");
    for (name, password, admin) in [("root", ROOT_PW, true), ("ann", ANN_PW, false)] {
        let mut args = vec!["user", "add", name, "--password-stdin"];
        if admin {
            args.push("--admin");
        }
        let out = setup.cli_stdin(&args, Some(&format!("{password}\n")));
        assert!(out.status.success(), "{}", describe(&out));
    }
    let out = setup.cli(&[
        "config",
        "set",
        "relay.allow",
        "127.0.0.1",
        "192.168.40-43.*",
        "!192.168.41.7",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    setup.start()
}

/// A browser logged in as root, and the console's base URL.
fn console(server: &Server) -> (Browser, String) {
    let browser = Browser::start();
    let base = format!("https://127.0.0.1:{}", server.admin_port);
    log_in(&browser, &base, "root", ROOT_PW);
    (browser, base)
}

/// Opens `screen`, clicks `button`, and returns the page with the report
/// (or the refusal) that click produced.
fn click_on(browser: &Browser, base: &str, screen: &str, button: &str, shows: &str) -> String {
    browser.goto(&format!("{base}{screen}"));
    browser.click(button);
    browser.wait_for(shows)
}

/// `portcullis config read KEY`'s output.
fn read(server: &Server, key: &str) -> String {
    let out = server.cli(&["config", "read", key]);
    assert!(out.status.success(), "{}", describe(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The API's `GET status` as `user`: 200 admin, 403 not an admin, 401
/// wrong password or no such user.
fn api_status_as(server: &Server, user: &str, password: &str) -> u16 {
    Api::new(server.admin_port)
        .user(user, password)
        .get("status")
        .status
}

#[test]
fn users_password_admin_right_and_removal() {
    let server = server();
    let (browser, base) = console(&server);
    let ann = "tr[data-user='ann']";

    // Reset: a weak password is refused in ann's row; a good one works.
    browser.goto(&format!("{base}/console/users"));
    browser.fill(&format!("{ann} input[name=password]"), "short");
    browser.click(&format!(
        "{ann} form[action='/console/users/password'] button"
    ));
    browser.wait_for("field-error");
    let sentence = browser.text(&format!("{ann} .field-error"));
    assert!(sentence.contains("password"), "{sentence}");
    assert_eq!(api_status_as(&server, "ann", ANN_PW), 403);
    browser.fill(&format!("{ann} input[name=password]"), ANN_NEW_PW);
    browser.click(&format!(
        "{ann} form[action='/console/users/password'] button"
    ));
    browser.wait_for("ann: password changed");
    assert_eq!(api_status_as(&server, "ann", ANN_PW), 401);
    assert_eq!(api_status_as(&server, "ann", ANN_NEW_PW), 403);

    // Grant, then revoke, the admin right.
    let admin = format!("{ann} button[form='grant'], {ann} button[form='revoke']");
    click_on(
        &browser,
        &base,
        "/console/users",
        &admin,
        "admin right granted",
    );
    assert_eq!(api_status_as(&server, "ann", ANN_NEW_PW), 200);
    click_on(
        &browser,
        &base,
        "/console/users",
        &admin,
        "admin right revoked",
    );
    assert_eq!(api_status_as(&server, "ann", ANN_NEW_PW), 403);

    // Remove: gone from the API's list, and her password opens nothing.
    let remove = format!("{ann} button[form='remove']");
    let page = click_on(
        &browser,
        &base,
        "/console/users",
        &remove,
        "removed user ann",
    );
    assert!(!page.contains("data-user=\"ann\""), "{page}");
    let users = Api::new(server.admin_port)
        .user("root", ROOT_PW)
        .get("users");
    assert_eq!(
        users.json(),
        serde_json::json!([{"name": "root", "admin": true}]),
        "{users:?}"
    );
    assert_eq!(api_status_as(&server, "ann", ANN_NEW_PW), 401);
}

#[test]
fn domains_aliases_and_routes_are_added_and_removed() {
    let server = server();
    let (browser, base) = console(&server);
    let screen = "/console/domains";
    let report = r#"class="report""#;

    // A local domain, added then removed.
    browser.goto(&format!("{base}{screen}"));
    let form = "form[action='/console/domains/domain/add']";
    browser.fill(&format!("{form} input[name=name]"), "partner.test");
    browser.click(&format!("{form} button"));
    browser.wait_for(report);
    assert!(read(&server, "local_domains").contains("partner.test"));
    let remove = "li[data-domain='partner.test'] button";
    click_on(&browser, &base, screen, remove, report);
    assert!(!read(&server, "local_domains").contains("partner.test"));

    // An alias to two users, then removed.
    browser.goto(&format!("{base}{screen}"));
    let form = "form[action='/console/domains/alias/add']";
    browser.fill(&format!("{form} input[name=name]"), "postmaster");
    browser.fill(&format!("{form} input[name=value]"), "ann, root");
    browser.click(&format!("{form} button"));
    browser.wait_for(report);
    assert_eq!(
        read(&server, "aliases.postmaster"),
        "aliases.postmaster: ann root"
    );
    let remove = "tr[data-alias='postmaster'] button";
    click_on(&browser, &base, screen, remove, report);
    assert!(!read(&server, "aliases").contains("postmaster"));

    // A route, refused without its port's number, then set and removed.
    browser.goto(&format!("{base}{screen}"));
    let form = "form[action='/console/domains/route/add']";
    browser.fill(&format!("{form} input[name=name]"), "partner.example");
    browser.fill(
        &format!("{form} input[name=value]"),
        "mx.partner.example:port",
    );
    browser.click(&format!("{form} button"));
    browser.wait_for("field-error");
    let sentence = browser.text("#routes .field-error");
    assert!(sentence.contains("mx.partner.example:port"), "{sentence}");
    assert!(!read(&server, "routes").contains("partner.example"));
    // The refused form keeps what was typed, to be corrected in place.
    let kept = browser.source();
    assert!(
        kept.contains(r#"value="mx.partner.example:port""#),
        "{kept}"
    );
    assert!(kept.contains(r#"value="partner.example""#), "{kept}");
    browser.fill(
        &format!("{form} input[name=value]"),
        "mx.partner.example:2526",
    );
    browser.click(&format!("{form} button"));
    browser.wait_for(report);
    assert_eq!(
        read(&server, "routes.partner.example"),
        "routes.partner.example: mx.partner.example:2526"
    );
    let remove = "tr[data-route='partner.example'] button";
    click_on(&browser, &base, screen, remove, report);
    assert!(!read(&server, "routes").contains("partner.example"));
}

/// The API's check-relay: whether 192.168.41.7 may relay, and by which rule.
fn office_host_verdict(server: &Server) -> (bool, String) {
    let question = r#"{"client": "192.168.41.7", "auth": null, "recipients": ["bob@example.org"]}"#;
    let reply = Api::new(server.admin_port).user("root", ROOT_PW).call(
        "POST",
        "check-relay",
        Some(question),
    );
    let verdict = &reply.json()[0];
    let rule = verdict["rule"].as_str().unwrap_or_default().to_string();
    (verdict["kind"] == "relay_allowed", rule)
}

#[test]
fn relay_entries_move_down_and_are_removed() {
    let server = server();
    let (browser, base) = console(&server);
    let (allowed, rule) = office_host_verdict(&server);
    assert!(allowed, "the range decides first: {rule}");

    // Move the range below the exception: the exception now decides.
    let down = "tr[data-entry='192.168.40-43.*'] button[formaction='/console/relay/down']";
    let preview = click_on(
        &browser,
        &base,
        "/console/relay",
        down,
        "/console/relay/save",
    );
    assert!(preview.contains("below"), "{preview}");
    browser.click("form[action='/console/relay/save'] button");
    browser.wait_for(r#"class="report""#);
    assert_eq!(
        read(&server, "relay.allow"),
        "relay.allow: 127.0.0.1 !192.168.41.7 192.168.40-43.*"
    );
    let (allowed, rule) = office_host_verdict(&server);
    assert!(!allowed && rule.contains("!192.168.41.7"), "{rule}");

    // Remove the exception: the range decides again.
    let remove = "tr[data-entry='!192.168.41.7'] button[formaction='/console/relay/remove']";
    let preview = click_on(
        &browser,
        &base,
        "/console/relay",
        remove,
        "/console/relay/save",
    );
    assert!(preview.contains("remove relay.allow[1]"), "{preview}");
    browser.click("form[action='/console/relay/save'] button");
    browser.wait_for(r#"class="report""#);
    assert_eq!(
        read(&server, "relay.allow"),
        "relay.allow: 127.0.0.1 192.168.40-43.*"
    );
    let (allowed, rule) = office_host_verdict(&server);
    assert!(allowed && rule.contains("192.168.40-43.*"), "{rule}");
}
