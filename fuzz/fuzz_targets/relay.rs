//! Fuzz target `relay`: see `portcullis_fuzz::checks::relay` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    portcullis_fuzz::checks::relay::check(data);
});
