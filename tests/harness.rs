//! Self-tests of the black-box harness (crates/testkit): the DNS stub answers
//! what the zone says, and the reply/message helpers parse what they claim.
//! These run without the server, so a harness bug is never mistaken for a
//! server bug.

use portcullis_testkit as common;

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::time::Duration;

use common::dns::{reverse_name, DnsStub, Zone};
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

fn ask(stub: &DnsStub, name: &str, rtype: RecordType) -> Option<Message> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut q = Message::new(4242, MessageType::Query, OpCode::Query);
    q.metadata.recursion_desired = true;
    q.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    sock.send_to(&q.to_vec().unwrap(), stub.addr).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    Some(Message::from_vec(&buf[..n]).unwrap())
}

#[test]
fn dns_stub_answers_records_nxdomain_servfail_and_silence() {
    let ip: IpAddr = "198.18.7.2".parse().unwrap();
    let stub = DnsStub::start(
        Zone::new()
            .a("Client.Lan.Test", Ipv4Addr::new(198, 18, 7, 2))
            .ptr(ip, "client.lan.test")
            .mx("lan.test", 10, "mx.lan.test")
            .txt("lan.test", &"v=spf1 -all ".repeat(30))
            .servfail("broken.test")
            .silent("slow.test"),
    );
    let a = ask(&stub, "client.lan.test.", RecordType::A).unwrap();
    assert_eq!(a.metadata.id, 4242);
    assert_eq!(a.answers.len(), 1);
    let ptr = ask(&stub, "2.7.18.198.in-addr.arpa.", RecordType::PTR).unwrap();
    assert_eq!(ptr.answers.len(), 1);
    let mx = ask(&stub, "LAN.test.", RecordType::MX).unwrap();
    assert_eq!(mx.answers.len(), 1);
    let txt = ask(&stub, "lan.test.", RecordType::TXT).unwrap();
    let RData::TXT(t) = &txt.answers[0].data else {
        panic!("not a TXT answer: {txt:?}");
    };
    assert_eq!(
        t.txt_data.len(),
        2,
        "a long TXT string is split at 255 octets"
    );
    assert_eq!(t.txt_data.concat(), "v=spf1 -all ".repeat(30).into_bytes());
    let nodata = ask(&stub, "client.lan.test.", RecordType::AAAA).unwrap();
    assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
    assert!(nodata.answers.is_empty());
    let nx = ask(&stub, "nothing.test.", RecordType::A).unwrap();
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    let sf = ask(&stub, "broken.test.", RecordType::MX).unwrap();
    assert_eq!(sf.metadata.response_code, ResponseCode::ServFail);
    assert!(ask(&stub, "slow.test.", RecordType::A).is_none());
    assert_eq!(stub.seen().len(), 8, "{:?}", stub.seen());
}

#[test]
fn reverse_names_follow_rfc_1035_and_3596() {
    assert_eq!(
        reverse_name("127.0.40.7".parse().unwrap()),
        "7.40.0.127.in-addr.arpa"
    );
    let v6 = reverse_name("2001:db8::1".parse().unwrap());
    assert!(v6.starts_with("1.0.0.0.0.0.0.0."), "{v6}");
    assert!(v6.ends_with(".8.b.d.0.1.0.0.2.ip6.arpa"), "{v6}");
}

#[test]
fn delivered_message_splits_into_return_path_received_and_body() {
    let msg = b"Return-Path: <a@b>\r\nReceived: from x ([127.0.0.1])\r\n\tby mx.test with ESMTP id ABC;\r\n Mon, 1 Jan 2024\r\nSubject: hi\r\n\r\nbody\r\n";
    let (rp, received, rest) = common::split_delivered(msg);
    assert_eq!(rp, "Return-Path: <a@b>");
    assert!(received.contains("with ESMTP id ABC;"), "{received}");
    assert_eq!(rest, b"Subject: hi\r\n\r\nbody\r\n");
    assert_eq!(
        common::queue_id("250 2.0.0 Ok: queued as 01HX9Z"),
        Some("01HX9Z".into())
    );
    assert!(common::has_enhanced(
        "550-5.1.1 no\n550 5.1.1 such user",
        "5.1.1"
    ));
    assert_eq!(common::toml_str("a\"b\\c"), "\"a\\\"b\\\\c\"");
}

#[test]
fn client_binds_the_requested_loopback_source_address() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        let (mut s, peer) = listener.accept().unwrap();
        use std::io::Write;
        s.write_all(b"220-mx.test hello\r\n220 ready\r\n").unwrap();
        peer
    });
    let mut c = common::Client::connect_from(Ipv4Addr::new(127, 0, 44, 5), port);
    let (code, text) = c.read_reply();
    assert_eq!(code, 220);
    assert_eq!(text, "220-mx.test hello\n220 ready");
    assert_eq!(
        t.join().unwrap().ip(),
        IpAddr::V4(Ipv4Addr::new(127, 0, 44, 5))
    );
}
