//! The admin console over HTTPS: an admin drives it in headless Chromium
//! (log in, edit the relay list and read the compiled entries, ask "would
//! this relay?", add a user, flush the queue, see a refusal next to its
//! field), and curl checks what a browser hides: the CSRF token and Origin
//! checks, the login redirect, the cookie's attributes and the headers.
//!
//! With `PORTCULLIS_SCREENSHOTS=1` the browser test saves a PNG of each
//! screen into docs/console/.

use portcullis_testkit as common;

use std::net::Ipv4Addr;

use common::api::{Api, ApiReply};
use common::browser::Browser;
use common::console::add_relay_entry;
use common::{describe, server_with_queued_remote, Server, Setup};

const ROOT_PW: &str = "root-pw-12345";
const ANN_PW: &str = "ann-pw-12345";

/// A server with an admin `root` and a plain user `ann`.
fn server() -> Server {
    server_with("")
}

fn server_with(extra_toml: &str) -> Server {
    let setup = Setup::new(extra_toml);
    for (name, password, admin) in [("root", ROOT_PW, true), ("ann", ANN_PW, false)] {
        let mut args = vec!["user", "add", name, "--password-stdin"];
        if admin {
            args.push("--admin");
        }
        let out = setup.cli_stdin(&args, Some(&format!("{password}\n")));
        assert!(out.status.success(), "{}", describe(&out));
    }
    setup.start()
}

fn base(server: &Server) -> String {
    format!("https://127.0.0.1:{}", server.admin_port)
}

// ---- plain HTTP: curl ----

/// `method url` with curl and `extra` arguments (headers, a body).
fn curl(server: &Server, method: &str, path: &str, extra: &[&str]) -> ApiReply {
    let url = format!("{}{path}", base(server));
    let mut args: Vec<&str> = extra.to_vec();
    args.push(&url);
    Api::new(server.admin_port).raw(method, &args)
}

/// Logs in as `user` with curl; the reply carries the Set-Cookie.
fn curl_login(server: &Server, user: &str, password: &str) -> ApiReply {
    curl_login_from(server, Ipv4Addr::LOCALHOST, user, password)
}

fn curl_login_from(server: &Server, from: Ipv4Addr, user: &str, password: &str) -> ApiReply {
    let origin = format!("Origin: {}", base(server));
    let body = format!("user={user}&password={password}");
    let url = format!("{}/console/login", base(server));
    Api::new(server.admin_port)
        .from(from)
        .raw("POST", &["-H", &origin, "--data-binary", &body, &url])
}

/// The session cookie (`name=value`) a successful login set.
fn session_cookie(reply: &ApiReply) -> String {
    let set = reply
        .header("set-cookie")
        .unwrap_or_else(|| panic!("no Set-Cookie: {reply:?}"));
    set.split(';').next().unwrap().to_string()
}

