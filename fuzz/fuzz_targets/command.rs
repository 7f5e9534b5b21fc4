//! Fuzz target `command`: see `portcullis_fuzz::checks::command` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    portcullis_fuzz::checks::command::check(data);
});
