//! Fuzz target `envelope`: see `portcullis_fuzz::checks::envelope` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    portcullis_fuzz::checks::envelope::check(data);
});
