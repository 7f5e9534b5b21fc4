//! The steps an admin takes in the console, in a real browser: log in, add
//! a relay entry (preview, then save). Shared by the console's tests.

use crate::browser::Browser;

/// Opens the console at `base` (`https://127.0.0.1:PORT`) and logs in.
pub fn log_in(browser: &Browser, base: &str, user: &str, password: &str) {
    browser.goto(&format!("{base}/console/login"));
    browser.fill("input[name=user]", user);
    browser.fill("input[name=password]", password);
    browser.click("form button");
    browser.wait_for("Relay grants");
}

/// On the Relay screen: types `entry` into the add field, previews it and
/// saves it; returns the page after the reload.
pub fn add_relay_entry(browser: &Browser, entry: &str) -> String {
    browser.fill("#add input[name=entry]", entry);
    browser.click("#add button");
    browser.wait_for("/console/relay/save");
    browser.click("form[action='/console/relay/save'] button");
    browser.wait_for("<h3>Reload</h3>")
}
