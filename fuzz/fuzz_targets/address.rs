//! Fuzz target `address`: see `portcullis_fuzz::checks::address` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    portcullis_fuzz::checks::address::check(data);
});