/// The CSRF token in a page's forms.
fn csrf_of(page: &str) -> String {
    let at = page.find(r#"name="csrf" value=""#).expect("a csrf field") + 19;
    page[at..at + 64].to_string()
}

#[test]
fn a_page_without_a_session_sends_the_browser_to_the_login_page() {
    let server = server();
    for path in [
        "/console/",
        "/console/relay",
        "/console/users",
        "/console/queue",
    ] {
        let reply = curl(&server, "GET", path, &[]);
        assert_eq!(reply.status, 303, "{path}: {reply:?}");
        assert_eq!(reply.header("location").as_deref(), Some("/console/login"));
    }
    let login = curl(&server, "GET", "/console/login", &[]);
    assert_eq!(login.status, 200, "{login:?}");
    assert!(login.body.contains(r#"action="/console/login""#));
    // The API is still there, beside the console.
    let api = Api::new(server.admin_port)
        .user("root", ROOT_PW)
        .get("status");
    assert_eq!(api.status, 200, "{api:?}");
}

#[test]
fn only_an_admin_logs_in_and_the_cookie_is_http_only_secure_and_strict() {
    let server = server();
    let ann = curl_login(&server, "ann", ANN_PW);
    assert_eq!(ann.status, 403, "{ann:?}");
    assert!(
        ann.body.contains("does not have the admin right"),
        "{ann:?}"
    );
    assert!(ann.header("set-cookie").is_none(), "{ann:?}");
    let wrong = curl_login(&server, "root", "nope");
    assert_eq!(wrong.status, 401, "{wrong:?}");
    assert!(
        wrong.body.contains("wrong user name or password"),
        "{wrong:?}"
    );

    let root = curl_login(&server, "root", ROOT_PW);
    assert_eq!(root.status, 303, "{root:?}");
    assert_eq!(root.header("location").as_deref(), Some("/console/"));
    let set = root.header("set-cookie").unwrap();
    assert!(set.starts_with("__Host-portcullis="), "{set}");
    for flag in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(set.split("; ").any(|p| p == flag), "{flag} in {set}");
    }
    let cookie = session_cookie(&root);
    let page = curl(&server, "GET", "/console/", &["-b", &cookie]);
    assert_eq!(page.status, 200, "{page:?}");
    let csp = page.header("content-security-policy").expect("a CSP");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(page.header("x-frame-options").as_deref(), Some("DENY"));
    assert_eq!(page.header("cache-control").as_deref(), Some("no-store"));
}

#[test]
fn wrong_console_passwords_count_toward_the_smtp_auth_ban() {
    // 127.0.0.9 is not in relay.allow, so it is not exempt from bans.
    let server = server_with("[auth]\ndelay_after = 10\nban_after = 3\n");
    let from = Ipv4Addr::new(127, 0, 0, 9);
    for _ in 0..3 {
        let guess = curl_login_from(&server, from, "root", "guess");
        assert_eq!(guess.status, 401, "{guess:?}");
    }
    let banned = curl_login_from(&server, from, "root", ROOT_PW);
    assert_eq!(banned.status, 429, "{banned:?}");
    assert!(banned.body.contains("127.0.0.9 is banned"), "{banned:?}");
    assert!(banned.header("set-cookie").is_none(), "{banned:?}");
    // The same ban as SMTP AUTH's: the API refuses the address too.
    let api = Api::new(server.admin_port)
        .user("root", ROOT_PW)
        .from(from)
        .get("status");
    assert_eq!(api.status, 429, "{api:?}");
}

#[test]
fn a_change_needs_the_sessions_csrf_token_and_our_origin() {
    let server = server();
    let cookie = session_cookie(&curl_login(&server, "root", ROOT_PW));
    let page = curl(&server, "GET", "/console/queue", &["-b", &cookie]);
    let csrf = csrf_of(&page.body);
    let origin = format!("Origin: {}", base(&server));
    let flush = |headers: &[&str], body: &str| {
        let mut extra = vec!["-b", cookie.as_str(), "--data-binary", body];
        extra.extend_from_slice(headers);
        curl(&server, "POST", "/console/queue/flush", &extra)
    };
    let no_token = flush(&["-H", &origin], "");
    assert_eq!(no_token.status, 403, "{no_token:?}");
    assert!(no_token.body.contains("CSRF token"), "{no_token:?}");
    let good = format!("csrf={csrf}");
    let foreign = flush(&["-H", "Origin: https://evil.example"], &good);
    assert_eq!(foreign.status, 403, "{foreign:?}");
    assert!(foreign.body.contains("Origin"), "{foreign:?}");
    let no_origin = flush(&[], &good);
    assert_eq!(no_origin.status, 403, "{no_origin:?}");
    let ok = flush(&["-H", &origin], &good);
    assert_eq!(ok.status, 200, "{ok:?}");
    assert!(ok.body.contains("Flushed"), "{ok:?}");
    // Without a session a change goes to the login page, after the Origin check.
    let anon = curl(
        &server,
        "POST",
        "/console/queue/flush",
        &["-H", &origin, "--data-binary", &good],
    );
    assert_eq!(anon.status, 303, "{anon:?}");
    // Logged out, the cookie is worth nothing.
    let out = curl(
        &server,
        "POST",
        "/console/logout",
        &["-b", &cookie, "-H", &origin, "--data-binary", &good],
    );
    assert_eq!(out.status, 303, "{out:?}");
    let after = curl(&server, "GET", "/console/", &["-b", &cookie]);
    assert_eq!(after.status, 303, "{after:?}");
}

#[test]
fn a_settings_change_passes_the_same_gate_and_the_admin_apis_check() {
    let server = server();
    let cookie = session_cookie(&curl_login(&server, "root", ROOT_PW));
    let page = curl(&server, "GET", "/console/settings", &["-b", &cookie]);
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.body.contains("auth.mechanisms"), "{page:?}");
    let csrf = csrf_of(&page.body);
    let origin = format!("Origin: {}", base(&server));
    let set = |headers: &[&str], body: &str| {
        let mut extra = vec!["-b", cookie.as_str(), "--data-binary", body];
        extra.extend_from_slice(headers);
        curl(&server, "POST", "/console/settings/set", &extra)
    };
    let change = "key=auth.mechanisms&value=CRAM-MD5";
    let no_token = set(&["-H", &origin], change);
    assert_eq!(no_token.status, 403, "{no_token:?}");
    let with_token = format!("csrf={csrf}&{change}");
    let foreign = set(&["-H", "Origin: https://evil.example"], &with_token);
    assert_eq!(foreign.status, 403, "{foreign:?}");
    let read = || {
        let out = server.cli(&["config", "read", "auth.mechanisms"]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(
        read(),
        "auth.mechanisms: SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN"
    );
    // An unknown key gets the command line's sentence, with its suggestion.
    let typo = format!("csrf={csrf}&key=auth.mechanism&value=PLAIN");
    let refused = set(&["-H", &origin], &typo);
    assert_eq!(refused.status, 400, "{refused:?}");
    let sentence =
        "unknown key &quot;auth.mechanism&quot; (did you mean &quot;auth.mechanisms&quot;?)";
    assert!(refused.body.contains(sentence), "{refused:?}");
    let ok = set(&["-H", &origin], &with_token);
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(read(), "auth.mechanisms: CRAM-MD5");
    let unknown = curl(
        &server,
        "GET",
        "/console/settings?section=nowhere",
        &["-b", &cookie],
    );
    assert_eq!(unknown.status, 404, "{unknown:?}");
    assert!(unknown.body.contains("nowhere"), "{unknown:?}");
}

#[test]
fn a_queued_message_is_listed_opened_and_deleted() {
    let (server, id) = server_with_queued_remote(b"Subject: q\r\n\r\nqueued body\r\n");
    let out = server.cli_stdin(
        &["user", "add", "root", "--password-stdin", "--admin"],
        Some(&format!("{ROOT_PW}\n")),
    );
    assert!(out.status.success(), "{}", describe(&out));
    let cookie = session_cookie(&curl_login(&server, "root", ROOT_PW));
    let list = curl(&server, "GET", "/console/queue", &["-b", &cookie]);
    assert!(list.body.contains(&id), "{list:?}");
    assert!(list.body.contains("bob@remote.example"), "{list:?}");
    let one = curl(
        &server,
        "GET",
        &format!("/console/queue/{id}"),
        &["-b", &cookie],
    );
    assert_eq!(one.status, 200, "{one:?}");
    assert!(one.body.contains("queued body"), "{one:?}");
    let none = curl(&server, "GET", "/console/queue/nonsense", &["-b", &cookie]);
    assert!(none.status >= 400, "{none:?}");
    let origin = format!("Origin: {}", base(&server));
    let body = format!("csrf={}&id={id}", csrf_of(&list.body));
    let deleted = curl(
        &server,
        "POST",
        "/console/queue/delete",
        &["-b", &cookie, "-H", &origin, "--data-binary", &body],
    );
    assert_eq!(deleted.status, 200, "{deleted:?}");
    assert!(
        deleted.body.contains(&format!("Deleted {id}")),
        "{deleted:?}"
    );
    assert!(deleted.body.contains("The queue is empty."), "{deleted:?}");
}

// ---- the browser ----

/// Asks the Relay screen's box and returns the rule that answered.
fn ask(browser: &Browser, client: &str, recipient: &str) -> String {
    browser.fill("#check input[name=client]", client);
    browser.fill("#check input[name=recipient]", recipient);
    browser.click("#check button");
    browser.wait_for("class=\"rule\"");
    browser.text("#check .rule")
}

#[test]
fn an_admin_drives_the_console_in_a_browser() {
    let server = server();
    let browser = Browser::start();
    let base = base(&server);
    browser.goto(&format!("{base}/console/relay"));
    browser.wait_for(r#"action="/console/login""#);
    browser.shot("login");
    browser.fill("input[name=user]", "root");
    browser.fill("input[name=password]", ROOT_PW);
    browser.click("form button");
    browser.wait_for("Relay grants");
    browser.shot("dashboard");

    // Relay: the range compiles to its addresses, and it answers the question.
    browser.goto(&format!("{base}/console/relay"));
    browser.fill("#add input[name=entry]", "192.168.40-43.*");
    browser.click("#add button");
    let preview = browser.wait_for("/console/relay/save");
    assert!(preview.contains("192.168.40.0"), "{preview}");
    assert!(preview.contains("192.168.43.255"), "{preview}");
    browser.shot("relay-preview");
    browser.click("form[action='/console/relay/save'] button");
    let saved = browser.wait_for("<h3>Reload</h3>");
    assert!(
        saved.contains("relay list: 2 entries added, 0 skipped"),
        "{saved}"
    );
    let rule = ask(&browser, "192.168.41.7", "bob@example.org");
    assert!(rule.contains("192.168.40-43.*"), "{rule}");
    assert!(browser.source().contains(r#"<li class="accepted">"#));

    // An exception, moved above the range, now answers instead.
    browser.goto(&format!("{base}/console/relay"));
    add_relay_entry(&browser, "!192.168.41.7");
    browser.execute(
        "const row = [...document.querySelectorAll('table.entries tr')]
           .find(r => r.textContent.includes('!192.168.41.7'));
         row.querySelector(\"button[formaction='/console/relay/up']\").click();
         return true;",
    );
    browser.wait_for("above");
    browser.click("form[action='/console/relay/save'] button");
    browser.wait_for("<h3>Reload</h3>");
    let rule = ask(&browser, "192.168.41.7", "bob@example.org");
    assert!(rule.contains("!192.168.41.7"), "{rule}");
    assert!(browser.source().contains(r#"<li class="refused">"#));
    browser.shot("relay");

    // A bad entry: its sentence next to the field, the value kept.
    browser.goto(&format!("{base}/console/relay"));
    browser.fill("#add input[name=entry]", "192.168.300.*");
    browser.click("#add button");
    let refused = browser.wait_for("field-error");
    assert!(
        browser.text("#add .field-error").contains("192.168.300.*"),
        "{refused}"
    );

    // Users: add one; it is listed.
    browser.goto(&format!("{base}/console/users"));
    browser.fill("#add-user input[name=name]", "carol");
    browser.fill("#add-user input[name=password]", "carol-pw-12345");
    browser.click("#add-user button");
    browser.wait_for("added user carol");
    browser.shot("users");
    browser.fill("#add-user input[name=name]", "carol");
    browser.fill("#add-user input[name=password]", "carol-pw-12345");
    browser.click("#add-user button");
    browser.wait_for("field-error");
    assert!(browser.text("#add-user .field-error").contains("carol"));

    // Queue: flush.
    browser.goto(&format!("{base}/console/queue"));
    browser.click("form[action='/console/queue/flush'] button");
    browser.wait_for("Flushed");
    browser.shot("queue");

    // Domains: a local domain added is saved and reloaded; a route without
    // its host is refused next to its form.
    browser.goto(&format!("{base}/console/domains"));
    browser.fill(
        "form[action='/console/domains/domain/add'] input[name=name]",
        "new.example",
    );
    browser.click("form[action='/console/domains/domain/add'] button");
    let saved = browser.wait_for("<h3>Reload</h3>");
    assert!(saved.contains(r#"data-domain="new.example""#), "{saved}");
    browser.shot("domains");
    let out = server.cli(&["config", "read", "local_domains"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("new.example"),
        "{}",
        describe(&out)
    );

    // Switches: local_only on, saved and reloaded.
    browser.goto(&format!("{base}/console/relay"));
    browser.click("#switches input[name=local_only]");
    browser.click("#switches button");
    browser.wait_for("relay.local_only");
    let out = server.cli(&["config", "read", "relay.local_only"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("true"),
        "{}",
        describe(&out)
    );

    browser.goto(&format!("{base}/console/decisions"));
    browser.wait_for("<h1>Decisions</h1>");
}

#[test]
fn the_users_screen_finds_a_user_by_part_of_the_name_and_takes_any_page_value() {
    let server = server();
    let cookie = session_cookie(&curl_login(&server, "root", ROOT_PW));
    let get = |path: &str| curl(&server, "GET", path, &["-H", &format!("Cookie: {cookie}")]);
    let all = get("/console/users");
    assert_eq!(all.status, 200, "{all:?}");
    assert!(all.body.contains(r#"data-user="ann""#) && all.body.contains(r#"data-user="root""#));
    assert!(all.body.contains("2 users"), "{}", all.body);
    let found = get("/console/users?q=AN");
    assert!(found.body.contains(r#"data-user="ann""#), "{}", found.body);
    assert!(!found.body.contains(r#"data-user="root""#));
    assert!(found.body.contains("1 user matching"), "{}", found.body);
    // A page that is no number, or past the end, is a page all the same.
    for path in ["/console/users?page=two", "/console/users?page=99"] {
        let page = get(path);
        assert_eq!(page.status, 200, "{path}: {page:?}");
        assert!(page.body.contains(r#"data-user="ann""#), "{path}");
    }
}

#[test]
fn a_long_allow_list_is_shown_a_page_at_a_time() {
    let entries: Vec<String> = (0..250)
        .map(|i| format!("\"10.1.{}.{}\"", i / 100, i % 100))
        .collect();
    let server = server_with(&format!("[relay]\nallow = [{}]\n", entries.join(", ")));
    let cookie = session_cookie(&curl_login(&server, "root", ROOT_PW));
    let get = |path: &str| curl(&server, "GET", path, &["-H", &format!("Cookie: {cookie}")]);
    let first = get("/console/relay");
    assert_eq!(first.status, 200, "{first:?}");
    assert!(first.body.contains(r#"data-entry="10.1.0.0""#));
    assert!(!first.body.contains(r#"data-entry="10.1.2.49""#));
    assert!(
        first.body.contains("Entries 1–200 of 250, page 1 of 2"),
        "{}",
        first.body
    );
    for path in ["/console/relay?page=2", "/console/relay?page=99"] {
        let last = get(path);
        assert!(last.body.contains(r#"data-entry="10.1.2.49""#), "{path}");
        assert!(!last.body.contains(r#"data-entry="10.1.0.0""#), "{path}");
    }
    // The summary still counts the whole list.
    assert!(first.body.contains("250 entries added"), "{}", first.body);
}
