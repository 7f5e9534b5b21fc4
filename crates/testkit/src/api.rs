//! A client of the admin JSON API for the tests: `curl` over HTTPS (a
//! plain HTTP client independent of the server's own code), from any
//! 127.x.y.z source address, with or without HTTP Basic credentials.

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;

use crate::run_with_timeout;

/// Where and as whom to call the API.
#[derive(Clone, Debug)]
pub struct Api {
    port: u16,
    user: Option<(String, String)>,
    from: Ipv4Addr,
}

/// One answer.
#[derive(Clone, Debug)]
pub struct ApiReply {
    /// The HTTP status (0: no HTTP answer at all).
    pub status: u16,
    /// The response head, lines as received.
    pub head: String,
    /// The response body.
    pub body: String,
}

impl ApiReply {
    /// The body as JSON (panics, showing it, if it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }

    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }

    /// The `error` sentence of a refusal.
    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no \"error\" in {} {}", self.status, self.body))
            .to_string()
    }
}

impl Api {
    /// The API on `127.0.0.1:port`, without credentials, from 127.0.0.1.
    pub fn new(port: u16) -> Api {
        Api {
            port,
            user: None,
            from: Ipv4Addr::LOCALHOST,
        }
    }

    /// With HTTP Basic credentials.
    pub fn user(mut self, name: &str, password: &str) -> Api {
        self.user = Some((name.to_string(), password.to_string()));
        self
    }

    /// From another loopback source address.
    pub fn from(mut self, src: Ipv4Addr) -> Api {
        self.from = src;
        self
    }

    /// `GET /api/v1/<path>`.
    pub fn get(&self, path: &str) -> ApiReply {
        self.call("GET", path, None)
    }

    /// `method /api/v1/<path>` with an optional JSON body.
    pub fn call(&self, method: &str, path: &str, body: Option<&str>) -> ApiReply {
        let url = format!("https://127.0.0.1:{}/api/v1/{path}", self.port);
        let mut args = self.curl_args(method);
        if let Some(body) = body {
            args.extend(["-H".into(), "content-type: application/json".into()]);
            args.extend(["--data-binary".into(), body.to_string()]);
        }
        args.push(url);
        self.run(args)
    }

    /// Runs curl with `extra` arguments (e.g. a plain-HTTP URL or a cookie).
    pub fn raw(&self, method: &str, extra: &[&str]) -> ApiReply {
        let mut args = self.curl_args(method);
        args.extend(extra.iter().map(|s| s.to_string()));
        self.run(args)
    }

    fn curl_args(&self, method: &str) -> Vec<String> {
        // -k: the server's certificate is self-signed in the tests.
        let mut args: Vec<String> = ["-sk", "--max-time", "20", "-D", "-", "-X", method]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(["--interface".into(), self.from.to_string()]);
        args.extend(["-w".into(), "\n%{http_code}".into()]);
        if let Some((name, password)) = &self.user {
            args.extend(["-u".into(), format!("{name}:{password}")]);
        }
        args
    }

    fn run(&self, args: Vec<String>) -> ApiReply {
        let mut cmd = Command::new("curl");
        cmd.args(&args);
        let (_, out) = run_with_timeout(&mut cmd, Duration::from_secs(30));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (rest, code) = text.rsplit_once('\n').unwrap_or(("", text.as_str()));
        let status = code.trim().parse().unwrap_or(0);
        let (head, body) = rest.split_once("\r\n\r\n").unwrap_or((rest, ""));
        ApiReply {
            status,
            head: head.to_string(),
            body: body.to_string(),
        }
    }
}
