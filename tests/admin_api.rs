//! The JSON admin API over HTTPS (`[admin] listen`), spoken by curl: every
//! endpoint, its errors and its authentication. The API is a thin adapter
//! over the admin API the command line uses, so its answers are compared
//! with the command line's where both exist.

use portcullis_testkit as common;

use std::net::Ipv4Addr;

use common::api::{Api, ApiReply};
use common::{describe, server_with_queued_remote, Server, Setup};

const ROOT_PW: &str = "root-pw-12345";

/// A server with an admin `root` and a plain user `ann`.
fn server(extra_toml: &str) -> Server {
    let setup = Setup::new(extra_toml);
    add_user(&setup, "root", ROOT_PW, true);
    add_user(&setup, "ann", "ann-pw-12345", false);
    setup.start()
}

fn add_user(setup: &Setup, name: &str, password: &str, admin: bool) {
    let mut args = vec!["user", "add", name, "--password-stdin"];
    if admin {
        args.push("--admin");
    }
    let out = setup.cli_stdin(&args, Some(&format!("{password}\n")));
    assert!(out.status.success(), "{}", describe(&out));
}

fn root(server: &Server) -> Api {
    Api::new(server.admin_port).user("root", ROOT_PW)
}

fn ok(reply: ApiReply) -> serde_json::Value {
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.json()
}

#[test]
fn credentials_are_http_basic_of_an_admin_and_never_a_cookie() {
    let server = server("");
    let anon = Api::new(server.admin_port);
    for (method, path) in [
        ("GET", "status"),
        ("GET", "config"),
        ("PUT", "config/relay.allow"),
        ("POST", "check-relay"),
        ("GET", "users"),
        ("DELETE", "users/ann"),
        ("POST", "queue/flush"),
        ("POST", "reload"),
        ("GET", "decisions"),
    ] {
        let reply = anon.call(method, path, Some("{}"));
        assert_eq!(reply.status, 401, "{method} {path}: {reply:?}");
        assert_eq!(
            reply.header("www-authenticate").as_deref(),
            Some("Basic realm=\"portcullis\", charset=\"UTF-8\""),
            "{reply:?}"
        );
        assert!(reply.error().contains("HTTP Basic"), "{reply:?}");
    }
    // A wrong password, an unknown user: 401; a user without the right: 403.
    let wrong = Api::new(server.admin_port)
        .user("root", "nope")
        .get("status");
    assert_eq!(wrong.status, 401, "{wrong:?}");
    assert_eq!(wrong.error(), "wrong user name or password for \"root\"");
    let nobody = Api::new(server.admin_port)
        .user("nobody", "x")
        .get("status");
    assert_eq!(nobody.status, 401, "{nobody:?}");
    let ann = Api::new(server.admin_port)
        .user("ann", "ann-pw-12345")
        .get("status");
    assert_eq!(ann.status, 403, "{ann:?}");
    assert!(
        ann.error()
            .contains("\"ann\" does not have the admin right"),
        "{ann:?}"
    );
    // A cookie is no credential.
    let url = format!("https://127.0.0.1:{}/api/v1/status", server.admin_port);
    let cookie = anon.raw("GET", &["-b", "__Host-portcullis=abc", &url]);
    assert_eq!(cookie.status, 401, "{cookie:?}");
    // The right, granted on the command line, holds at once.
    let out = server.cli(&["user", "admin", "ann", "on"]);
    assert!(out.status.success(), "{}", describe(&out));
    let ann = Api::new(server.admin_port)
        .user("ann", "ann-pw-12345")
        .get("status");
    assert_eq!(ann.status, 200, "{ann:?}");
    // Plain HTTP gets no answer: HTTPS only.
    let plain = anon.raw("GET", &[&url.replace("https:", "http:")]);
    assert_eq!(plain.status, 0, "{plain:?}");
    // Answers are not cached; unknown endpoints are 404 with a sentence.
    let status = root(&server).get("status");
    assert_eq!(status.header("cache-control").as_deref(), Some("no-store"));
    let unknown = root(&server).get("nonsense");
    assert_eq!(unknown.status, 404, "{unknown:?}");
    assert_eq!(unknown.error(), "no such endpoint: GET /api/v1/nonsense");
}

