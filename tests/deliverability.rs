//! docs/deliverability.md, run as written: every ```console block is a
//! transcript (the notation of tests/readme.rs: `$ command` lines run with
//! `sh -c` and the built binary first on the PATH, `[..]` for any text
//! within a line, a line `...` for any lines, `[exit N]`). The scratch
//! site is the page's: `mail.example.com` serving `example.com`, with a
//! running `portcullis serve`, a loopback DNS stub, and `example.net`
//! routed to a test sink, where the message of the last step must arrive
//! signed with both keys the page generated.

use portcullis_testkit as common;

use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

use common::sink::{Script, Sink};
use common::transcript::{console_steps, run_step, serve};
use common::{free_port, show, DnsStub, Zone};

#[test]
fn the_deliverability_walkthrough_runs_as_written_and_ends_in_a_signed_message() {
    let doc_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/deliverability.md");
    let doc = fs::read_to_string(&doc_path).expect("read docs/deliverability.md");
    let steps = console_steps(&doc);
    assert!(
        steps.len() >= 5,
        "the page lost its examples: {:?}",
        steps.iter().map(|s| &s.command).collect::<Vec<_>>()
    );

    let sink = Sink::start(IpAddr::V4(Ipv4Addr::LOCALHOST), Script::default());
    let dir = tempfile::tempdir().unwrap();
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let dns = DnsStub::start(Zone::new());
    fs::write(
        dir.path().join("portcullis.toml"),
        format!(
            "hostname = \"mail.example.com\"\nlocal_domains = [\"example.com\"]\n\n\
             [listen]\nsmtp = [\"127.0.0.1:{}\"]\nsubmission = [\"127.0.0.1:{}\"]\n\
             submissions = [\"127.0.0.1:{}\"]\n\n[dns]\nnameservers = [\"{}\"]\n\n\
             [relay]\nallow = [\"127.0.0.1\"]\n\n[routes]\n\"example.net\" = \"{}\"\n",
            free_port(lo),
            free_port(lo),
            free_port(lo),
            dns.addr,
            sink.addr
        ),
    )
    .unwrap();
    let serve_log = dir.path().join("serve.log");
    let _server = serve(dir.path());
    for step in &steps {
        run_step("docs/deliverability.md", step, &step.command, dir.path());
    }

    let got = sink.wait_for(1, Duration::from_secs(20));
    assert_eq!(
        got.len(),
        1,
        "the signed message did not arrive\n{}",
        fs::read_to_string(&serve_log).unwrap_or_default()
    );
    let text = show(&got[0].data);
    assert_eq!(text.matches("DKIM-Signature:").count(), 2, "{text}");
    for want in [
        "a=ed25519-sha256; s=ed2026; d=example.com",
        "a=rsa-sha256; s=rsa2026; d=example.com",
    ] {
        assert!(text.contains(want), "no {want}: {text}");
    }
}
