//! Fuzz target `session`: see `portcullis_fuzz::checks::session` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    portcullis_fuzz::checks::session::check(data);
});
