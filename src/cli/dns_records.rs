//! `portcullis dns-records [DOMAIN]`: the records of
//! [`admin::dns_records`], one block per domain.

use std::path::Path;

use portcullis_server::admin;

use super::output::say;
use super::Failure;

pub(super) fn run(config: &Path, domain: Option<String>) -> Result<(), Failure> {
    let all = admin::dns_records::dns_records(config, domain.as_deref())?;
    for (i, d) in all.iter().enumerate() {
        if i > 0 {
            say!("")?;
        }
        for line in &d.lines {
            say!("{line}")?;
        }
    }
    Ok(())
}