#[test]
fn the_certificate_is_the_servers_own() {
    let server = server("");
    let cert = server.data_dir.join("tls/cert.pem");
    let url = format!("https://mx.test:{}/api/v1/status", server.admin_port);
    let resolve = format!("mx.test:{}:127.0.0.1", server.admin_port);
    let reply = root(&server).raw(
        "GET",
        &[
            "--cacert",
            cert.to_str().unwrap(),
            "--resolve",
            &resolve,
            "--no-insecure",
            &url,
        ],
    );
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[test]
fn wrong_passwords_count_toward_the_smtp_auth_ban() {
    // 127.0.0.9 is not in relay.allow, so it is not exempt from bans.
    let server = server("[auth]\ndelay_after = 10\nban_after = 3\n");
    let from = Ipv4Addr::new(127, 0, 0, 9);
    let guess = Api::new(server.admin_port).user("root", "guess").from(from);
    for _ in 0..3 {
        assert_eq!(guess.get("status").status, 401);
    }
    let banned = root(&server).from(from).get("status");
    assert_eq!(banned.status, 429, "{banned:?}");
    assert!(banned.error().contains("127.0.0.9 is banned"), "{banned:?}");
    // The ban is the SMTP one: status lists it, and SMTP refuses the address.
    let status = ok(root(&server).get("status"));
    assert_eq!(status["auth_bans"][0]["client"], "127.0.0.9", "{status}");
    let mut smtp = common::Client::connect_from(from, server.smtp_port);
    assert_eq!(smtp.read_reply().0, 421);
}

#[test]
fn relay_entries_changed_through_the_api_decide_at_once() {
    let server = server("");
    let api = root(&server);
    // The seed's octet range, appended; check-relay answers as the CLI does.
    let added = ok(api.call(
        "POST",
        "config/relay.allow/add",
        Some(r#"{"values": ["192.168.40-43.*"]}"#),
    ));
    assert_eq!(added["after"], "127.0.0.1 192.168.40-43.*", "{added}");
    assert!(
        added["reload"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap() == "relay list: 2 entries added, 0 skipped"),
        "{added}"
    );
    let question = r#"{"client": "192.168.41.7", "auth": null, "recipients": ["bob@example.org"]}"#;
    let verdicts = ok(api.call("POST", "check-relay", Some(question)));
    assert_eq!(verdicts[0]["kind"], "relay_allowed", "{verdicts}");
    assert_eq!(
        verdicts[0]["rule"], "allow:\"192.168.40-43.*\"",
        "{verdicts}"
    );
    let cli = server.cli(&[
        "check-relay",
        "--json",
        "--client",
        "192.168.41.7",
        "bob@example.org",
    ]);
    let cli: serde_json::Value = serde_json::from_slice(&cli.stdout).expect("check-relay --json");
    assert_eq!(verdicts, cli);

    // A real client from 127.0.0.5: denied, then allowed once the API adds it.
    let from = Ipv4Addr::new(127, 0, 0, 5);
    let rcpt = |server: &Server| {
        let mut c = server.ehlo_from(from);
        c.expect("MAIL FROM:<a@local.test>", 250);
        let (code, _) = c.cmd("RCPT TO:<bob@example.org>");
        c.quit_collect();
        code
    };
    assert_eq!(rcpt(&server), 554);
    let set = ok(api.call(
        "PUT",
        "config/relay.allow",
        Some(r#"{"values": ["127.0.0.1", "127.0.0.5"]}"#),
    ));
    assert_eq!(set["before"], "127.0.0.1 192.168.40-43.*", "{set}");
    assert_eq!(rcpt(&server), 250, "{}", server.log());
    let removed = ok(api.call(
        "POST",
        "config/relay.allow/remove",
        Some(r#"{"values": ["127.0.0.5"]}"#),
    ));
    assert_eq!(removed["after"], "127.0.0.1", "{removed}");
    assert_eq!(rcpt(&server), 554);

    // The decisions, newest first, with their rules.
    let latest = ok(api.get("decisions?limit=2"));
    assert_eq!(latest.as_array().unwrap().len(), 2, "{latest}");
    assert_eq!(latest[0]["client"], "127.0.0.5");
    assert_eq!(latest[0]["decision"], "denied");
    assert_eq!(latest[1]["decision"], "granted");
    assert_eq!(latest[1]["rule"], "allow:\"127.0.0.5\"", "{latest}");
    assert_eq!(latest[1]["recipient"], "bob@example.org");
    assert!(latest[1]["time"].as_u64().unwrap() > 1_700_000_000);
    // Every change is logged with the admin, the change and the client.
    let log = server.log();
    let line = log
        .lines()
        .find(|l| l.contains("config set relay.allow 127.0.0.1 127.0.0.5"))
        .unwrap_or_else(|| panic!("no change logged:\n{log}"));
    assert!(
        line.contains("admin=root") && line.contains("client=127.0.0.1"),
        "{line}"
    );
}

#[test]
fn bad_input_is_400_with_one_sentence_naming_the_value() {
    let server = server("");
    let api = root(&server);
    let before = std::fs::read_to_string(&server.config_path).unwrap();
    let cases: &[(&str, &str, Option<&str>, &str)] = &[
        (
            "PUT",
            "config/relay.allow",
            Some("not json"),
            "the request body is not the JSON",
        ),
        (
            "PUT",
            "config/relay.allow",
            Some(r#"{"value": ["x"]}"#),
            "unknown field `value`",
        ),
        (
            "POST",
            "config/relay.allow/add",
            Some(r#"{"values": ["192.168.300.*"]}"#),
            "invalid relay.allow entry \"192.168.300.*\": octet 300 is over 255",
        ),
        (
            "PUT",
            "config/relay.alow",
            Some(r#"{"values": ["x"]}"#),
            "relay.alow",
        ),
        (
            "PUT",
            "config/limits.recipients",
            Some(r#"{"values": ["many"]}"#),
            "\"many\"",
        ),
        ("GET", "config/nonsense.key", None, "nonsense.key"),
        (
            "POST",
            "check-relay",
            Some(r#"{"client": "not-an-ip", "auth": null, "recipients": ["a@b.test"]}"#),
            "\"not-an-ip\" is not an IP address",
        ),
        (
            "POST",
            "check-relay",
            Some(r#"{"client": "10.0.0.1", "auth": null, "recipients": ["no at sign"]}"#),
            "recipient \"no at sign\" is not a valid address",
        ),
        (
            "POST",
            "users",
            Some(r#"{"name": "../x", "password": "long-enough-1"}"#),
            "\"../x\"",
        ),
        (
            "POST",
            "users",
            Some(r#"{"name": "bo", "password": "short"}"#),
            "8",
        ),
        (
            "POST",
            "users",
            Some(r#"{"name": "ann", "password": "long-enough-1"}"#),
            "\"ann\" already exists",
        ),
        ("DELETE", "queue/not%20an%20id", None, "is not a queue id"),
        (
            "GET",
            "decisions?limit=0",
            None,
            "limit \"0\" is not a whole number from 1 to 1000",
        ),
        ("GET", "decisions?limit=lots", None, "limit \"lots\""),
    ];
    for (method, path, body, needle) in cases {
        let reply = api.call(method, path, *body);
        assert_eq!(reply.status, 400, "{method} {path}: {reply:?}");
        let sentence = reply.error();
        assert!(
            sentence.contains(needle),
            "{method} {path}: {sentence:?} lacks {needle:?}"
        );
        assert!(!sentence.contains('\n'), "{sentence:?}");
    }
    assert_eq!(
        std::fs::read_to_string(&server.config_path).unwrap(),
        before
    );
    // Unknown names are 404.
    let gone = api.call("DELETE", "users/nobody", None);
    assert_eq!(gone.status, 404, "{gone:?}");
    assert_eq!(gone.error(), "no such user \"nobody\"");
    let gone = api.call("DELETE", "queue/ZZZZ9999", None);
    assert_eq!(gone.status, 404, "{gone:?}");
}

#[test]
fn config_reads_and_settings_apply_at_once() {
    let server = server("");
    let api = root(&server);
    let all = ok(api.get("config"));
    let keys: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert!(
        keys.contains(&"relay.allow") && keys.contains(&"admin.listen"),
        "{all}"
    );
    let one = ok(api.get("config/limits.recipients"));
    assert_eq!(
        one,
        serde_json::json!([{"key": "limits.recipients", "value": "100"}])
    );
    let set = ok(api.call(
        "PUT",
        "config/limits.recipients",
        Some(r#"{"values": ["2"]}"#),
    ));
    assert_eq!(
        (set["before"].as_str(), set["after"].as_str()),
        (Some("100"), Some("2"))
    );
    assert_eq!(ok(api.get("config/limits.recipients"))[0]["value"], "2");
    // In force without a separate reload: a third recipient is refused.
    let mut c = server.ehlo_from(Ipv4Addr::LOCALHOST);
    c.expect("MAIL FROM:<a@local.test>", 250);
    c.expect("RCPT TO:<root@local.test>", 250);
    c.expect("RCPT TO:<ann@local.test>", 250);
    assert_eq!(c.cmd("RCPT TO:<postmaster@local.test>").0, 452);
    c.quit_collect();
    // A whole section reads too.
    let relay = ok(api.get("config/relay"));
    assert!(relay.as_array().unwrap().len() >= 4, "{relay}");
}

#[test]
fn users_are_listed_added_and_removed() {
    let server = server("");
    let api = root(&server);
    let users = ok(api.get("users"));
    assert_eq!(
        users,
        serde_json::json!([{"name": "ann", "admin": false}, {"name": "root", "admin": true}])
    );
    let added = api.call(
        "POST",
        "users",
        Some(r#"{"name": "Carol", "password": "carol-pw-123", "admin": true}"#),
    );
    assert_eq!(added.status, 201, "{added:?}");
    assert_eq!(added.json()["name"], "carol");
    let carol = Api::new(server.admin_port).user("carol", "carol-pw-123");
    assert_eq!(carol.get("status").status, 200);
    let out = server.cli(&["user", "list"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ann\ncarol (admin)\nroot (admin)\n"
    );
    let removed = ok(api.call("DELETE", "users/carol", None));
    assert_eq!(removed["name"], "carol");
    assert_eq!(carol.get("status").status, 401);
    assert!(
        server.log().contains("user remove carol"),
        "{}",
        server.log()
    );
}

#[test]
fn the_queue_is_listed_flushed_and_deleted() {
    let (server, id) = server_with_queued_remote(b"Subject: q\r\n\r\nqueued\r\n");
    add_user(&server, "root", ROOT_PW, true);
    let api = root(&server);
    let queue = ok(api.get("queue"));
    assert_eq!(queue[0]["envelope"]["id"], id.as_str(), "{queue}");
    let flushed = ok(api.call("POST", "queue/flush", None));
    assert_eq!(flushed["flushed"]["queued"], 1, "{flushed}");
    let deleted = ok(api.call("DELETE", &format!("queue/{id}"), None));
    assert_eq!(deleted["deleted"], id.as_str(), "{deleted}");
    assert_eq!(ok(api.get("queue")), serde_json::json!([]));
    assert_eq!(api.call("DELETE", &format!("queue/{id}"), None).status, 404);
}

#[test]
fn status_and_reload() {
    let server = server("");
    let api = root(&server);
    let status = ok(api.get("status"));
    assert_eq!(status["listeners"][0]["role"], "smtp", "{status}");
    assert!(status["uptime_secs"].is_u64(), "{status}");
    let report = ok(api.call("POST", "reload", None));
    let lines = report["lines"].as_array().unwrap();
    assert!(!lines.is_empty(), "{report}");
    // A file the server would refuse: 409, the old one stays.
    let text = std::fs::read_to_string(&server.config_path).unwrap();
    std::fs::write(
        &server.config_path,
        format!("{text}\n[limits]\nrecipients = -1\n"),
    )
    .unwrap();
    let refused = api.call("POST", "reload", None);
    assert_eq!(refused.status, 409, "{refused:?}");
    assert!(refused.error().contains("limits.recipients"), "{refused:?}");
    std::fs::write(&server.config_path, text).unwrap();
    // SIGHUP-style reloads keep the API up, and `[]` turns it off.
    let set = ok(api.call("PUT", "config/admin.listen", Some(r#"{"values": []}"#)));
    assert!(
        set["reload"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().starts_with("closed listener")),
        "{set}"
    );
    assert_eq!(api.get("status").status, 0);
}

/// docs/api.md's ```console blocks, run as written (as tests/readme.rs runs
/// the README's) against a server whose ports replace the examples'.
#[test]
fn the_curl_examples_of_docs_api_md_print_what_they_show() {
    use common::transcript::{console_steps, run_step, serve};
    use std::net::IpAddr;

    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/api.md"),
    )
    .expect("read docs/api.md");
    let steps = console_steps(&doc);
    let endpoints = [
        "/status",
        "/config/",
        "/check-relay",
        "/users",
        "/queue",
        "/reload",
        "/decisions",
    ];
    for endpoint in endpoints {
        assert!(
            steps.iter().any(|s| s.command.contains(endpoint)),
            "docs/api.md has no example of {endpoint}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let ports = [
        ("2525", common::free_port(lo)),
        ("2587", common::free_port(lo)),
        ("2465", common::free_port(lo)),
        ("2580", common::free_port(lo)),
    ];
    let dns = common::DnsStub::start(common::Zone::new());
    std::fs::write(
        dir.path().join("portcullis.toml"),
        format!(
            "hostname = \"mail.example.com\"\n\n[listen]\nsmtp = [\"127.0.0.1:{}\"]\n\
             submission = [\"127.0.0.1:{}\"]\nsubmissions = [\"127.0.0.1:{}\"]\n\n\
             [admin]\nlisten = [\"127.0.0.1:{}\"]\n\n[dns]\nnameservers = [\"{}\"]\n\n\
             [relay]\nallow = [\"127.0.0.1\"]\n",
            ports[0].1, ports[1].1, ports[2].1, ports[3].1, dns.addr
        ),
    )
    .unwrap();
    let _server = serve(dir.path());
    for step in &steps {
        let mut command = step.command.clone();
        for (default, port) in ports {
            command = command.replace(
                &format!("127.0.0.1:{default}"),
                &format!("127.0.0.1:{port}"),
            );
        }
        run_step("docs/api.md", step, &command, dir.path());
    }
}

/// A certificate for `mx.test` written as the PEM pair `cert`, `key`.
fn write_cert(cert: &std::path::Path, key: &std::path::Path) {
    let key_pair = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["mx.test".to_string()]).unwrap();
    std::fs::write(cert, params.self_signed(&key_pair).unwrap().pem()).unwrap();
    std::fs::write(key, key_pair.serialize_pem()).unwrap();
}

/// `GET status` verified against `cert` as the only trust anchor.
fn status_trusting(server: &Server, cert: &std::path::Path) -> u16 {
    let url = format!("https://mx.test:{}/api/v1/status", server.admin_port);
    let resolve = format!("mx.test:{}:127.0.0.1", server.admin_port);
    let args = [
        "--cacert",
        cert.to_str().unwrap(),
        "--resolve",
        &resolve,
        "--no-insecure",
        &url,
    ];
    root(server).raw("GET", &args).status
}

#[test]
fn a_renewed_certificate_is_served_after_sighup() {
    let setup = Setup::new("");
    let (cert, key) = (
        setup.dir().join("fullchain.pem"),
        setup.dir().join("privkey.pem"),
    );
    let first = setup.dir().join("first.pem");
    write_cert(&cert, &key);
    std::fs::copy(&cert, &first).unwrap();
    let setup = Setup::new(&format!(
        "[tls]\ncert = {}\nkey = {}\n",
        common::toml_str(&cert.to_string_lossy()),
        common::toml_str(&key.to_string_lossy())
    ));
    add_user(&setup, "root", ROOT_PW, true);
    let server = setup.start();
    assert_eq!(status_trusting(&server, &first), 200, "{}", server.log());
    // Renewed in place (as certbot does), then SIGHUP, as for SMTP.
    write_cert(&cert, &key);
    let pid = std::fs::read_to_string(server.data_dir.join("portcullis.pid")).unwrap();
    let kill = std::process::Command::new("kill")
        .args(["-HUP", pid.trim()])
        .status();
    assert!(kill.expect("run kill").success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while status_trusting(&server, &cert) != 200 {
        assert!(std::time::Instant::now() < deadline, "{}", server.log());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(
        status_trusting(&server, &first),
        0,
        "the old certificate is still served"
    );
}

#[test]
fn a_taken_admin_port_leaves_the_mail_running_and_says_so() {
    let setup = Setup::new("");
    let taken = std::net::TcpListener::bind(("127.0.0.1", setup.admin_port)).unwrap();
    let server = setup.start();
    let log = server.log();
    let sentence = format!(
        "cannot listen on 127.0.0.1:{} (admin.listen)",
        server.admin_port
    );
    assert!(log.contains(&sentence), "{log}");
    let mut c = server.ehlo_from(Ipv4Addr::LOCALHOST);
    c.quit_collect();
    // Once the port is free, a reload binds it.
    drop(taken);
    let out = server.cli(&["reload"]);
    let report = String::from_utf8_lossy(&out.stdout);
    let listening = format!("listening on 127.0.0.1:{} (admin)", server.admin_port);
    assert!(report.contains(&listening), "{}", describe(&out));
}

#[test]
fn shutdown_does_not_wait_for_idle_api_connections() {
    let mut server = server("");
    assert_eq!(root(&server).get("status").status, 200);
    // A client that connected and said nothing (not even its TLS hello).
    let _idle = std::net::TcpStream::connect(("127.0.0.1", server.admin_port)).unwrap();
    let started = std::time::Instant::now();
    let status = server.stop();
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
}
