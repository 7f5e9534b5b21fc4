//! A real browser for the console's tests: Debian's headless Chromium,
//! driven over WebDriver by a private `chromedriver` on a free loopback
//! port, with a throw-away profile. The calls are blocking (each runs on a
//! small runtime of its own), so a test reads like the steps an admin takes.
//!
//! The console's certificate is self-signed, so the session accepts it;
//! nothing else about the browser is relaxed.

use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

/// How long one step (a page load, finding an element) may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// Where Debian puts them (`chromium`, `chromium-driver`).
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A headless Chromium session; the driver is stopped when it is dropped.
pub struct Browser {
    client: Client,
    runtime: tokio::runtime::Runtime,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and opens a headless session, or panics saying
    /// what is missing.
    pub fn start() -> Browser {
        for path in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: install Debian's chromium and chromium-driver (.ci/run does)"
            );
        }
        let port = crate::free_port(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        wait_for_port(port);
        let profile = tempfile::tempdir().expect("browser profile dir");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("browser runtime");
        let caps = capabilities(profile.path());
        let client = runtime
            .block_on(
                ClientBuilder::new(HttpConnector::new())
                    .capabilities(caps)
                    .connect(&format!("http://127.0.0.1:{port}")),
            )
            .expect("open a Chromium session through chromedriver");
        Browser {
            client,
            runtime,
            driver,
            _profile: profile,
        }
    }

    /// Opens `url` and waits for it to load.
    pub fn goto(&self, url: &str) {
        self.run(self.client.goto(url))
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// The page's current address.
    pub fn url(&self) -> String {
        self.run(self.client.current_url())
            .expect("current url")
            .to_string()
    }

    /// The whole page's HTML as the browser has it now.
    pub fn source(&self) -> String {
        self.run(self.client.source()).expect("page source")
    }

    /// The visible text of the first element matching `css`, waiting for it.
    pub fn text(&self, css: &str) -> String {
        let element = self.find(css);
        self.run(element.text())
            .unwrap_or_else(|e| panic!("text of {css}: {e}"))
    }

    /// Types `value` into the field matching `css`, replacing what it held.
    pub fn fill(&self, css: &str, value: &str) {
        let element = self.find(css);
        self.run(async {
            element.clear().await?;
            element.send_keys(value).await
        })
        .unwrap_or_else(|e| panic!("fill {css}: {e}"));
    }

    /// Clicks the element matching `css`.
    pub fn click(&self, css: &str) {
        let element = self.find(css);
        self.run(element.click())
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Runs `script` in the page and returns what it returns.
    pub fn execute(&self, script: &str) -> serde_json::Value {
        self.run(self.client.execute(script, Vec::new()))
            .unwrap_or_else(|e| panic!("run script: {e}"))
    }

    /// Saves a PNG of the window to `path`.
    pub fn screenshot(&self, path: &Path) {
        let png = self.run(self.client.screenshot()).expect("screenshot");
        std::fs::write(path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Waits until the page's HTML contains `needle`, and returns it.
    pub fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let source = self.source();
            if source.contains(needle) {
                return source;
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} on {}:\n{source}",
                self.url()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Saves the window as docs/console/NAME.png when the run asks for
    /// screenshots (`PORTCULLIS_SCREENSHOTS=1`).
    pub fn shot(&self, name: &str) {
        if std::env::var_os("PORTCULLIS_SCREENSHOTS").is_none() {
            return;
        }
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/console");
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        self.screenshot(&dir.join(format!("{name}.png")));
    }

    /// Whether the checkbox matching `css` is ticked.
    pub fn is_checked(&self, css: &str) -> bool {
        let element = self.find(css);
        self.run(element.prop("checked"))
            .unwrap_or_else(|e| panic!("checked of {css}: {e}"))
            .as_deref()
            == Some("true")
    }

    /// Ticks or unticks the checkbox matching `css`, by clicking it as a
    /// user would.
    pub fn set_checked(&self, css: &str, on: bool) {
        if self.is_checked(css) != on {
            self.click(css);
        }
    }

    fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.run(
            self.client
                .wait()
                .at_most(STEP_TIMEOUT)
                .for_element(Locator::Css(css)),
        )
        .unwrap_or_else(|e| panic!("no element {css} on {}: {e}", self.url()))
    }

    fn run<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(async {
            tokio::time::timeout(STEP_TIMEOUT, future)
                .await
                .expect("a browser step took too long")
        })
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let client = self.client.clone();
        let _ = self.run(client.close());
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Headless Chromium with a private profile, a fixed window (for
/// screenshots) and the console's self-signed certificate accepted.
fn capabilities(profile: &Path) -> serde_json::Map<String, serde_json::Value> {
    let args = [
        "--headless=new".to_string(),
        "--no-sandbox".to_string(),
        "--disable-gpu".to_string(),
        "--disable-dev-shm-usage".to_string(),
        "--window-size=1280,900".to_string(),
        format!("--user-data-dir={}", profile.display()),
    ];
    let caps = serde_json::json!({
        "browserName": "chrome",
        "acceptInsecureCerts": true,
        "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
    });
    match caps {
        serde_json::Value::Object(map) => map,
        _ => unreachable!("a JSON object literal"),
    }
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + STEP_TIMEOUT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
